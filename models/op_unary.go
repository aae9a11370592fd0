package models

import (
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/internal/vec"
)

// Elementwise unary ops. Each kernel maps one slice onto another of the same
// length; derivatives at kinks follow PyTorch (ReLU'(0) = 0, Clip passes the
// gradient on its bounds, as torch.clamp does).

func init() {
	register("Relu", 1, nil, buildUnary[float32](uRelu), buildUnary[float64](uRelu))
	register("LeakyRelu", 1, nil, buildUnary[float32](uLeaky), buildUnary[float64](uLeaky))
	register("Sigmoid", 1, nil, buildUnary[float32](uSigmoid), buildUnary[float64](uSigmoid))
	register("Tanh", 1, nil, buildUnary[float32](uTanh), buildUnary[float64](uTanh))
	register("Neg", 1, nil, buildUnary[float32](uNeg), buildUnary[float64](uNeg))
	register("Exp", 1, nil, buildUnary[float32](uExp), buildUnary[float64](uExp))
	register("Log", 1, nil, buildUnary[float32](uLog), buildUnary[float64](uLog))
	register("Sqrt", 1, nil, buildUnary[float32](uSqrt), buildUnary[float64](uSqrt))
	register("Abs", 1, nil, buildUnary[float32](uAbs), buildUnary[float64](uAbs))
	register("Reciprocal", 1, nil, buildUnary[float32](uRecip), buildUnary[float64](uRecip))
	register("Softplus", 1, nil, buildUnary[float32](uSoftplus), buildUnary[float64](uSoftplus))
	register("Elu", 1, nil, buildUnary[float32](uElu), buildUnary[float64](uElu))
	register("HardSigmoid", 1, nil, buildUnary[float32](uHardSigmoid), buildUnary[float64](uHardSigmoid))
	register("HardSwish", 14, nil, buildUnary[float32](uHardSwish), buildUnary[float64](uHardSwish))
	register("Clip", 1, []int{1, 2}, buildClip[float32], buildClip[float64])
	register("Identity", 1, nil, buildView[float32], buildView[float64])
	register("Dropout", 1, []int{1, 2}, buildDropout[float32], buildDropout[float64])
}

type unaryKind int

const (
	uRelu unaryKind = iota
	uLeaky
	uSigmoid
	uTanh
	uNeg
	uExp
	uLog
	uSqrt
	uAbs
	uRecip
	uSoftplus
	uElu
	uHardSigmoid
	uHardSwish
)

type unaryK[T Float] struct {
	kind        unaryKind
	alpha, beta T

	split              rangeSplit
	in, out, gout, gin [][]T
	fwdRange, bwdRange func(lo, hi int)
}

func buildUnary[T Float](kind unaryKind) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(1, 1); err != nil {
			return nil, err
		}
		x, err := c.floatIn(0)
		if err != nil {
			return nil, err
		}
		k := &unaryK[T]{kind: kind}
		switch kind {
		case uLeaky:
			a, err := c.attrFloat("alpha", 0.01)
			if err != nil {
				return nil, err
			}
			k.alpha = T(a)
		case uElu:
			a, err := c.attrFloat("alpha", 1)
			if err != nil {
				return nil, err
			}
			k.alpha = T(a)
		case uHardSigmoid:
			a, err := c.attrFloat("alpha", 0.2)
			if err != nil {
				return nil, err
			}
			b, err := c.attrFloat("beta", 0.5)
			if err != nil {
				return nil, err
			}
			k.alpha, k.beta = T(a), T(b)
		}
		return k, c.setOut(0, x.shape, x.dtype)
	}
}

func (k *unaryK[T]) forward(in, out [][]T) {
	if k.fwdRange == nil {
		k.fwdRange, k.bwdRange = k.forwardRange, k.backwardRange
	}
	k.in, k.out = in, out
	k.split.run(len(in[0]), 4, k.fwdRange)
}

func (k *unaryK[T]) backward(in, out, gout, gin [][]T) {
	if gin[0] == nil {
		return
	}
	if k.fwdRange == nil {
		k.fwdRange, k.bwdRange = k.forwardRange, k.backwardRange
	}
	k.in, k.out, k.gout, k.gin = in, out, gout, gin
	k.split.run(len(in[0]), 4, k.bwdRange)
}

