package models

import "github.com/advmatrix/advmatrix/internal/gemm"

// gemmBatch is a batch of independent matrix products of one shape,
// C_i = op(A_i)·op(B_i) + beta·C_i, at fixed element offsets: the batched
// MatMul of attention (queries × keys, weights × values, one product per
// image and head) and Einsum's contractions. Every product is one call of
// the GEMM kernels; products too small for the GEMM package to split them
// over the cores itself (attention's are) are shared out across the cores
// a few products per part, instead. Each product is computed by exactly one
// call whatever the split, so results do not depend on it. When several
// products write the same C (the gradient of an operand broadcast across
// the batch) they run in order on one goroutine.
type gemmBatch[T Float] struct {
	count            int
	m, n, k          int
	transA, transB   bool
	lda, ldb, ldc    int
	offA, offB, offC []int
	serial           bool // some products share their C

	split   rangeSplit
	a, b, c []T
	beta    T
	body    func(lo, hi int)
}

// gemmSplitWork is the size of a product (multiply-adds) from which the
// GEMM package parallelises one product by itself (its
// minWorkPerGoroutine, doubled).
const gemmSplitWork = 1 << 20

func newGemmBatch[T Float](transA, transB bool, m, n, k int, offA, offB, offC []int) *gemmBatch[T] {
	g := &gemmBatch[T]{count: len(offC), m: m, n: n, k: k, transA: transA, transB: transB,
		lda: k, ldb: n, ldc: n, offA: offA, offB: offB, offC: offC}
	if transA {
		g.lda = m
	}
	if transB {
		g.ldb = k
	}
	seen := make(map[int]bool, len(offC))
	for _, o := range offC {
		if seen[o] {
			g.serial = true
		}
		seen[o] = true
	}
	g.body = g.products
	return g
}

// run computes every product; with beta 0, C is overwritten.
func (g *gemmBatch[T]) run(a, b, c []T, beta T) {
	g.a, g.b, g.c, g.beta = a, b, c, beta
	work := g.m * g.n * g.k
	if g.serial || g.count < 2 || work >= gemmSplitWork {
		g.products(0, g.count)
	} else {
		g.split.run(g.count, max(work, 1), g.body)
	}
	g.a, g.b, g.c = nil, nil, nil
}

func (g *gemmBatch[T]) products(lo, hi int) {
	for i := lo; i < hi; i++ {
		gemm.Gemm(g.transA, g.transB, g.m, g.n, g.k, 1, g.a[g.offA[i]:], g.lda, g.b[g.offB[i]:], g.ldb, g.beta, g.c[g.offC[i]:], g.ldc)
	}
}

// bmmGrads holds the two backward batches of C = op(A)·op(B):
// d op(A) = dC·op(B)ᵀ and d op(B) = op(A)ᵀ·dC, written into A's and B's
// stored layouts (a transposed operand gets a transposed gradient). Every
// operand is a contiguous matrix, so each product's strides are its
// natural row lengths.
type bmmGrads[T Float] struct {
	ga, gb             *gemmBatch[T]
	gaCFirst, gbCFirst bool // dC is the first operand of the product
}

func newBMMGrads[T Float](transA, transB bool, m, n, k int, offA, offB, offC []int) *bmmGrads[T] {
	g := &bmmGrads[T]{gaCFirst: !transA, gbCFirst: transB}
	if !transA {
		// gA (m×k) += dC (m×n) · op(B)ᵀ
		g.ga = newGemmBatch[T](false, !transB, m, k, n, offC, offB, offA)
	} else {
		// gA, stored k×m, += op(B) (k×n) · dCᵀ
		g.ga = newGemmBatch[T](transB, true, k, m, n, offB, offC, offA)
	}
	if !transB {
		// gB (k×n) += op(A)ᵀ (k×m) · dC (m×n)
		g.gb = newGemmBatch[T](!transA, false, k, n, m, offA, offC, offB)
	} else {
		// gB, stored n×k, += dCᵀ (n×m) · op(A) (m×k)
		g.gb = newGemmBatch[T](true, transA, n, k, m, offC, offA, offB)
	}
	return g
}

// backward adds the gradients: a and b are the stored operands, gc the
// cotangent of C, ga and gb the operands' gradients (nil: not wanted).
func (g *bmmGrads[T]) backward(a, b, gc, ga, gb []T) {
	if ga != nil {
		if g.gaCFirst {
			g.ga.run(gc, b, ga, 1)
		} else {
			g.ga.run(b, gc, ga, 1)
		}
	}
	if gb != nil {
		if g.gbCFirst {
			g.gb.run(gc, a, gb, 1)
		} else {
			g.gb.run(a, gc, gb, 1)
		}
	}
}
