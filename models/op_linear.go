package models

import "github.com/advmatrix/advmatrix/internal/gemm"

func init() {
	register("Gemm", 1, nil, buildGemm[float32], buildGemm[float64])
	register("MatMul", 1, nil, buildMatMul[float32], buildMatMul[float64])
}

// gemmK is ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C, C broadcast to M×N.
type gemmK[T Float] struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	hasC           bool
	cb             *bcast
}

func buildGemm[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(2, 3); err != nil {
		return nil, err
	}
	a, err := c.floatIn(0)
	if err != nil {
		return nil, err
	}
	b, err := c.floatIn(1)
	if err != nil {
		return nil, err
	}
	if len(a.shape) != 2 || len(b.shape) != 2 {
		return nil, c.errorf("A %v and B %v must be matrices", a.shape, b.shape)
	}
	ta, _ := c.attrInt("transA", 0)
	tb, _ := c.attrInt("transB", 0)
	alpha, err := c.attrFloat("alpha", 1)
	if err != nil {
		return nil, err
	}
	beta, err := c.attrFloat("beta", 1)
	if err != nil {
		return nil, err
	}
	k := &gemmK[T]{transA: ta != 0, transB: tb != 0, alpha: T(alpha), beta: T(beta)}
	k.m, k.k = a.shape[0], a.shape[1]
	if k.transA {
		k.m, k.k = k.k, k.m
	}
	kb, n := b.shape[0], b.shape[1]
	if k.transB {
		kb, n = n, kb
	}
	if kb != k.k {
		return nil, c.errorf("inner dimensions differ: A %v (transA=%d), B %v (transB=%d)", a.shape, ta, b.shape, tb)
	}
	k.n = n
	out := []int{k.m, k.n}
	if cc := c.input(2); cc != nil {
		if s, ok := broadcastShape(out, cc.shape); !ok || s[0] != k.m || s[1] != k.n || len(s) != 2 {
			return nil, c.errorf("C %v does not broadcast to %v", cc.shape, out)
		}
		k.hasC = true
		k.cb = newBcast(out, cc.shape, out)
	}
	return k, c.setOut(0, out, a.dtype)
}

func (k *gemmK[T]) lda() int {
	if k.transA {
		return k.m
	}
	return k.k
}

func (k *gemmK[T]) ldb() int {
	if k.transB {
		return k.k
	}
	return k.n
}

// backwardReads: each operand's gradient reads the other operand.
func (k *gemmK[T]) backwardReads(gradIn []bool) (ins, outs []bool) {
	ins = make([]bool, len(gradIn))
	ins[0], ins[1] = gradIn[1], gradIn[0]
	return ins, []bool{false}
}

func (k *matMulK[T]) backwardReads(gradIn []bool) (ins, outs []bool) {
	return []bool{gradIn[1], gradIn[0]}, []bool{false}
}

func (k *gemmK[T]) forward(in, out [][]T) {
	y := out[0]
	gemm.Gemm(k.transA, k.transB, k.m, k.n, k.k, k.alpha, in[0], k.lda(), in[1], k.ldb(), 0, y, k.n)
	if k.hasC && k.beta != 0 {
		c, beta := in[2], k.beta
		k.cb.each(func(o, _, ic, n, _, incc int) {
			for i := 0; i < n; i++ {
				y[o+i] += beta * c[ic+i*incc]
			}
		})
	}
}