// backwardReads: each derivative is computed from the input, the output,
// or (Elu) both.
func (k *unaryK[T]) backwardReads([]bool) (ins, outs []bool) {
	switch k.kind {
	case uRelu, uSigmoid, uTanh, uExp, uSqrt, uRecip:
		return []bool{false}, []bool{true}
	case uNeg:
		return []bool{false}, []bool{false}
	case uElu:
		return []bool{true}, []bool{true}
	}
	return []bool{true}, []bool{false}
}

func (k *unaryK[T]) forwardRange(lo, hi int) {
	x, y := k.in[0][lo:hi], k.out[0][lo:hi]
	if x32, ok := asFloat32(x); ok && k.kind == uRelu {
		y32, _ := asFloat32(y)
		vec.Relu(y32, x32)
		return
	}
	switch k.kind {
	case uRelu:
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = 0
			}
		}
	case uLeaky:
		for i, v := range x {
			if v >= 0 {
				y[i] = v
			} else {
				y[i] = k.alpha * v
			}
		}
	case uSigmoid:
		for i, v := range x {
			y[i] = T(sigmoid(float64(v)))
		}
	case uTanh:
		for i, v := range x {
			y[i] = T(math.Tanh(float64(v)))
		}
	case uNeg:
		for i, v := range x {
			y[i] = -v
		}
	case uExp:
		for i, v := range x {
			y[i] = T(math.Exp(float64(v)))
		}
	case uLog:
		for i, v := range x {
			y[i] = T(math.Log(float64(v)))
		}
	case uSqrt:
		for i, v := range x {
			y[i] = T(math.Sqrt(float64(v)))
		}
	case uAbs:
		for i, v := range x {
			if v < 0 {
				y[i] = -v
			} else {
				y[i] = v
			}
		}
	case uRecip:
		for i, v := range x {
			y[i] = 1 / v
		}
	case uSoftplus:
		for i, v := range x {
			y[i] = T(softplus(float64(v)))
		}
	case uElu:
		for i, v := range x {
			if v >= 0 {
				y[i] = v
			} else {
				y[i] = k.alpha * T(math.Expm1(float64(v)))
			}
		}
	case uHardSigmoid:
		for i, v := range x {
			y[i] = max(0, min(1, k.alpha*v+k.beta))
		}
	case uHardSwish:
		for i, v := range x {
			y[i] = v * max(0, min(1, v/6+0.5))
		}
	}
}

