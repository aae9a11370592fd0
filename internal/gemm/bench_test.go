package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// Shapes from the engine: 512³ as a yardstick, then convolutions lowered
// with im2col (forward: weights × columns, backward: dW = dY × colsᵀ and
// dCols = Wᵀ × dY) and a fully-connected layer.
var benchShapes = []benchShape{
	{"512", false, false, 512, 512, 512},
	{"conv64x576x12544", false, false, 64, 12544, 576},
	{"conv32x144x50176", false, false, 32, 50176, 144},
	{"conv6x25x36864", false, false, 6, 36864, 25},
	{"fc10x800x64", false, false, 10, 64, 800},
	{"convdW64x576x12544_TB", false, true, 64, 576, 12544},
	{"convdX576x12544x64_TA", true, false, 576, 12544, 64},
	{"convdW32x144x50176_TB", false, true, 32, 144, 50176},
	{"convdX144x50176x32_TA", true, false, 144, 50176, 32},
	{"fcdW800x64x10_TA", true, false, 800, 64, 10},
	{"fcdX10x800x64_TB", false, true, 10, 800, 64},
}

func benchGemm[T float32 | float64](b *testing.B, s benchShape) {
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
	Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
	b.ResetTimer()
	for range b.N {
		Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGemm32(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchGemm[float32](b, s) })
	}
}

func BenchmarkGemm64(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchGemm[float64](b, s) })
	}
}

func BenchmarkGemm32_512(b *testing.B) { benchGemm[float32](b, benchShapes[0]) }
func BenchmarkGemm64_512(b *testing.B) { benchGemm[float64](b, benchShapes[0]) }

// BenchmarkSmall measures the fixed cost of small serial products.
func BenchmarkSmall(b *testing.B) {
	for _, n := range []int{4, 16, 32, 64, 128} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchGemm[float32](b, benchShape{"", false, false, n, n, n}) })
	}
}
