package models

import "math"

func init() {
	register("BatchNormalization", 1, nil, buildBatchNorm[float32], buildBatchNorm[float64])
	register("Softmax", 1, nil, buildSoftmax[float32](false), buildSoftmax[float64](false))
	register("LogSoftmax", 1, nil, buildSoftmax[float32](true), buildSoftmax[float64](true))
}

// bnK is inference-mode BatchNormalization with running statistics:
// y = (x − mean)/√(var+ε)·scale + bias, per channel (axis 1).
type bnK[T Float] struct {
	n, c, inner int
	eps         float64
	inv         []T // 1/√(var+ε), recomputed each forward (the statistics may be parameters)
}

func buildBatchNorm[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(5, 5); err != nil {
		return nil, err
	}
	x, err := c.floatIn(0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 2 {
		return nil, c.errorf("input %v must have a channel axis", x.shape)
	}
	if tm, _ := c.attrInt("training_mode", 0); tm != 0 {
		return nil, c.errorf("training_mode=1 is not supported; export the model in eval mode")
	}
	if c.opset < 9 {
		if sp, _ := c.attrInt("spatial", 1); sp != 1 {
			return nil, c.errorf("spatial=0 is not supported")
		}
	}
	for i, o := range c.node.GetOutput() {
		if i > 0 && o != "" {
			return nil, c.errorf("running statistics outputs (training mode) are not supported")
		}
	}
	ch := x.shape[1]
	for i := 1; i < 5; i++ {
		if numel(c.in[i].shape) != ch {
			return nil, c.errorf("input %d has shape %v, expects %d channels", i, c.in[i].shape, ch)
		}
	}
	eps, err := c.attrFloat("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	if c.training && !c.folding {
		mom, err := c.attrFloat("momentum", 0.9)
		if err != nil {
			return nil, err
		}
		n := x.shape[0] * numel(x.shape[2:])
		if n < 2 {
			return nil, c.errorf("training-mode BatchNorm needs more than one value per channel, has %d (batch %d)", n, x.shape[0])
		}
		k := &bnTrainK[T]{n: x.shape[0], c: ch, inner: numel(x.shape[2:]), eps: eps, momentum: mom,
			mean: make([]T, ch), inv: make([]T, ch), newMean: make([]T, ch), newVar: make([]T, ch)}
		return k, c.setOut(0, x.shape, x.dtype)
	}
	k := &bnK[T]{n: x.shape[0], c: ch, inner: numel(x.shape[2:]), eps: eps, inv: make([]T, ch)}
	return k, c.setOut(0, x.shape, x.dtype)
}

// bnTrainK is training-mode BatchNormalization: normalisation by the
// batch's own statistics (biased variance), with the gradient through
// them, and running statistics updated as ONNX and PyTorch do:
// running = momentum·running + (1−momentum)·batch, with the unbiased
// variance for the running variance.
type bnTrainK[T Float] struct {
	n, c, inner     int
	eps, momentum   float64
	mean, inv       []T
	newMean, newVar []T

	split              rangeSplit
	in, out, gout, gin [][]T
	fwdR, bwdR         func(lo, hi int)
}

func (k *bnTrainK[T]) forward(in, out [][]T) {
	if k.fwdR == nil {
		k.fwdR, k.bwdR = k.forwardChannels, k.backwardChannels
	}
	k.in, k.out = in, out
	k.split.run(k.c, 3*k.n*k.inner, k.fwdR)
}

func (k *bnTrainK[T]) backward(in, out, gout, gin [][]T) {
	if k.fwdR == nil {
		k.fwdR, k.bwdR = k.forwardChannels, k.backwardChannels
	}
	k.in, k.gout, k.gin = in, gout, gin
	k.split.run(k.c, 3*k.n*k.inner, k.bwdR)
}

// forwardChannels normalises channels [c0, c1); channels are independent.
func (k *bnTrainK[T]) forwardChannels(c0, c1 int) {
	x, scale, bias, rmean, rvar, y := k.in[0], k.in[1], k.in[2], k.in[3], k.in[4], k.out[0]
	cnt := float64(k.n * k.inner)
	for ch := c0; ch < c1; ch++ {
		var s float64
		for n := 0; n < k.n; n++ {
			off := (n*k.c + ch) * k.inner
			for _, v := range x[off : off+k.inner] {
				s += float64(v)
			}
		}
		mu := s / cnt
		var ss float64
		for n := 0; n < k.n; n++ {
			off := (n*k.c + ch) * k.inner
			for _, v := range x[off : off+k.inner] {
				d := float64(v) - mu
				ss += d * d
			}
		}
		vb := ss / cnt
		k.mean[ch] = T(mu)
		k.inv[ch] = T(1 / math.Sqrt(vb+k.eps))
		k.newMean[ch] = T(k.momentum*float64(rmean[ch]) + (1-k.momentum)*mu)
		k.newVar[ch] = T(k.momentum*float64(rvar[ch]) + (1-k.momentum)*ss/(cnt-1))
		a := scale[ch] * k.inv[ch]
		b := bias[ch] - k.mean[ch]*a
		for n := 0; n < k.n; n++ {
			off := (n*k.c + ch) * k.inner
			ys, xs := y[off:off+k.inner], x[off:off+k.inner]
			for i, v := range xs {
				ys[i] = v*a + b
			}
		}
	}
}

func (k *bnTrainK[T]) runningStats() ([]int, [][]T) { return []int{3, 4}, [][]T{k.newMean, k.newVar} }

func (k *bnTrainK[T]) backwardChannels(c0, c1 int) {
	x, scale, gy := k.in[0], k.in[1], k.gout[0]
	gx, gs, gb := k.gin[0], k.gin[1], k.gin[2]
	cnt := T(k.n * k.inner)
	for ch := c0; ch < c1; ch++ {
		mu, inv := k.mean[ch], k.inv[ch]
		var sg, sgx T // Σg, Σg·x̂
		for n := 0; n < k.n; n++ {
			off := (n*k.c + ch) * k.inner
			xs, g := x[off:off+k.inner], gy[off:off+k.inner]
			for i, v := range g {
				sg += v
				sgx += v * (xs[i] - mu) * inv
			}
		}
		if gs != nil {
			gs[ch] += sgx
		}
		if gb != nil {
			gb[ch] += sg
		}
		if gx == nil {
			continue
		}
		// dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂))
		a := scale[ch] * inv
		mg, mgx := sg/cnt, sgx/cnt
		for n := 0; n < k.n; n++ {
			off := (n*k.c + ch) * k.inner
			xs, g, d := x[off:off+k.inner], gy[off:off+k.inner], gx[off:off+k.inner]
			for i, v := range g {
				d[i] += a * (v - mg - (xs[i]-mu)*inv*mgx)
			}
		}
	}
}

// backwardReads: x only for the gradients of the statistics and the
// affine parameters, which are read anyway.
func (k *bnK[T]) backwardReads(gradIn []bool) (ins, outs []bool) {
	ins = []bool{false, true, true, true, true}
	ins[0] = gradIn[1] || gradIn[2] || gradIn[3] || gradIn[4]
	return ins, []bool{false}
}

func (k *bnTrainK[T]) backwardReads(gradIn []bool) (ins, outs []bool) {
	return []bool{true, true, true, true, true}, []bool{false}
}

func (k *softmaxK[T]) backwardReads([]bool) (ins, outs []bool) { return []bool{false}, []bool{true} }

func (k *bnK[T]) forward(in, out [][]T) {
	x, scale, bias, mean, vr, y := in[0], in[1], in[2], in[3], in[4], out[0]
	for ch := 0; ch < k.c; ch++ {
		k.inv[ch] = 1 / T(math.Sqrt(float64(vr[ch])+k.eps))
	}
	for n := 0; n < k.n; n++ {
		for ch := 0; ch < k.c; ch++ {
			a := scale[ch] * k.inv[ch]
			b := bias[ch] - mean[ch]*a
			off := (n*k.c + ch) * k.inner
			xs, ys := x[off:off+k.inner], y[off:off+k.inner]
			for i, v := range xs {
				ys[i] = v*a + b
			}
		}
	}
}

func (k *bnK[T]) backward(in, out, gout, gin [][]T) {
	x, scale, mean, vr, gy := in[0], in[1], in[3], in[4], gout[0]
	gx, gs, gb, gm, gv := gin[0], gin[1], gin[2], gin[3], gin[4]
	for ch := 0; ch < k.c; ch++ {
		inv := k.inv[ch]
		a := scale[ch] * inv
		var sg, sgx T // Σg and Σg·(x−mean)
		for n := 0; n < k.n; n++ {
			off := (n*k.c + ch) * k.inner
			g := gy[off : off+k.inner]
			xs := x[off : off+k.inner]
			if gx != nil {
				d := gx[off : off+k.inner]
				for i, v := range g {
					d[i] += v * a
				}
			}
			if gs != nil || gb != nil || gm != nil || gv != nil {
				m := mean[ch]
				for i, v := range g {
					sg += v
					sgx += v * (xs[i] - m)
				}
			}
		}
		if gs != nil {
			gs[ch] += sgx * inv
		}
		if gb != nil {
			gb[ch] += sg
		}
		if gm != nil {
			gm[ch] -= sg * a
		}
		if gv != nil {
			_ = vr
			gv[ch] += -sgx * scale[ch] * inv * inv * inv / 2
		}
	}
}

// softmaxK works on a (outer, axis, inner) view of its input.
type softmaxK[T Float] struct {
	log                bool
	outer, axis, inner int
	rows               *softmaxRows[T] // when inner is 1 (op_softmax_fast.go)
}

func buildSoftmax[T Float](log bool) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(1, 1); err != nil {
			return nil, err
		}
		x, err := c.floatIn(0)
		if err != nil {
			return nil, err
		}
		def := 1
		if c.opset >= 13 {
			def = -1
		}
		ax, err := c.attrInt("axis", def)
		if err != nil {
			return nil, err
		}
		r := len(x.shape)
		if r == 0 {
			return nil, c.errorf("input must have rank >= 1")
		}
		if ax, err = c.normAxis(ax, r); err != nil {
			return nil, err
		}
		k := &softmaxK[T]{log: log, outer: numel(x.shape[:ax])}
		if c.opset >= 13 {
			k.axis, k.inner = x.shape[ax], numel(x.shape[ax+1:])
		} else {
			// Before opset 13 the input is coerced to 2-D at axis.
			k.axis, k.inner = numel(x.shape[ax:]), 1
		}
		if k.inner == 1 {
			k.rows = newSoftmaxRows[T](k.outer, k.axis, log)
		}
		return k, c.setOut(0, x.shape, x.dtype)
	}
}

