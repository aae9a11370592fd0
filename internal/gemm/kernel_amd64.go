//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_kernels.go

// The assembly kernels are generated into kernels_amd64.s; they follow the
// contract of kernel.fn. The blocking keeps a micro-panel of B (kc×nr)
// within L1 and a packed block of B (kc×nc, a few hundred KB) within L2
// next to the block being prefetched. On AVX-512 hardware the wider tiles halve the
// number of instructions per multiply-add, and on CPUs with full-width
// 512-bit units (such as AMD Zen 5) double the throughput.
var (
	avx512Kernel32 = &kernel[float32]{name: "avx512", mr: 6, nr: 64, kc: 128, mc: 288, nc: 768, fn: sgemmAVX512, rows: avx512sRows, cols: avx512sCols, colUnit: 16}
	avx512Kernel64 = &kernel[float64]{name: "avx512", mr: 6, nr: 32, kc: 128, mc: 144, nc: 384, fn: dgemmAVX512, rows: avx512dRows, cols: avx512dCols, colUnit: 8}
	avx2Kernel32   = &kernel[float32]{name: "avx2", mr: 6, nr: 16, kc: 256, mc: 144, nc: 384, fn: sgemmAVX2, rows: avx2sRows, cols: avx2sCols, colUnit: 8}
	avx2Kernel64   = &kernel[float64]{name: "avx2", mr: 6, nr: 8, kc: 256, mc: 96, nc: 192, fn: dgemmAVX2, rows: avx2dRows, cols: avx2dCols, colUnit: 4}
)

var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F
)

func init() {
	var sets []kernelSet
	if hasAVX512 {
		sets = append(sets, kernelSet{avx512Kernel32, avx512Kernel64})
	}
	if hasAVX2 {
		sets = append(sets, kernelSet{avx2Kernel32, avx2Kernel64})
	}
	useKernels(sets...)
}
