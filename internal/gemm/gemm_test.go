package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// naive computes C = alpha*op(A)*op(B) + beta*C in float64 and also
// returns, per element, the magnitude sum used to bound rounding error.
func naive[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for l := 0; l < k; l++ {
				var av, bv float64
				if transA {
					av = float64(a[l*lda+i])
				} else {
					av = float64(a[i*lda+l])
				}
				if transB {
					bv = float64(b[j*ldb+l])
				} else {
					bv = float64(b[l*ldb+j])
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			v := float64(alpha) * s
			sa *= math.Abs(float64(alpha))
			if beta != 0 {
				cv := float64(c[i*ldc+j])
				v += float64(beta) * cv
				sa += math.Abs(float64(beta) * cv)
			}
			want[i*n+j] = v
			mag[i*n+j] = sa
		}
	}
	return want, mag
}

func randSlice[T float32 | float64](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.Float64()*2 - 1)
	}
	return s
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // extra elements per row of every stored matrix
	alpha, beta    float64
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,pad=%d,alpha=%g,beta=%g",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.pad, tc.alpha, tc.beta)
}

// checkCase runs one case and compares against the float64 reference.
// poisonWorkspaces fills the idle packing buffers with NaN: what packing
// leaves unwritten (the rows and columns of a ragged panel past the
// matrix) must not reach C.
func poisonWorkspaces[T float32 | float64]() {
	var ws []*workspace[T]
	for {
		w := (*workspace[T])(freeWorkspaces[poolIndex[T]()].get())
		if w == nil {
			break
		}
		ws = append(ws, w)
	}
	for _, w := range ws {
		for _, buf := range [][]T{w.ap, w.bp, w.tile} {
			for i := range buf {
				buf[i] = T(math.NaN())
			}
		}
		putWorkspace(w)
	}
}

func checkCase[T float32 | float64](t *testing.T, r *rand.Rand, tc gemmCase, eps float64) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := max(1, ac+tc.pad), max(1, bc+tc.pad), max(1, tc.n+tc.pad)
	a := randSlice[T](r, need(ar, ac, lda))
	b := randSlice[T](r, need(br, bc, ldb))
	c := randSlice[T](r, need(tc.m, tc.n, ldc))
	// Elements between rows must never be read: poison them.
	poisonPadding(a, ac, lda)
	poisonPadding(b, bc, ldb)
	if tc.beta == 0 {
		// C must not be read: poison it.
		for i := range c {
			c[i] = T(math.NaN())
		}
	}
	orig := append([]T(nil), c...)
	alpha, beta := T(tc.alpha), T(tc.beta)
	poisonWorkspaces[T]()
	want, mag := naive(tc.transA, tc.transB, tc.m, tc.n, tc.k, alpha, a, lda, b, ldb, beta, c, ldc)
	Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, alpha, a, lda, b, ldb, beta, c, ldc)
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc && i*ldc+j < len(c); j++ {
			got := float64(c[i*ldc+j])
			if j >= tc.n {
				// Padding between rows must be left alone.
				if math.Float64bits(got) != math.Float64bits(float64(orig[i*ldc+j])) && !(math.IsNaN(got) && math.IsNaN(float64(orig[i*ldc+j]))) {
					t.Fatalf("%v: padding C[%d,%d] modified", tc, i, j)
				}
				continue
			}
			w := want[i*tc.n+j]
			tol := eps * float64(tc.k+4) * (mag[i*tc.n+j] + 1e-30)
			if !(math.Abs(got-w) <= tol) {
				if bad++; bad <= 3 {
					t.Errorf("%v: C[%d,%d] = %v, want %v (tol %g)", tc, i, j, got, w, tol)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d wrong elements", tc, bad)
	}
}

// poisonPadding sets the elements past the first cols of every row of s
// (row stride ld) to NaN.
func poisonPadding[T float32 | float64](s []T, cols, ld int) {
	for i := range s {
		if i%ld >= cols {
			s[i] = T(math.NaN())
		}
	}
}

// withKernels runs f once for every kernel this CPU supports, so that
// the portable kernel is tested even where assembly is used.
func withKernels(t *testing.T, f func(t *testing.T)) {
	saved32, saved64 := kernel32, kernel64
	defer func() { kernel32, kernel64 = saved32, saved64 }()
	for _, ks := range usableKernels {
		kernel32, kernel64 = ks.k32, ks.k64
		t.Run(ks.k32.name, f)
	}
}

const (
	eps32 = 0x1p-23
	eps64 = 0x1p-52
)

func testSmall[T float32 | float64](t *testing.T, eps float64) {
	r := rand.New(rand.NewPCG(1, 2))
	var cases []gemmCase
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			// Every size 1..17 in each dimension would be 4913 cases per
			// combination; sweeping one dimension at a time over 1..17 with
			// the others odd keeps coverage of every ragged edge cheap.
			for s := 1; s <= 17; s++ {
				cases = append(cases,
					gemmCase{tA, tB, s, 7, 5, 0, 1, 0},
					gemmCase{tA, tB, 9, s, 3, 1, 1, 1},
					gemmCase{tA, tB, 13, 11, s, 2, -0.5, 0.25},
					gemmCase{tA, tB, s, s, s, 3, 2, 0},
				)
			}
			// Column counts up to a few register tiles wide reach every
			// narrow kernel variant.
			for s := 18; s <= 140; s += 2 {
				cases = append(cases, gemmCase{tA, tB, 7, s, 9, 1, 1, 0.5})
			}
			cases = append(cases,
				gemmCase{tA, tB, 1, 1, 1, 0, 1, 0},
				gemmCase{tA, tB, 31, 33, 29, 5, 1.5, -1},
				gemmCase{tA, tB, 6, 16, 1, 0, 1, 1},
				gemmCase{tA, tB, 12, 48, 300, 0, 1, 0}, // k spans two blocks
				gemmCase{tA, tB, 100, 37, 513, 1, 0.5, 2},
				gemmCase{tA, tB, 7, 200, 19, 4, 1, 0},
				gemmCase{tA, tB, 13, 100, 600, 4, 1, 0.5},
				gemmCase{tA, tB, 150, 3, 70, 0, 1, 0},
			)
		}
	}
	for _, tc := range cases {
		checkCase[T](t, r, tc, eps)
	}
}