func (k *softmaxK[T]) forward(in, out [][]T) {
	if k.rows != nil {
		k.rows.forward(in[0], out[0])
		return
	}
	x, y := in[0], out[0]
	for o := 0; o < k.outer; o++ {
		for in := 0; in < k.inner; in++ {
			base := o*k.axis*k.inner + in
			mx := T(math.Inf(-1))
			for a := 0; a < k.axis; a++ {
				mx = max(mx, x[base+a*k.inner])
			}
			var s T
			for a := 0; a < k.axis; a++ {
				e := T(math.Exp(float64(x[base+a*k.inner] - mx)))
				y[base+a*k.inner] = e
				s += e
			}
			if k.log {
				ls := T(math.Log(float64(s)))
				for a := 0; a < k.axis; a++ {
					y[base+a*k.inner] = x[base+a*k.inner] - mx - ls
				}
			} else {
				for a := 0; a < k.axis; a++ {
					y[base+a*k.inner] /= s
				}
			}
		}
	}
}

func (k *softmaxK[T]) backward(in, out, gout, gin [][]T) {
	y, g, gx := out[0], gout[0], gin[0]
	if gx == nil {
		return
	}
	if k.rows != nil {
		k.rows.backward(y, g, gx)
		return
	}
	for o := 0; o < k.outer; o++ {
		for in := 0; in < k.inner; in++ {
			base := o*k.axis*k.inner + in
			var s T
			for a := 0; a < k.axis; a++ {
				i := base + a*k.inner
				if k.log {
					s += g[i]
				} else {
					s += g[i] * y[i]
				}
			}
			for a := 0; a < k.axis; a++ {
				i := base + a*k.inner
				if k.log {
					gx[i] += g[i] - T(math.Exp(float64(y[i])))*s
				} else {
					gx[i] += y[i] * (g[i] - s)
				}
			}
		}
	}
}