func (k *unaryK[T]) backwardRange(lo, hi int) {
	x, y, gy, gx := k.in[0][lo:hi], k.out[0][lo:hi], k.gout[0][lo:hi], k.gin[0][lo:hi]
	// ReLU reads its output, positive exactly where the input is, so that
	// the planner can free the input after the forward pass.
	if y32, ok := asFloat32(y); ok && k.kind == uRelu {
		gx32, _ := asFloat32(gx)
		gy32, _ := asFloat32(gy)
		vec.ReluGrad(gx32, gy32, y32[:len(x)])
		return
	}
	switch k.kind {
	case uRelu:
		for i, v := range y[:len(x)] {
			if v > 0 {
				gx[i] += gy[i]
			}
		}
	case uLeaky:
		for i, v := range x {
			if v > 0 {
				gx[i] += gy[i]
			} else {
				gx[i] += k.alpha * gy[i]
			}
		}
	case uSigmoid:
		for i, s := range y[:len(x)] {
			gx[i] += gy[i] * s * (1 - s)
		}
	case uTanh:
		for i, t := range y[:len(x)] {
			gx[i] += gy[i] * (1 - t*t)
		}
	case uNeg:
		for i := range x {
			gx[i] -= gy[i]
		}
	case uExp:
		for i, e := range y[:len(x)] {
			gx[i] += gy[i] * e
		}
	case uLog:
		for i, v := range x {
			gx[i] += gy[i] / v
		}
	case uSqrt:
		for i, s := range y[:len(x)] {
			gx[i] += gy[i] / (2 * s)
		}
	case uAbs:
		for i, v := range x {
			if v > 0 {
				gx[i] += gy[i]
			} else if v < 0 {
				gx[i] -= gy[i]
			}
		}
	case uRecip:
		for i, r := range y[:len(x)] {
			gx[i] -= gy[i] * r * r
		}
	case uSoftplus:
		for i, v := range x {
			gx[i] += gy[i] * T(sigmoid(float64(v)))
		}
	case uElu:
		for i, v := range x {
			if v > 0 {
				gx[i] += gy[i]
			} else {
				gx[i] += gy[i] * (y[i] + k.alpha)
			}
		}
	case uHardSigmoid:
		for i, v := range x {
			if t := k.alpha*v + k.beta; t > 0 && t < 1 {
				gx[i] += gy[i] * k.alpha
			}
		}
	case uHardSwish:
		// PyTorch: 0 below -3, (2x+3)/6 on [-3, 3], 1 above 3.
		for i, v := range x {
			switch {
			case v < -3:
			case v <= 3:
				gx[i] += gy[i] * (2*v + 3) / 6
			default:
				gx[i] += gy[i]
			}
		}
	}
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func softplus(x float64) float64 {
	if x > 20 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// clipK clamps to [lo, hi]. Its gradient follows torch.clamp, the op Clip
// denotes: the cotangent passes where lo <= x <= hi, bounds included.
// (PyTorch's hardtanh/ReLU6, which exporters also turn into Clip, pass it
// only strictly inside; the two differ only for inputs exactly on a bound.)
type clipK[T Float] struct {
	lo, hi T

	split              rangeSplit
	in, out, gout, gin [][]T
	fwdRange, bwdRange func(lo, hi int)
}

func buildClip[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 3); err != nil {
		return nil, err
	}
	x, err := c.floatIn(0)
	if err != nil {
		return nil, err
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if c.opset < 11 {
		if lo, err = c.attrFloat("min", lo); err != nil {
			return nil, err
		}
		if hi, err = c.attrFloat("max", hi); err != nil {
			return nil, err
		}
	} else {
		for i, dst := range []*float64{&lo, &hi} {
			k, err := c.static(i + 1)
			if err != nil {
				return nil, err
			}
			if k != nil {
				if k.size() != 1 {
					return nil, c.errorf("bound input %d must be a scalar, has shape %v", i+1, k.shape)
				}
				*dst = k.float64s()[0]
			}
		}
	}
	if x.dtype == dtFloat {
		lo, hi = float64(float32(lo)), float64(float32(hi))
	}
	return &clipK[T]{lo: T(lo), hi: T(hi)}, c.setOut(0, x.shape, x.dtype)
}

func (k *clipK[T]) forward(in, out [][]T) {
	if k.fwdRange == nil {
		k.fwdRange, k.bwdRange = k.forwardRange, k.backwardRange
	}
	k.in, k.out = in, out
	k.split.run(len(in[0]), 2, k.fwdRange)
}

func (k *clipK[T]) backward(in, out, gout, gin [][]T) {
	if gin[0] == nil {
		return
	}
	if k.fwdRange == nil {
		k.fwdRange, k.bwdRange = k.forwardRange, k.backwardRange
	}
	k.in, k.gout, k.gin = in, gout, gin
	k.split.run(len(in[0]), 2, k.bwdRange)
}

func (k *clipK[T]) backwardReads(gradIn []bool) (ins, outs []bool) {
	return []bool{true, false, false}[:len(gradIn)], []bool{false}
}

func (k *clipK[T]) forwardRange(lo, hi int) {
	x, y := k.in[0][lo:hi], k.out[0][lo:hi]
	if x32, ok := asFloat32(x); ok {
		y32, _ := asFloat32(y)
		vec.Clamp(y32, x32, float32(k.lo), float32(k.hi))
		return
	}
	for i, v := range x {
		// min(max(x, lo), hi), as ONNX defines Clip when lo > hi.
		y[i] = min(max(v, k.lo), k.hi)
	}
}

func (k *clipK[T]) backwardRange(lo, hi int) {
	x, gx, gy := k.in[0][lo:hi], k.gin[0][lo:hi], k.gout[0][lo:hi]
	if x32, ok := asFloat32(x); ok {
		gx32, _ := asFloat32(gx)
		gy32, _ := asFloat32(gy)
		vec.ClampGrad(gx32, gy32, x32, float32(k.lo), float32(k.hi))
		return
	}
	for i, v := range x {
		if v >= k.lo && v <= k.hi {
			gx[i] += gy[i]
		}
	}
}

// buildView serves ops whose output is their input, unchanged.
func buildView[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 1); err != nil {
		return nil, err
	}
	x := c.in[0]
	if err := c.setOut(0, x.shape, x.dtype); err != nil {
		return nil, err
	}
	c.out[0].view = true
	return nil, nil
}

// buildDropout is the inference-mode Dropout: identity, plus an all-true
// mask when asked for one.
func buildDropout[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 3); err != nil {
		return nil, err
	}
	training := c.training
	if c.opset >= 12 {
		if m, err := c.static(2); err != nil {
			return nil, err
		} else if m != nil && m.float64s()[0] != 0 {
			training = true
		}
	}
	x := c.in[0]
	if training {
		// p = 0 is the identity even in training mode (torchvision's Swin
		// exports its attention dropout so, with the mask output).
		if r, err := dropoutRatio(c); err != nil {
			return nil, err
		} else if r == 0 {
			training = false
		}
	}
	if training && c.folding {
		return nil, c.errorf("training-mode Dropout of constants is not supported")
	}
	if training {
		return buildDropoutTrain[T](c)
	}
	if err := c.setOut(0, x.shape, x.dtype); err != nil {
		return nil, err
	}
	c.out[0].view = true
	if len(c.node.GetOutput()) > 1 && c.node.GetOutput()[1] != "" {
		mask := &constant{dtype: dtBool, shape: x.shape, f64: make([]float64, numel(x.shape))}
		for i := range mask.f64 {
			mask.f64[i] = 1
		}
		if err := c.setOut(1, x.shape, dtBool); err != nil {
			return nil, err
		}
		c.out[1].konst = mask
	}
	return nil, nil
}

