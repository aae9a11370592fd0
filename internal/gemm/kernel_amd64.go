//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// Assembly kernels, see kernel_amd64.s. They follow the contract of
// kernel.fn.

//go:noescape
func sgemmAVX2(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, loadC int)

//go:noescape
func dgemmAVX2(kc int, a, b *float64, ldb int, c *float64, ldc int, alpha, beta float64, loadC int)

//go:noescape
func sgemmAVX512(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, loadC int)

//go:noescape
func dgemmAVX512(kc int, a, b *float64, ldb int, c *float64, ldc int, alpha, beta float64, loadC int)

var (
	avx512Kernel32 = &kernel[float32]{name: "avx512", mr: 6, nr: 64, kc: 128, mc: 144, nc: 3072, fn: sgemmAVX512}
	avx512Kernel64 = &kernel[float64]{name: "avx512", mr: 6, nr: 32, kc: 128, mc: 96, nc: 2048, fn: dgemmAVX512}
	avx2Kernel32   = &kernel[float32]{name: "avx2", mr: 6, nr: 16, kc: 256, mc: 144, nc: 3072, fn: sgemmAVX2}
	avx2Kernel64   = &kernel[float64]{name: "avx2", mr: 6, nr: 8, kc: 256, mc: 96, nc: 2048, fn: dgemmAVX2}
)

var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F
)

func init() {
	if hasAVX512 {
		usableKernels = append(usableKernels, kernelSet{avx512Kernel32, avx512Kernel64})
	}
	if hasAVX2 {
		usableKernels = append(usableKernels, kernelSet{avx2Kernel32, avx2Kernel64})
	}
	usableKernels = append(usableKernels, kernelSet{goKernel32, goKernel64})
	kernel32, kernel64 = usableKernels[0].k32, usableKernels[0].k64
}