func TestSmall32(t *testing.T) {
	withKernels(t, func(t *testing.T) { testSmall[float32](t, eps32) })
}

func TestSmall64(t *testing.T) {
	withKernels(t, func(t *testing.T) { testSmall[float64](t, eps64) })
}

// TestRandomShapes checks random shapes, strides and scalars.
func TestRandomShapes(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		alphas := []float64{1, -1, 0.5, 3}
		betas := []float64{0, 1, -2, 0.5}
		for range 200 {
			tc := gemmCase{
				transA: r.IntN(2) == 1, transB: r.IntN(2) == 1,
				m: 1 + r.IntN(70), n: 1 + r.IntN(70), k: 1 + r.IntN(70),
				pad: r.IntN(4), alpha: alphas[r.IntN(4)], beta: betas[r.IntN(4)],
			}
			checkCase[float32](t, r, tc, eps32)
			checkCase[float64](t, r, tc, eps64)
		}
	})
}

// TestLarge checks shapes big enough to use several blocks and goroutines.
func TestLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []gemmCase{
		{false, false, 64, 784, 576, 0, 1, 0},
		{true, false, 64, 784, 576, 0, 1, 1},
		{false, true, 64, 784, 576, 3, 1, 0},
		{true, true, 64, 784, 576, 0, -1, 0.5},
		{false, false, 301, 7, 1000, 1, 1, 0},   // split along m
		{false, false, 5, 3333, 40, 0, 1, 0},    // direct B, many columns
		{false, false, 10, 64, 800, 0, 1, 0},    // fully connected
		{false, true, 577, 135, 130, 2, 1, 0.5}, // split along m, transB
	}
	for _, tc := range cases {
		checkCase[float32](t, r, tc, eps32)
		checkCase[float64](t, r, tc, eps64)
	}
}

