package models

import "math"

// Ops of transformer-era classifiers (ViT, DeiT, Swin, ConvNeXt, MaxViT):
// Erf, which exporters use for exact GELU before opset 20; Gelu itself
// (opset 20); and LayerNormalization (opset 17), which older opsets spell
// as ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div.

func init() {
	register("Erf", 9, nil, buildAct[float32](actErf), buildAct[float64](actErf))
	register("Gelu", 20, nil, buildAct[float32](actGelu), buildAct[float64](actGelu))
	register("LayerNormalization", 17, nil, buildLayerNorm[float32], buildLayerNorm[float64])
}

type actKind int

const (
	actErf actKind = iota
	actGelu
	actGeluTanh
)

// actK is an elementwise activation computed in float64 per element
// (float32 results are within an ulp of the correctly rounded value; erf
// there is erfFast, a piecewise polynomial, since math.Erf cost more than
// the matrix products around it), split over the cores for large tensors.
type actK[T Float] struct {
	kind actKind
	erf  func(float64) float64 // math.Erf in float64 programs, erfFast in float32 ones

	split              rangeSplit
	in, out, gout, gin [][]T
	fwdR, bwdR         func(lo, hi int)
}

func buildAct[T Float](kind actKind) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(1, 1); err != nil {
			return nil, err
		}
		x, err := c.floatIn(0)
		if err != nil {
			return nil, err
		}
		k := &actK[T]{kind: kind, erf: math.Erf}
		var zero T
		if _, ok := any(zero).(float32); ok {
			k.erf = erfFast
		}
		if kind == actGelu {
			a, err := c.attrString("approximate", "none")
			if err != nil {
				return nil, err
			}
			switch a {
			case "none":
			case "tanh":
				k.kind = actGeluTanh
			default:
				return nil, c.errorf("approximate=%q is not one of none, tanh", a)
			}
		}
		k.fwdR, k.bwdR = k.forwardRange, k.backwardRange
		return k, c.setOut(0, x.shape, x.dtype)
	}
}

func (k *actK[T]) forward(in, out [][]T) {
	k.in, k.out = in, out
	k.split.run(len(in[0]), 24, k.fwdR)
}

func (k *actK[T]) backward(in, out, gout, gin [][]T) {
	if gin[0] == nil {
		return
	}
	k.in, k.gout, k.gin = in, gout, gin
	k.split.run(len(in[0]), 24, k.bwdR)
}

const (
	sqrt2         = 1.4142135623730951
	sqrt2OverPi   = 0.7978845608028654 // √(2/π)
	invSqrt2Pi    = 0.3989422804014327 // 1/√(2π)
	twoOverSqrtPi = 1.1283791670955126 // 2/√π
	geluTanhC     = 0.044715
)

func (k *actK[T]) forwardRange(lo, hi int) {
	x, y := k.in[0][lo:hi], k.out[0][lo:hi]
	switch k.kind {
	case actErf:
		for i, v := range x {
			y[i] = T(k.erf(float64(v)))
		}
	case actGelu:
		for i, v := range x {
			f := float64(v)
			y[i] = T(0.5 * f * (1 + k.erf(f/sqrt2)))
		}
	case actGeluTanh:
		for i, v := range x {
			f := float64(v)
			y[i] = T(0.5 * f * (1 + math.Tanh(sqrt2OverPi*(f+geluTanhC*f*f*f))))
		}
	}
}

func (k *actK[T]) backwardRange(lo, hi int) {
	x, gy, gx := k.in[0][lo:hi], k.gout[0][lo:hi], k.gin[0][lo:hi]
	switch k.kind {
	case actErf:
		for i, v := range x {
			f := float64(v)
			gx[i] += gy[i] * T(twoOverSqrtPi*math.Exp(-f*f))
		}
	case actGelu:
		// d/dx x·Φ(x) = Φ(x) + x·φ(x)
		for i, v := range x {
			f := float64(v)
			gx[i] += gy[i] * T(0.5*(1+k.erf(f/sqrt2))+f*invSqrt2Pi*math.Exp(-0.5*f*f))
		}
	case actGeluTanh:
		for i, v := range x {
			f := float64(v)
			t := math.Tanh(sqrt2OverPi * (f + geluTanhC*f*f*f))
			gx[i] += gy[i] * T(0.5*(1+t)+0.5*f*(1-t*t)*sqrt2OverPi*(1+3*geluTanhC*f*f))
		}
	}
}

