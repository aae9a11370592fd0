package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// best-of-N timing, robust against other load on the machine.
func perfShape[T float32 | float64](s benchShape, dur time.Duration) (best, med float64) {
	r := rand.New(rand.NewPCG(1, 1))
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	a := randSlice[T](r, s.m*s.k)
	bb := randSlice[T](r, s.k*s.n)
	c := make([]T, s.m*s.n)
	var ts []time.Duration
	start := time.Now()
	for time.Since(start) < dur || len(ts) < 3 {
		t0 := time.Now()
		Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
		ts = append(ts, time.Since(t0))
	}
	mn := ts[0]
	for _, t := range ts {
		mn = min(mn, t)
	}
	fl := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	return fl / mn.Seconds() / 1e9, float64(len(ts))
}

func TestPerf(t *testing.T) {
	if os.Getenv("GEMMPERF") == "" {
		t.Skip()
	}
	filter := os.Getenv("GEMMPERF")
	dur := 400 * time.Millisecond
	for _, procs := range []int{2, 1} {
		runtime.GOMAXPROCS(procs)
		for _, s := range benchShapes {
			if filter != "all" && !strings.Contains(s.name, filter) {
				continue
			}
			g32, n32 := perfShape[float32](s, dur)
			g64, n64 := perfShape[float64](s, dur)
			fmt.Printf("P=%d %-26s f32 %7.1f  f64 %7.1f GFLOP/s  (%v/%v runs)\n", procs, s.name, g32, g64, n32, n64)
		}
	}
}