// TestZeroSizes covers k == 0, alpha == 0 and empty C.
func TestZeroSizes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		m, n, k     int
		alpha, beta float32
		c, want     []float32
	}{
		{"k=0,beta=0", 2, 2, 0, 1, 0, []float32{nan32(), 1, 2, nan32()}, []float32{0, 0, 0, 0}},
		{"k=0,beta=2", 2, 2, 0, 1, 2, []float32{1, 2, 3, 4}, []float32{2, 4, 6, 8}},
		{"k=0,beta=1", 1, 2, 0, 1, 1, []float32{1, 2}, []float32{1, 2}},
		{"alpha=0,beta=0", 1, 2, 3, 0, 0, []float32{nan32(), nan32()}, []float32{0, 0}},
		{"alpha=0,beta=3", 1, 2, 3, 0, 3, []float32{1, 2}, []float32{3, 6}},
		{"m=0", 0, 2, 3, 1, 0, nil, nil},
		{"n=0", 2, 0, 3, 1, 0, nil, nil},
	} {
		a := []float32{1, 2, 3, 4, 5, 6}
		b := []float32{1, 2, 3, 4, 5, 6}
		Gemm(false, false, tc.m, tc.n, tc.k, tc.alpha, a, max(1, tc.k), b, max(1, tc.n), tc.beta, tc.c, max(1, tc.n))
		for i := range tc.want {
			if tc.c[i] != tc.want[i] {
				t.Errorf("%s: c = %v, want %v", tc.name, tc.c, tc.want)
				break
			}
		}
	}
}

func nan32() float32 { return float32(math.NaN()) }

// TestPanics checks the BLAS-style argument validation.
func TestPanics(t *testing.T) {
	s := make([]float32, 100)
	for _, tc := range []struct {
		name    string
		tA, tB  bool
		m, n, k int
		a       []float32
		lda     int
		b       []float32
		ldb     int
		c       []float32
		ldc     int
		want    string
	}{
		{"negative m", false, false, -1, 2, 2, s, 2, s, 2, s, 2, "m < 0"},
		{"negative n", false, false, 2, -1, 2, s, 2, s, 2, s, 2, "n < 0"},
		{"negative k", false, false, 2, 2, -1, s, 2, s, 2, s, 2, "k < 0"},
		{"lda", false, false, 2, 3, 4, s, 3, s, 3, s, 3, "lda"},
		{"lda transA", true, false, 2, 3, 4, s, 1, s, 3, s, 3, "lda"},
		{"ldb", false, false, 2, 3, 4, s, 4, s, 2, s, 3, "ldb"},
		{"ldb transB", false, true, 2, 3, 4, s, 4, s, 3, s, 3, "ldb"},
		{"ldc", false, false, 2, 3, 4, s, 4, s, 3, s, 2, "ldc"},
		{"short a", false, false, 3, 3, 4, s[:11], 4, s, 3, s, 3, "slice a"},
		{"short b", false, false, 3, 3, 4, s, 4, s[:11], 3, s, 3, "slice b"},
		{"short c", false, false, 3, 3, 4, s, 4, s, 3, s[:8], 3, "slice c"},
		{"short a transA", true, false, 3, 3, 4, s[:11], 3, s, 3, s, 3, "slice a"},
		{"short b transB", false, true, 3, 3, 4, s, 4, s[:11], 4, s, 3, "slice b"},
		{"short c stride", false, false, 3, 3, 4, s, 4, s, 3, s[:12], 5, "slice c"},
	} {
		func() {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if r == nil || !strings.Contains(msg, tc.want) {
					t.Errorf("%s: panic %v, want one mentioning %q", tc.name, r, tc.want)
				}
			}()
			Gemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1, tc.a, tc.lda, tc.b, tc.ldb, 0, tc.c, tc.ldc)
		}()
	}
	// Exactly long enough must not panic.
	Gemm(false, false, 3, 3, 4, 1, s[:12], 4, s[:12], 3, 0, s[50:59], 3)
	Gemm(false, false, 3, 3, 4, 1, s[:12], 4, s[:12], 3, 0, s[50:63], 5)
}

// TestDeterminism checks that results are bit-identical across repeated
// calls, across GOMAXPROCS settings, which change how the work is split
// between goroutines, and between Gemm and Serial.
func TestDeterminism(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []gemmCase{
		{false, false, 64, 1000, 576, 0, 1, 0},
		{true, false, 200, 300, 150, 1, 1, 0.5},
		{false, true, 300, 200, 150, 0, 1, 1},
		{true, true, 150, 150, 700, 0, 2, 0},
		{false, false, 6, 5000, 250, 0, 1, 0},
		{false, true, 40, 90, 3000, 0, 1, 0},
	} {
		determinism[float32](t, r, tc)
		determinism[float64](t, r, tc)
	}
}

