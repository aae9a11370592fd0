package gemm

import "unsafe"

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices.
// op(A) is m×k (A is stored k×m when transA), op(B) is k×n (B stored n×k when transB).
// lda, ldb, ldc are row strides of the stored matrices. When beta == 0, C is not read (NaN/garbage in C must not leak).
//
// Gemm panics, like the reference BLAS, if a dimension is negative, a
// stride is smaller than the row length of its matrix, or a slice is too
// short to hold its matrix. C must not overlap A or B.
func Gemm[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemm(false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Serial is Gemm computed entirely on the calling goroutine, for callers
// that already run several products at once (a convolution's batch
// chunks): splitting each product again would only add hand-over costs.
// The result is bit-identical to Gemm's.
func Serial[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemm(true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemm[T float32 | float64](serial, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		// op(A)*op(B) contributes nothing; BLAS still scales C.
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := problem[T]{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		kern: kernelFor[T](),
	}
	p.plan(serial)
	run(&p)
}

// kernelFor returns the micro-kernel used for element type T. The two
// instantiations of the generic code are distinct, so the unsafe
// conversion only ever reinterprets a *kernel[float32] as itself (or
// float64 likewise); it exists because Go cannot switch on a type
// parameter without boxing.
func kernelFor[T float32 | float64]() *kernel[T] {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return (*kernel[T])(unsafe.Pointer(kernel32))
	}
	return (*kernel[T])(unsafe.Pointer(kernel64))
}

// scaleC sets C = beta*C. When beta is zero C is overwritten with zeros
// rather than multiplied, so NaN or Inf already in C cannot leak through.
func scaleC[T float32 | float64](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
			continue
		}
		for j := range ci {
			ci[j] *= beta
		}
	}
}

// checkArgs validates the dimensions, strides and slice lengths the way
// the reference BLAS does, panicking with a descriptive message. Doing it
// up front lets the blocked code below index without surprises.
func checkArgs(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 {
		panic("gemm: m < 0")
	}
	if n < 0 {
		panic("gemm: n < 0")
	}
	if k < 0 {
		panic("gemm: k < 0")
	}
	ar, ac := m, k // stored shape of A
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n // stored shape of B
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) {
		panic("gemm: lda smaller than the row length of A")
	}
	if ldb < max(1, bc) {
		panic("gemm: ldb smaller than the row length of B")
	}
	if ldc < max(1, n) {
		panic("gemm: ldc smaller than n")
	}
	if need(ar, ac, lda) > la {
		panic("gemm: slice a is too short")
	}
	if need(br, bc, ldb) > lb {
		panic("gemm: slice b is too short")
	}
	if need(m, n, ldc) > lc {
		panic("gemm: slice c is too short")
	}
}

// need returns the minimum slice length holding a rows×cols matrix with
// the given row stride.
func need(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}