// dropoutRatio is the drop probability: the ratio attribute before opset
// 12, the ratio input after, 0.5 by default.
func dropoutRatio(c *buildCtx) (float64, error) {
	if c.opset < 12 {
		return c.attrFloat("ratio", 0.5)
	}
	k, err := c.static(1)
	if err != nil {
		return 0, err
	}
	if k != nil && k.size() > 0 {
		return k.float64s()[0], nil
	}
	return 0.5, nil
}

// dropoutK is training-mode (inverted) Dropout: each element is zeroed with
// probability p and the survivors scaled by 1/(1−p), as PyTorch does.
type dropoutK[T Float] struct {
	p    float64
	rng  *rand.Rand
	mask []T // per element: 0 or 1/(1−p)
}

func buildDropoutTrain[T Float](c *buildCtx) (kernel[T], error) {
	x := c.in[0]
	ratio, err := dropoutRatio(c)
	if err != nil {
		return nil, err
	}
	if ratio < 0 || ratio >= 1 {
		return nil, c.errorf("dropout ratio %v must be in [0, 1)", ratio)
	}
	if len(c.node.GetOutput()) > 1 && c.node.GetOutput()[1] != "" {
		return nil, c.errorf("the mask output is not supported in training mode")
	}
	k := &dropoutK[T]{p: ratio, rng: rand.New(rand.NewPCG(0, 0)), mask: make([]T, numel(x.shape))}
	return k, c.setOut(0, x.shape, x.dtype)
}

func (k *dropoutK[T]) reseed(seed uint64) { k.rng = rand.New(rand.NewPCG(seed, 0x64726f70)) }

func (k *dropoutK[T]) forward(in, out [][]T) {
	keep := T(1 / (1 - k.p))
	for i, v := range in[0] {
		if k.rng.Float64() < k.p {
			k.mask[i] = 0
		} else {
			k.mask[i] = keep
		}
		out[0][i] = v * k.mask[i]
	}
}

func (k *dropoutK[T]) backward(in, out, gout, gin [][]T) {
	if gin[0] == nil {
		return
	}
	for i, g := range gout[0] {
		gin[0][i] += g * k.mask[i]
	}
}