func determinism[T float32 | float64](t *testing.T, r *rand.Rand, tc gemmCase) {
	t.Helper()
	ar, ac, br, bc := tc.m, tc.k, tc.k, tc.n
	if tc.transA {
		ar, ac = ac, ar
	}
	if tc.transB {
		br, bc = bc, br
	}
	a := randSlice[T](r, ar*ac)
	b := randSlice[T](r, br*bc)
	c0 := randSlice[T](r, tc.m*tc.n)
	var ref []T
	for i, procs := range []int{1, 2, 4, 2, 1, 3, 2} {
		runtime.GOMAXPROCS(procs)
		c := append([]T(nil), c0...)
		mm := Gemm[T]
		if i == 6 {
			mm = Serial[T]
		}
		mm(tc.transA, tc.transB, tc.m, tc.n, tc.k, T(tc.alpha), a, ac, b, bc, T(tc.beta), c, tc.n)
		if ref == nil {
			ref = c
			continue
		}
		for j := range c {
			// Converting to float64 is exact, so comparing bits there
			// compares the original bits (signed zeros included).
			if math.Float64bits(float64(c[j])) != math.Float64bits(float64(ref[j])) {
				t.Fatalf("%T %v: GOMAXPROCS=%d: c[%d] = %v, differs from %v", c[j], tc, procs, j, c[j], ref[j])
			}
		}
	}
}

// TestConcurrent runs many products at once, as the engine may when it
// evaluates independent layers in parallel, and checks each against the
// result of running it alone.
func TestConcurrent(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	r := rand.New(rand.NewPCG(11, 12))
	type job struct {
		m, n, k int
		a, b    []float32
		want    []float32
	}
	var jobs []*job
	for i := range 12 {
		j := &job{m: 20 + 37*i, n: 300 - 11*i, k: 50 + 29*i}
		j.a = randSlice[float32](r, j.m*j.k)
		j.b = randSlice[float32](r, j.k*j.n)
		j.want = make([]float32, j.m*j.n)
		Gemm(false, false, j.m, j.n, j.k, 1, j.a, j.k, j.b, j.n, 0, j.want, j.n)
		jobs = append(jobs, j)
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(jobs))
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, j.m*j.n)
			for range 3 {
				Gemm(false, false, j.m, j.n, j.k, 1, j.a, j.k, j.b, j.n, 0, c, j.n)
				for i := range c {
					if c[i] != j.want[i] {
						errs <- fmt.Sprintf("%d×%d×%d: c[%d] = %v, want %v", j.m, j.n, j.k, i, c[i], j.want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestAllocs checks that Gemm does not allocate in steady state, for
// serial and parallel calls.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := rand.New(rand.NewPCG(9, 10))
	for _, sz := range [][3]int{{10, 64, 800}, {64, 784, 576}, {300, 20, 200}} {
		m, n, k := sz[0], sz[1], sz[2]
		a32, b32, c32 := randSlice[float32](r, m*k), randSlice[float32](r, k*n), make([]float32, m*n)
		a64, b64, c64 := randSlice[float64](r, m*k), randSlice[float64](r, k*n), make([]float64, m*n)
		f := func() {
			Gemm(false, false, m, n, k, 1, a32, k, b32, n, 0, c32, n)
			Gemm(true, true, m, n, k, 1, a32, m, b32, k, 1, c32, n)
			Gemm(false, false, m, n, k, 1, a64, k, b64, n, 0, c64, n)
		}
		// AllocsPerRun runs with GOMAXPROCS=1 and thus covers the serial
		// path. Let idle helpers park first: the runtime may allocate
		// when a goroutine blocks, which the count would include.
		time.Sleep(time.Millisecond)
		if got := testing.AllocsPerRun(5, f); got != 0 {
			t.Errorf("%v serial: %v allocations per call", sz, got)
		}
		// Parallel path: count mallocs directly. Helpers parking and
		// waking between calls can make the runtime allocate a little
		// until its caches have settled, so allow a few windows.
		runtime.GOMAXPROCS(2)
		var d uint64
		for range 5 {
			for range 3 {
				f()
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 10 {
				f()
			}
			runtime.ReadMemStats(&after)
			if d = after.Mallocs - before.Mallocs; d == 0 {
				break
			}
		}
		if d != 0 {
			t.Errorf("%v parallel: %d allocations in 10 calls", sz, d)
		}
	}
}
