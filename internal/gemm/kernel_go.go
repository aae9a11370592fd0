package gemm

import (
	"runtime"
	"unsafe"
)

// The portable kernels, used where there is no assembly kernel (or with
// the purego build tag). Whether the compiler fuses their multiply-adds
// depends on the target, not on the call, so results are still
// reproducible.
var (
	go4x4Kernel32 = &kernel[float32]{name: "go4x4", mr: 4, nr: 4, kc: 256, mc: 64, nc: 1024, fn: kernelGo4x4[float32]}
	go4x4Kernel64 = &kernel[float64]{name: "go4x4", mr: 4, nr: 4, kc: 256, mc: 64, nc: 512, fn: kernelGo4x4[float64]}
	go2x4Kernel32 = &kernel[float32]{name: "go2x4", mr: 2, nr: 4, kc: 256, mc: 64, nc: 1024, fn: kernelGo2x4[float32]}
	go2x4Kernel64 = &kernel[float64]{name: "go2x4", mr: 2, nr: 4, kc: 256, mc: 64, nc: 512, fn: kernelGo2x4[float64]}
)

// goKernels returns the portable kernel set best suited to this
// architecture, followed by the other one (which only tests use).
func goKernels() []kernelSet {
	k4x4 := kernelSet{go4x4Kernel32, go4x4Kernel64}
	k2x4 := kernelSet{go2x4Kernel32, go2x4Kernel64}
	switch runtime.GOARCH {
	case "amd64", "386":
		// Sixteen (or eight) floating-point registers: a 4×4 tile's
		// accumulators and operands do not fit and spill.
		return []kernelSet{k2x4, k4x4}
	}
	return []kernelSet{k4x4, k2x4}
}

// kernelGo4x4 keeps a 4×4 tile in sixteen scalar accumulators, for
// targets with 32 floating-point registers.
func kernelGo4x4[T float32 | float64](kc int, a, b *T, ldb int, c *T, ldc int, alpha, beta T, loadC int) {
	const mr, nr = 4, 4
	ap := unsafe.Slice(a, kc*mr)
	bp := unsafe.Slice(b, (kc-1)*ldb+nr)
	var c00, c01, c02, c03 T
	var c10, c11, c12, c13 T
	var c20, c21, c22, c23 T
	var c30, c31, c32, c33 T
	for p := 0; p < kc; p++ {
		av := ap[p*mr : p*mr+mr : p*mr+mr]
		bv := bp[p*ldb : p*ldb+nr : p*ldb+nr]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+nr)
	storeRow(cs[0:nr:nr], c00, c01, c02, c03, alpha, beta, loadC)
	storeRow(cs[ldc:ldc+nr:ldc+nr], c10, c11, c12, c13, alpha, beta, loadC)
	storeRow(cs[2*ldc:2*ldc+nr:2*ldc+nr], c20, c21, c22, c23, alpha, beta, loadC)
	storeRow(cs[3*ldc:3*ldc+nr:3*ldc+nr], c30, c31, c32, c33, alpha, beta, loadC)
}

// kernelGo2x4 keeps a 2×4 tile in eight scalar accumulators, for targets
// with 16 floating-point registers.
func kernelGo2x4[T float32 | float64](kc int, a, b *T, ldb int, c *T, ldc int, alpha, beta T, loadC int) {
	const mr, nr = 2, 4
	ap := unsafe.Slice(a, kc*mr)
	bp := unsafe.Slice(b, (kc-1)*ldb+nr)
	var c00, c01, c02, c03 T
	var c10, c11, c12, c13 T
	for p := 0; p < kc; p++ {
		av := ap[p*mr : p*mr+mr : p*mr+mr]
		bv := bp[p*ldb : p*ldb+nr : p*ldb+nr]
		a0, a1 := av[0], av[1]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	cs := unsafe.Slice(c, ldc+nr)
	storeRow(cs[0:nr:nr], c00, c01, c02, c03, alpha, beta, loadC)
	storeRow(cs[ldc:ldc+nr:ldc+nr], c10, c11, c12, c13, alpha, beta, loadC)
}

func storeRow[T float32 | float64](c []T, x0, x1, x2, x3, alpha, beta T, loadC int) {
	x0, x1, x2, x3 = alpha*x0, alpha*x1, alpha*x2, alpha*x3
	if loadC != 0 {
		x0 += beta * c[0]
		x1 += beta * c[1]
		x2 += beta * c[2]
		x3 += beta * c[3]
	}
	c[0], c[1], c[2], c[3] = x0, x1, x2, x3
}