// layerNormK is LayerNormalization over the trailing axes from axis on:
// each of rows rows of d elements is normalised by its own mean and
// variance (biased), then scaled and shifted elementwise. Statistics are
// accumulated in float64 in one pass over the row, shifted by its first
// element so that a large mean does not cancel the variance away.
type layerNormK[T Float] struct {
	rows, d    int
	eps        float64
	sIdx, bIdx []int32 // per column, the scale (bias) element; nil when it has the full normalised shape
	mean, rstd []T     // per row, from the last forward pass

	split              rangeSplit
	psplit             rangeSplit
	in, out, gout, gin [][]T
	fwdR, bwdR, pgR    func(lo, hi int)
}

func buildLayerNorm[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(2, 3); err != nil {
		return nil, err
	}
	x, err := c.floatIn(0)
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	if r == 0 {
		return nil, c.errorf("input must have rank >= 1")
	}
	ax, err := c.attrInt("axis", -1)
	if err != nil {
		return nil, err
	}
	if ax, err = c.normAxis(ax, r); err != nil {
		return nil, err
	}
	eps, err := c.attrFloat("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	if st, err := c.attrInt("stash_type", 1); err != nil {
		return nil, err
	} else if st != int(dtFloat) && st != int(dtDouble) {
		// The statistics are always accumulated in float64; stash_type only
		// names the precision the spec asks for at least.
		return nil, c.errorf("stash_type %s is not supported", dtypeName(int32(st)))
	}
	norm := x.shape[ax:]
	k := &layerNormK[T]{rows: numel(x.shape[:ax]), d: numel(norm), eps: eps}
	for i := 1; i <= 2; i++ {
		p := c.input(i)
		if p == nil {
			continue
		}
		if _, err := c.floatIn(i); err != nil {
			return nil, err
		}
		if len(p.shape) > len(norm) {
			return nil, c.errorf("input %d has shape %v, which does not broadcast to the normalised shape %v", i, p.shape, norm)
		}
		if s, ok := broadcastShape(norm, p.shape); !ok || len(s) != len(norm) || numel(s) != numel(norm) {
			return nil, c.errorf("input %d has shape %v, which does not broadcast to the normalised shape %v", i, p.shape, norm)
		}
		if numel(p.shape) == k.d {
			continue
		}
		st := stridesFor(p.shape, norm)
		idx := mapIndex(norm, func(idx []int) int {
			off := 0
			for d, v := range idx {
				off += v * st[d]
			}
			return off
		})
		if i == 1 {
			k.sIdx = idx
		} else {
			k.bIdx = idx
		}
	}
	k.mean, k.rstd = make([]T, k.rows), make([]T, k.rows)
	k.fwdR, k.bwdR, k.pgR = k.forwardRows, k.backwardRows, k.paramGradCols
	if err := c.setOut(0, x.shape, x.dtype); err != nil {
		return nil, err
	}
	statShape := append([]int(nil), x.shape...)
	for i := ax; i < r; i++ {
		statShape[i] = 1
	}
	for i := 1; i < len(c.node.GetOutput()); i++ {
		if c.node.GetOutput()[i] == "" {
			continue
		}
		if i > 2 {
			return nil, c.errorf("has %d outputs, expects at most 3", len(c.node.GetOutput()))
		}
		if err := c.setOut(i, statShape, x.dtype); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *layerNormK[T]) forward(in, out [][]T) {
	k.in, k.out = in, out
	k.split.run(k.rows, 4*k.d, k.fwdR)
}

func (k *layerNormK[T]) forwardRows(lo, hi int) {
	x, scale, y := k.in[0], k.in[1], k.out[0]
	var bias []T
	if len(k.in) > 2 {
		bias = k.in[2]
	}
	n := float64(k.d)
	for r := lo; r < hi; r++ {
		xs, ys := x[r*k.d:(r+1)*k.d], y[r*k.d:(r+1)*k.d]
		if k.d == 0 {
			continue
		}
		shift := float64(xs[0])
		var s1, s2 float64
		for _, v := range xs {
			d := float64(v) - shift
			s1 += d
			s2 += d * d
		}
		m := s1 / n
		vr := max(s2/n-m*m, 0)
		mu, rs := T(shift+m), T(1/math.Sqrt(vr+k.eps))
		k.mean[r], k.rstd[r] = mu, rs
		for j, v := range xs {
			var g T
			if k.sIdx != nil {
				g = scale[k.sIdx[j]]
			} else {
				g = scale[j]
			}
			o := (v - mu) * rs * g
			if bias != nil {
				if k.bIdx != nil {
					o += bias[k.bIdx[j]]
				} else {
					o += bias[j]
				}
			}
			ys[j] = o
		}
		if len(k.out) > 1 && k.out[1] != nil {
			k.out[1][r] = mu
		}
		if len(k.out) > 2 && k.out[2] != nil {
			k.out[2][r] = rs
		}
	}
}

func (k *layerNormK[T]) backward(in, out, gout, gin [][]T) {
	k.in, k.gout, k.gin = in, gout, gin
	if gin[0] != nil {
		k.split.run(k.rows, 6*k.d, k.bwdR)
	}
	if gin[1] != nil || (len(gin) > 2 && gin[2] != nil) {
		if k.sIdx != nil || k.bIdx != nil {
			// Broadcast scale or bias: several columns feed one element.
			k.paramGradCols(0, k.d)
		} else {
			k.psplit.run(k.d, 3*k.rows, k.pgR)
		}
	}
}

// backwardRows adds the input gradient of rows [lo, hi):
// dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = g·scale, plus the
// contributions of the Mean and InvStdDev outputs when they are used.
func (k *layerNormK[T]) backwardRows(lo, hi int) {
	x, scale, gy, gx := k.in[0], k.in[1], k.gout[0], k.gin[0]
	var gm, gr []T
	if len(k.gout) > 1 {
		gm = k.gout[1]
	}
	if len(k.gout) > 2 {
		gr = k.gout[2]
	}
	n := T(k.d)
	for r := lo; r < hi; r++ {
		xs, g, d := x[r*k.d:(r+1)*k.d], gy[r*k.d:(r+1)*k.d], gx[r*k.d:(r+1)*k.d]
		mu, rs := k.mean[r], k.rstd[r]
		var sg, sgx T // Σ dx̂, Σ dx̂·x̂
		for j, v := range xs {
			var s T
			if k.sIdx != nil {
				s = scale[k.sIdx[j]]
			} else {
				s = scale[j]
			}
			dxh := g[j] * s
			sg += dxh
			sgx += dxh * (v - mu) * rs
		}
		mg, mgx := sg/n, sgx/n
		for j, v := range xs {
			var s T
			if k.sIdx != nil {
				s = scale[k.sIdx[j]]
			} else {
				s = scale[j]
			}
			xh := (v - mu) * rs
			d[j] += rs * (g[j]*s - mg - xh*mgx)
		}
		if gm != nil && gm[r] != 0 {
			a := gm[r] / n
			for j := range d {
				d[j] += a
			}
		}
		if gr != nil && gr[r] != 0 {
			// ∂rstd/∂x_j = −rstd²·x̂_j/d
			a := -gr[r] * rs * rs / n
			for j, v := range xs {
				d[j] += a * (v - mu) * rs
			}
		}
	}
}

// paramGradCols adds the scale and bias gradients of columns [lo, hi),
// summing over rows in order (so the split does not change the result).
func (k *layerNormK[T]) paramGradCols(lo, hi int) {
	x, gy, gs := k.in[0], k.gout[0], k.gin[1]
	var gb []T
	if len(k.gin) > 2 {
		gb = k.gin[2]
	}
	for r := 0; r < k.rows; r++ {
		off := r * k.d
		xs, g := x[off+lo:off+hi], gy[off+lo:off+hi]
		mu, rs := k.mean[r], k.rstd[r]
		if gs != nil {
			if k.sIdx == nil {
				d := gs[lo:hi]
				for j, v := range xs {
					d[j] += g[j] * (v - mu) * rs
				}
			} else {
				for j, v := range xs {
					gs[k.sIdx[lo+j]] += g[j] * (v - mu) * rs
				}
			}
		}
		if gb != nil {
			if k.bIdx == nil {
				d := gb[lo:hi]
				for j, v := range g {
					d[j] += v
				}
			} else {
				for j, v := range g {
					gb[k.bIdx[lo+j]] += v
				}
			}
		}
	}
}