func (k *gemmK[T]) backward(in, out, gout, gin [][]T) {
	a, b, gy := in[0], in[1], gout[0]
	m, n, kk, al := k.m, k.n, k.k, k.alpha
	if ga := gin[0]; ga != nil {
		switch {
		case !k.transA && !k.transB:
			gemm.Gemm(false, true, m, kk, n, al, gy, n, b, n, 1, ga, kk)
		case !k.transA && k.transB:
			gemm.Gemm(false, false, m, kk, n, al, gy, n, b, kk, 1, ga, kk)
		case k.transA && !k.transB:
			gemm.Gemm(false, true, kk, m, n, al, b, n, gy, n, 1, ga, m)
		default:
			gemm.Gemm(true, true, kk, m, n, al, b, kk, gy, n, 1, ga, m)
		}
	}
	if gb := gin[1]; gb != nil {
		switch {
		case !k.transB && !k.transA:
			gemm.Gemm(true, false, kk, n, m, al, a, kk, gy, n, 1, gb, n)
		case !k.transB && k.transA:
			gemm.Gemm(false, false, kk, n, m, al, a, m, gy, n, 1, gb, n)
		case k.transB && !k.transA:
			gemm.Gemm(true, false, n, kk, m, al, gy, n, a, kk, 1, gb, kk)
		default:
			gemm.Gemm(true, true, n, kk, m, al, gy, n, a, m, 1, gb, kk)
		}
	}
	if k.hasC && len(gin) > 2 && gin[2] != nil {
		gc, beta := gin[2], k.beta
		k.cb.each(func(o, _, ic, n, _, incc int) {
			for i := 0; i < n; i++ {
				gc[ic+i*incc] += beta * gy[o+i]
			}
		})
	}
}

// matMulK is numpy matmul: batch dimensions broadcast, 1-D operands are
// promoted to matrices and the promoted axis dropped from the result.
type matMulK[T Float] struct {
	m, n, k    int
	batch      int   // number of output matrices
	offA, offB []int // per output matrix, element offset into A and B
	fwd        *gemmBatch[T]
	bwd        *bmmGrads[T]
}

func buildMatMul[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(2, 2); err != nil {
		return nil, err
	}
	a, b := c.in[0], c.in[1]
	if !c.folding && (!isFloatType(a.dtype) || !isFloatType(b.dtype)) {
		return nil, c.errorf("integer MatMul on run-time data is not supported")
	}
	as, bs := append([]int(nil), a.shape...), append([]int(nil), b.shape...)
	if len(as) == 0 || len(bs) == 0 {
		return nil, c.errorf("operands must have rank >= 1")
	}
	dropM, dropN := false, false
	if len(as) == 1 {
		as, dropM = []int{1, as[0]}, true
	}
	if len(bs) == 1 {
		bs, dropN = []int{bs[0], 1}, true
	}
	k := &matMulK[T]{m: as[len(as)-2], k: as[len(as)-1], n: bs[len(bs)-1]}
	if bs[len(bs)-2] != k.k {
		return nil, c.errorf("inner dimensions differ: %v × %v", a.shape, b.shape)
	}
	ba, bb := as[:len(as)-2], bs[:len(bs)-2]
	bo, ok := broadcastShape(ba, bb)
	if !ok {
		return nil, c.errorf("batch dimensions of %v and %v do not broadcast", a.shape, b.shape)
	}
	k.batch = numel(bo)
	sa, sb := stridesFor(ba, bo), stridesFor(bb, bo)
	for i := 0; i < k.batch; i++ {
		k.offA = append(k.offA, offsetOf(i, bo, sa)*k.m*k.k)
		k.offB = append(k.offB, offsetOf(i, bo, sb)*k.k*k.n)
	}
	// A stack of matrices times one matrix is a single tall product.
	if len(bb) == 0 && k.batch > 1 {
		k.m *= k.batch
		k.batch, k.offA, k.offB = 1, []int{0}, []int{0}
	}
	offC := make([]int, k.batch)
	for i := range offC {
		offC[i] = i * k.m * k.n
	}
	k.fwd = newGemmBatch[T](false, false, k.m, k.n, k.k, k.offA, k.offB, offC)
	k.bwd = newBMMGrads[T](false, false, k.m, k.n, k.k, k.offA, k.offB, offC)
	out := append([]int(nil), bo...)
	if !dropM {
		out = append(out, as[len(as)-2])
	}
	if !dropN {
		out = append(out, k.n)
	}
	return k, c.setOut(0, out, a.dtype)
}

func (k *matMulK[T]) forward(in, out [][]T) {
	k.fwd.run(in[0], in[1], out[0], 0)
}

func (k *matMulK[T]) backward(in, out, gout, gin [][]T) {
	k.bwd.backward(in[0], in[1], gout[0], gin[0], gin[1])
}
