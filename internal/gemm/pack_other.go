//go:build !amd64 || purego

package gemm

// interleaveFast has no portable fast path.
func interleaveFast[T float32 | float64](dst []T, ldd int, src []T, lds, rows, cols int) int {
	return 0
}
