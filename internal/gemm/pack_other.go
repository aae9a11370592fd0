//go:build !amd64 || purego

package gemm

import "unsafe"

// interleaveFast has no portable fast path.
func interleaveFast[T float32 | float64](dst []T, ldd int, src []T, lds, rows, cols int) int {
	return 0
}

func prefetchRows(p unsafe.Pointer, stride, rowBytes, rows int) {}

func copyRows[T float32 | float64](dst []T, ldd int, src []T, lds, w, n int) {
	copyRowsGo(dst, ldd, src, lds, w, n)
}
