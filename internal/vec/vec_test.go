package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// special values every elementwise loop must treat as the Go reference does.
var special = []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.NaN()), float32(math.Inf(1)),
	float32(math.Inf(-1)), 6, -6, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * 4)
		if r.IntN(8) == 0 {
			v[i] = special[r.IntN(len(special))]
		}
	}
	return v
}

func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

// TestElementwise checks ReLU and Clip, forward and backward, bit for bit
// against the portable loops, at every length up to 70 and at offsets
// that misalign the slices.
func TestElementwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 70; n++ {
		for off := 0; off < 3; off++ {
			x := randVec(r, n+off)[off:]
			gy := randVec(r, n+off)[off:]
			gx0 := randVec(r, n)
			for _, tc := range []struct {
				name string
				fn   func(dst, x []float32)
				ref  func(dst, x []float32)
			}{
				{"Relu", Relu, reluGo},
				{"Clamp", func(d, x []float32) { Clamp(d, x, 0, 6) }, func(d, x []float32) { clampGo(d, x, 0, 6) }},
				{"ReluGrad", func(d, x []float32) { ReluGrad(d, gy, x) }, func(d, x []float32) { reluGradGo(d, gy, x) }},
				{"ClampGrad", func(d, x []float32) { ClampGrad(d, gy, x, -1, 6) }, func(d, x []float32) { clampGradGo(d, gy, x, -1, 6) }},
				{"ReluMask", func(d, x []float32) { ReluMask(d, x) }, func(d, x []float32) { reluMaskGo(d, x) }},
			} {
				got, want := append([]float32(nil), gx0...), append([]float32(nil), gx0...)
				tc.fn(got, x)
				tc.ref(want, x)
				if i := sameBits(got, want); i >= 0 {
					// Clamp may differ from Go's min/max only in the sign of a zero result.
					if !(tc.name == "Clamp" && got[i] == 0 && want[i] == 0) {
						t.Fatalf("%s n=%d off=%d: [%d] = %v for x = %v, want %v", tc.name, n, off, i, got[i], x[i], want[i])
					}
				}
			}
		}
	}
}

// TestAxpyDot checks the multiply-adds against float64 sums, and that a
// result depends on the length only, not on where the slices start.
func TestAxpyDot(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 200; n += 1 + n/10 {
		x, y := make([]float32, n+8), make([]float32, n+8)
		for i := range x {
			x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		var want, scale float64
		for i := 0; i < n; i++ {
			want += float64(x[i]) * float64(y[i])
			scale += math.Abs(float64(x[i]) * float64(y[i]))
		}
		got := Dot(x[:n], y)
		if math.Abs(float64(got)-want) > 1e-6*scale+1e-30 {
			t.Errorf("Dot n=%d: %v, want %v", n, got, want)
		}
		// Same values at another alignment: same bits.
		x2, y2 := make([]float32, n+1), make([]float32, n+1)
		copy(x2[1:], x[:n])
		copy(y2[1:], y[:n])
		if got2 := Dot(x2[1:], y2[1:]); math.Float32bits(got2) != math.Float32bits(got) {
			t.Errorf("Dot n=%d: %v at another alignment, %v before", n, got2, got)
		}
		a := float32(r.NormFloat64())
		z := append([]float32(nil), y[:n]...)
		Axpy(a, x, z)
		for i := range z {
			w := float64(y[i]) + float64(a)*float64(x[i])
			if math.Abs(float64(z[i])-w) > 1e-6*(math.Abs(w)+math.Abs(float64(a*x[i]))) {
				t.Fatalf("Axpy n=%d: [%d] = %v, want %v", n, i, z[i], w)
			}
		}
	}
}

// TestSumScaled checks the fused sum of shifted copies bit for bit against
// axpy over a cleared buffer, term by term, which it must round like.
func TestSumScaled(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 1; n <= 70; n += 3 {
		for _, taps := range []int{1, 4, 9} {
			src := randVec(r, n+40)
			for i := range src {
				if src[i] != src[i] || math.IsInf(float64(src[i]), 0) {
					src[i] = 1
				}
			}
			w := randVec(r, taps)
			offs := make([]int, taps)
			for i := range offs {
				offs[i] = r.IntN(41)
			}
			got := randVec(r, n)
			SumScaled(got, w, src, offs)
			want := make([]float32, n)
			for k, a := range w {
				Axpy(a, src[offs[k]:], want)
			}
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("n=%d taps=%d: [%d] = %v, want %v", n, taps, i, got[i], want[i])
			}
		}
	}
}

func BenchmarkClampGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, gy, gx := randVec(r, 1<<14), randVec(r, 1<<14), make([]float32, 1<<14)
	b.SetBytes(4 << 14)
	for b.Loop() {
		ClampGrad(gx, gy, x, 0, 6)
	}
}
