//go:build amd64 && !purego

package gemm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func transpose8x8f32(dst *float32, ldd int, rows *[8]*float32, cols int)

//go:noescape
func transpose8x4f64(dst *float64, ldd int, rows *[8]*float64, cols int)

//go:noescape
func prefetchRows(p unsafe.Pointer, stride, rowBytes, rows int)

//go:noescape
func copyStrided(dst unsafe.Pointer, dstStride int, src unsafe.Pointer, srcStride, chunk, n int)

// copyRows copies n pieces of w elements from src, src[lds:], ... to dst,
// dst[ldd:], ...
func copyRows[T float32 | float64](dst []T, ldd int, src []T, lds, w, n int) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if n == 0 {
		return
	}
	if !hasAVX || w*size%32 != 0 {
		copyRowsGo(dst, ldd, src, lds, w, n)
		return
	}
	_ = dst[(n-1)*ldd+w-1] // bounds checks for the assembly
	_ = src[(n-1)*lds+w-1]
	copyStrided(unsafe.Pointer(&dst[0]), ldd*size, unsafe.Pointer(&src[0]), lds*size, w*size, n)
}

// The transposes need only AVX.
var hasAVX = cpu.X86.HasAVX

// interleaveFast does the leading columns of interleave with vector
// transposes and returns how many columns it did. Beyond what interleave
// promises it may write garbage to dst[l*ldd+j] for rows <= j < 8*groups,
// which may be the start of row l+1 (rewritten in turn) or up to
// 8-rows elements past the last row; callers leave room and clear the
// padding afterwards.
func interleaveFast[T float32 | float64](dst []T, ldd int, src []T, lds, rows, cols int) int {
	if !hasAVX || rows > 8 && ldd < (rows+7)&^7 {
		return 0
	}
	var zero T
	is32 := unsafe.Sizeof(zero) == 4
	done := cols &^ 3
	if is32 {
		done = cols &^ 7
	}
	groups := (rows + 7) / 8
	if done == 0 || (done-1)*ldd+8*groups > len(dst) || (rows-1)*lds+done > len(src) {
		return 0
	}
	for g := 0; g < groups; g++ {
		var ptrs [8]*T
		for j := range ptrs {
			ptrs[j] = &src[min(8*g+j, rows-1)*lds]
		}
		if is32 {
			transpose8x8f32((*float32)(unsafe.Pointer(&dst[8*g])), ldd, (*[8]*float32)(unsafe.Pointer(&ptrs)), done)
		} else {
			transpose8x4f64((*float64)(unsafe.Pointer(&dst[8*g])), ldd, (*[8]*float64)(unsafe.Pointer(&ptrs)), done)
		}
	}
	return done
}
