package models

import (
	"fmt"
	"math"
	"slices"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
)

// Shape manipulation. Ops that only reinterpret their input (Reshape,
// Flatten, Squeeze, Unsqueeze) are views and cost nothing at run time; ops
// that move elements (Transpose, Slice, Gather, Pad, Expand) are compiled
// into an index map, one source offset per output element.

func init() {
	register("Shape", 1, nil, buildShape[float32], buildShape[float64])
	register("Size", 1, nil, buildSize[float32], buildSize[float64])
	register("Constant", 1, nil, buildConstant[float32], buildConstant[float64])
	register("ConstantOfShape", 9, []int{0}, buildConstantOfShape[float32], buildConstantOfShape[float64])
	register("Cast", 1, nil, buildCast[float32], buildCast[float64])
	register("Reshape", 1, []int{1}, buildReshape[float32], buildReshape[float64])
	register("Flatten", 1, nil, buildFlatten[float32], buildFlatten[float64])
	register("Squeeze", 1, []int{1}, buildSqueeze[float32](false), buildSqueeze[float64](false))
	register("Unsqueeze", 1, []int{1}, buildSqueeze[float32](true), buildSqueeze[float64](true))
	register("Transpose", 1, nil, buildTranspose[float32], buildTranspose[float64])
	register("Slice", 1, []int{1, 2, 3, 4}, buildSlice[float32], buildSlice[float64])
	register("Gather", 1, []int{1}, buildGather[float32], buildGather[float64])
	register("Pad", 1, []int{1, 2, 3}, buildPad[float32], buildPad[float64])
	register("Expand", 8, []int{1}, buildExpand[float32], buildExpand[float64])
	register("Concat", 1, nil, buildConcat[float32], buildConcat[float64])
	register("Split", 1, []int{1}, buildSplit[float32], buildSplit[float64])
	register("Range", 11, []int{0, 1, 2}, buildRange[float32], buildRange[float64])
	register("ReduceMean", 1, []int{1}, buildReduce[float32](rMean), buildReduce[float64](rMean))
	register("ReduceSum", 1, []int{1}, buildReduce[float32](rSum), buildReduce[float64](rSum))
	register("ReduceMax", 1, []int{1}, buildReduce[float32](rMax), buildReduce[float64](rMax))
	register("ReduceMin", 1, []int{1}, buildReduce[float32](rMin), buildReduce[float64](rMin))
}

func strides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

func konstInts(dt int32, shape []int, v []int) *constant {
	c := &constant{dtype: dt, shape: shape, f64: make([]float64, len(v))}
	for i, x := range v {
		c.f64[i] = float64(x)
	}
	return c
}

func buildShape[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 1); err != nil {
		return nil, err
	}
	s := c.in[0].shape
	r := len(s)
	start, end := 0, r
	if c.opset >= 15 {
		var err error
		if start, err = c.attrInt("start", 0); err != nil {
			return nil, err
		}
		if end, err = c.attrInt("end", r); err != nil {
			return nil, err
		}
		if start < 0 {
			start += r
		}
		if end < 0 {
			end += r
		}
		start, end = min(max(start, 0), r), min(max(end, 0), r)
		if end < start {
			end = start
		}
	}
	v := s[start:end]
	if err := c.setOut(0, []int{len(v)}, dtInt64); err != nil {
		return nil, err
	}
	c.out[0].konst = konstInts(dtInt64, []int{len(v)}, v)
	return nil, nil
}

func buildSize[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 1); err != nil {
		return nil, err
	}
	if err := c.setOut(0, []int{}, dtInt64); err != nil {
		return nil, err
	}
	c.out[0].konst = konstInts(dtInt64, []int{}, []int{numel(c.in[0].shape)})
	return nil, nil
}

func buildConstant[T Float](c *buildCtx) (kernel[T], error) {
	if len(c.node.GetAttribute()) != 1 {
		return nil, c.errorf("needs exactly one value attribute, has %d", len(c.node.GetAttribute()))
	}
	a := c.node.GetAttribute()[0]
	var k *constant
	switch a.GetName() {
	case "value":
		if a.GetT() == nil {
			return nil, c.errorf("attribute value is not a tensor")
		}
		var err error
		if k, err = decodeTensor(a.GetT(), tensorLimits{maxElements: c.maxElem}); err != nil {
			return nil, c.errorf("%v", err)
		}
	case "value_float":
		k = &constant{dtype: dtFloat, shape: []int{}, f32: []float32{a.GetF()}}
	case "value_floats":
		k = &constant{dtype: dtFloat, shape: []int{len(a.GetFloats())}, f32: slices.Clone(a.GetFloats())}
	case "value_int":
		k = konstInts(dtInt64, []int{}, []int{int(a.GetI())})
	case "value_ints":
		v := make([]int, len(a.GetInts()))
		for i, x := range a.GetInts() {
			v[i] = int(x)
		}
		k = konstInts(dtInt64, []int{len(v)}, v)
	default:
		return nil, c.errorf("attribute %s is not supported", a.GetName())
	}
	if k.f32 == nil && k.f64 == nil {
		k.f64 = []float64{}
	}
	if err := c.setOut(0, k.shape, k.dtype); err != nil {
		return nil, err
	}
	c.out[0].konst = k
	return nil, nil
}

func buildConstantOfShape[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 1); err != nil {
		return nil, err
	}
	shape, _, err := c.staticInts(0)
	if err != nil {
		return nil, err
	}
	val, dt := 0.0, dtFloat
	if a := c.attr("value"); a != nil {
		t, err := decodeTensor(a.GetT(), tensorLimits{maxElements: 1})
		if err != nil || t.size() != 1 {
			return nil, c.errorf("value must be a one-element tensor")
		}
		val, dt = t.float64s()[0], t.dtype
	}
	if err := c.setOut(0, shape, dt); err != nil {
		return nil, err
	}
	k := &constant{dtype: dt, shape: shape}
	if dt == dtFloat {
		k.f32 = make([]float32, numel(shape))
		for i := range k.f32 {
			k.f32[i] = float32(val)
		}
	} else {
		k.f64 = make([]float64, numel(shape))
		for i := range k.f64 {
			k.f64[i] = val
		}
	}
	c.out[0].konst = k
	return nil, nil
}

type castK[T Float] struct {
	toBool bool
	to     int32
}

func buildCast[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 1); err != nil {
		return nil, err
	}
	to, err := c.attrInt("to", -1)
	if err != nil {
		return nil, err
	}
	dt := int32(to)
	if !isFloatType(dt) && !isIntType(dt) {
		return nil, c.errorf("cast to %s is not supported", dtypeName(dt))
	}
	x := c.in[0]
	if err := c.setOut(0, x.shape, dt); err != nil {
		return nil, err
	}
	if !c.folding {
		if !isFloatType(dt) {
			return nil, c.errorf("cast of run-time data to %s is not supported", dtypeName(dt))
		}
		if dt == dtFloat16 || dt == dtBF16 {
			return &castK[T]{to: dt}, nil
		}
		c.out[0].view = true // float to float: the engine computes in one precision
		return nil, nil
	}
	return &castK[T]{toBool: dt == dtBool, to: dt}, nil
}

func (k *castK[T]) forward(in, out [][]T) {
	for i, v := range in[0] {
		switch {
		case k.toBool:
			out[0][i] = b2f[T](v != 0)
		case k.to == dtFloat16 || k.to == dtBF16:
			out[0][i] = T(roundTo(k.to, float64(v)))
		default:
			out[0][i] = v
		}
	}
}

// backward passes the cotangent straight through a precision cast.
func (k *castK[T]) backward(in, out, gout, gin [][]T) {
	if gin[0] == nil {
		return
	}
	for i, g := range gout[0] {
		gin[0][i] += g
	}
}

func setView(c *buildCtx, shape []int) error {
	if numel(shape) != numel(c.in[0].shape) {
		return c.errorf("cannot reshape %v (%d elements) to %v", c.in[0].shape, numel(c.in[0].shape), shape)
	}
	if err := c.setOut(0, shape, c.in[0].dtype); err != nil {
		return err
	}
	c.out[0].view = true
	return nil
}

func buildReshape[T Float](c *buildCtx) (kernel[T], error) {
	var target []int
	if c.opset < 5 {
		if err := c.needInputs(1, 1); err != nil {
			return nil, err
		}
		v, _, err := c.attrInts("shape")
		if err != nil {
			return nil, err
		}
		target = v
	} else {
		if err := c.needInputs(2, 2); err != nil {
			return nil, err
		}
		v, _, err := c.staticInts(1)
		if err != nil {
			return nil, err
		}
		target = v
	}
	allowZero, _ := c.attrInt("allowzero", 0)
	in := c.in[0].shape
	out := make([]int, len(target))
	infer := -1
	for i, d := range target {
		switch {
		case d == 0 && allowZero == 0:
			if i >= len(in) {
				return nil, c.errorf("shape %v copies dimension %d, input %v has rank %d", target, i, in, len(in))
			}
			out[i] = in[i]
		case d == -1:
			if infer >= 0 {
				return nil, c.errorf("shape %v has more than one -1", target)
			}
			infer = i
			out[i] = 1
		case d < -1:
			return nil, c.errorf("invalid dimension %d in shape %v", d, target)
		default:
			out[i] = d
		}
	}
	if infer >= 0 {
		p := numel(out)
		if p == 0 || numel(in)%p != 0 {
			return nil, c.errorf("cannot reshape %v to %v", in, target)
		}
		out[infer] = numel(in) / p
	}
	return nil, setView(c, out)
}

func buildFlatten[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 1); err != nil {
		return nil, err
	}
	in := c.in[0].shape
	ax, err := c.attrInt("axis", 1)
	if err != nil {
		return nil, err
	}
	if ax < 0 {
		ax += len(in)
	}
	if ax < 0 || ax > len(in) {
		return nil, c.errorf("axis out of range for rank %d", len(in))
	}
	return nil, setView(c, []int{numel(in[:ax]), numel(in[ax:])})
}

func buildSqueeze[T Float](unsqueeze bool) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(1, 2); err != nil {
			return nil, err
		}
		var axes []int
		var has bool
		var err error
		if c.opset >= 13 {
			axes, has, err = c.staticInts(1)
		} else {
			axes, has, err = c.attrInts("axes")
		}
		if err != nil {
			return nil, err
		}
		in := c.in[0].shape
		if unsqueeze {
			if !has {
				return nil, c.errorf("axes are required")
			}
			r := len(in) + len(axes)
			ins := make([]bool, r)
			for _, a := range axes {
				if a, err = c.normAxis(a, r); err != nil {
					return nil, err
				}
				if ins[a] {
					return nil, c.errorf("axis %d repeated", a)
				}
				ins[a] = true
			}
			out := make([]int, 0, r)
			j := 0
			for i := 0; i < r; i++ {
				if ins[i] {
					out = append(out, 1)
				} else {
					out = append(out, in[j])
					j++
				}
			}
			return nil, setView(c, out)
		}
		drop := make([]bool, len(in))
		if !has {
			for i, d := range in {
				drop[i] = d == 1
			}
		}
		for _, a := range axes {
			if a, err = c.normAxis(a, len(in)); err != nil {
				return nil, err
			}
			if in[a] != 1 {
				return nil, c.errorf("cannot squeeze axis %d of size %d", a, in[a])
			}
			drop[a] = true
		}
		out := []int{}
		for i, d := range in {
			if !drop[i] {
				out = append(out, d)
			}
		}
		return nil, setView(c, out)
	}
}

// indexK moves elements by a precomputed map: out[i] = in[src[i]], or fill
// where src[i] < 0 (padding).
type indexK[T Float] struct {
	src  []int32
	fill T
}

func (k *indexK[T]) forward(in, out [][]T) {
	x, y := in[0], out[0]
	for i, s := range k.src {
		if s >= 0 {
			y[i] = x[s]
		} else {
			y[i] = k.fill
		}
	}
}

func (k *indexK[T]) backward(in, out, gout, gin [][]T) {
	gx, gy := gin[0], gout[0]
	if gx == nil {
		return
	}
	for i, s := range k.src {
		if s >= 0 {
			gx[s] += gy[i]
		}
	}
}

// mapIndex builds an index map for an output shape from a function giving,
// per output multi-index, the source flat offset (or -1).
func mapIndex(out []int, f func(idx []int) int) []int32 {
	n := numel(out)
	src := make([]int32, n)
	idx := make([]int, len(out))
	for i := 0; i < n; i++ {
		src[i] = int32(f(idx))
		for d := len(out) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
	return src
}

func buildTranspose[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 1); err != nil {
		return nil, err
	}
	in := c.in[0].shape
	r := len(in)
	perm, ok, err := c.attrInts("perm")
	if err != nil {
		return nil, err
	}
	if !ok {
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	if len(perm) != r {
		return nil, c.errorf("perm %v does not match rank %d", perm, r)
	}
	seen := make([]bool, r)
	out := make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, c.errorf("perm %v is not a permutation", perm)
		}
		seen[p] = true
		out[i] = in[p]
	}
	st := strides(in)
	if err := c.setOut(0, out, c.in[0].dtype); err != nil {
		return nil, err
	}
	return &indexK[T]{src: mapIndex(out, func(idx []int) int {
		off := 0
		for i, p := range perm {
			off += idx[i] * st[p]
		}
		return off
	})}, nil
}

func buildSlice[T Float](c *buildCtx) (kernel[T], error) {
	if c.opset < 10 {
		if err := c.needInputs(1, 1); err != nil {
			return nil, err
		}
	} else if err := c.needInputs(3, 5); err != nil {
		return nil, err
	}
	in := c.in[0].shape
	r := len(in)
	var starts, ends, axes, steps []int
	var err error
	if c.opset < 10 {
		if starts, _, err = c.attrInts("starts"); err != nil {
			return nil, err
		}
		if ends, _, err = c.attrInts("ends"); err != nil {
			return nil, err
		}
		if axes, _, err = c.attrInts("axes"); err != nil {
			return nil, err
		}
	} else {
		if err := c.needInputs(3, 5); err != nil {
			return nil, err
		}
		if starts, _, err = c.staticInts(1); err != nil {
			return nil, err
		}
		if ends, _, err = c.staticInts(2); err != nil {
			return nil, err
		}
		if axes, _, err = c.staticInts(3); err != nil {
			return nil, err
		}
		if steps, _, err = c.staticInts(4); err != nil {
			return nil, err
		}
	}
	if len(starts) != len(ends) {
		return nil, c.errorf("starts %v and ends %v differ in length", starts, ends)
	}
	if axes == nil {
		axes = make([]int, len(starts))
		for i := range axes {
			axes[i] = i
		}
	}
	if steps == nil {
		steps = make([]int, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, c.errorf("starts, ends, axes and steps differ in length")
	}
	begin := make([]int, r)
	step := make([]int, r)
	out := slices.Clone(in)
	for i := range step {
		step[i] = 1
	}
	for i, a := range axes {
		if a, err = c.normAxis(a, r); err != nil {
			return nil, err
		}
		d := in[a]
		s, e, st := starts[i], ends[i], steps[i]
		if st == 0 {
			return nil, c.errorf("step 0")
		}
		if s < 0 {
			s += d
		}
		if e < 0 {
			e += d
		}
		if st > 0 {
			s, e = min(max(s, 0), d), min(max(e, 0), d)
			out[a] = max(0, (e-s+st-1)/st)
		} else {
			s, e = min(max(s, -1), d-1), min(max(e, -1), d-1)
			out[a] = max(0, (s-e-st-1)/(-st))
		}
		begin[a], step[a] = s, st
	}
	if err := c.setOut(0, out, c.in[0].dtype); err != nil {
		return nil, err
	}
	st := strides(in)
	return &indexK[T]{src: mapIndex(out, func(idx []int) int {
		off := 0
		for d, i := range idx {
			off += (begin[d] + i*step[d]) * st[d]
		}
		return off
	})}, nil
}

func buildGather[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(2, 2); err != nil {
		return nil, err
	}
	idxK, err := c.static(1)
	if err != nil {
		return nil, err
	}
	in := c.in[0].shape
	ax, err := c.attrInt("axis", 0)
	if err != nil {
		return nil, err
	}
	if ax, err = c.normAxis(ax, len(in)); err != nil {
		return nil, err
	}
	ids := idxK.ints()
	for i, v := range ids {
		if v < -in[ax] || v >= in[ax] {
			return nil, c.errorf("index %d out of range for axis %d of size %d", v, ax, in[ax])
		}
		if v < 0 {
			ids[i] = v + in[ax]
		}
	}
	out := append(append(slices.Clone(in[:ax]), idxK.shape...), in[ax+1:]...)
	if err := c.setOut(0, out, c.in[0].dtype); err != nil {
		return nil, err
	}
	inner := numel(in[ax+1:])
	outer := numel(in[:ax])
	src := make([]int32, 0, numel(out))
	for o := 0; o < outer; o++ {
		for _, id := range ids {
			base := (o*in[ax] + id) * inner
			for j := 0; j < inner; j++ {
				src = append(src, int32(base+j))
			}
		}
	}
	return &indexK[T]{src: src}, nil
}

func buildPad[T Float](c *buildCtx) (kernel[T], error) {
	if c.opset < 11 {
		if err := c.needInputs(1, 1); err != nil {
			return nil, err
		}
	} else if err := c.needInputs(2, 4); err != nil {
		return nil, err
	}
	in := c.in[0].shape
	r := len(in)
	mode, err := c.attrString("mode", "constant")
	if err != nil {
		return nil, err
	}
	var pads []int
	val := 0.0
	if c.opset < 11 {
		key := "pads"
		if c.opset < 2 {
			key = "paddings"
		}
		if pads, _, err = c.attrInts(key); err != nil {
			return nil, err
		}
		if val, err = c.attrFloat("value", 0); err != nil {
			return nil, err
		}
	} else {
		if err := c.needInputs(2, 4); err != nil {
			return nil, err
		}
		if pads, _, err = c.staticInts(1); err != nil {
			return nil, err
		}
		if k, err := c.static(2); err != nil {
			return nil, err
		} else if k != nil && k.size() > 0 {
			val = k.float64s()[0]
		}
		if axes, has, err := c.staticInts(3); err != nil {
			return nil, err
		} else if has {
			if c.opset < 18 {
				return nil, c.errorf("the axes input exists only from opset 18")
			}
			if len(pads) != 2*len(axes) {
				return nil, c.errorf("pads %v must have two values per axis in %v", pads, axes)
			}
			full := make([]int, 2*r)
			for i, a := range axes {
				if a, err = c.normAxis(a, r); err != nil {
					return nil, err
				}
				full[a], full[a+r] = pads[i], pads[i+len(axes)]
			}
			pads = full
		}
	}
	if len(pads) != 2*r {
		return nil, c.errorf("pads %v must have %d values for rank %d", pads, 2*r, r)
	}
	out := make([]int, r)
	for d := 0; d < r; d++ {
		out[d] = in[d] + pads[d] + pads[d+r]
		if out[d] < 0 {
			return nil, c.errorf("pads %v make dimension %d negative", pads, d)
		}
		if mode == "reflect" && (pads[d] >= in[d] || pads[d+r] >= in[d]) && (pads[d] > 0 || pads[d+r] > 0) {
			return nil, c.errorf("reflect padding %v needs pads smaller than the input %v", pads, in)
		}
	}
	switch mode {
	case "constant", "reflect", "edge":
	default:
		return nil, c.errorf("pad mode %q is not supported", mode)
	}
	if err := c.setOut(0, out, c.in[0].dtype); err != nil {
		return nil, err
	}
	st := strides(in)
	src := mapIndex(out, func(idx []int) int {
		off := 0
		for d, i := range idx {
			j := i - pads[d]
			if j < 0 || j >= in[d] {
				switch mode {
				case "constant":
					return -1
				case "edge":
					j = min(max(j, 0), in[d]-1)
				case "reflect":
					if j < 0 {
						j = -j
					} else {
						j = 2*(in[d]-1) - j
					}
				}
			}
			off += j * st[d]
		}
		return off
	})
	return &indexK[T]{src: src, fill: T(val)}, nil
}

func buildExpand[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(2, 2); err != nil {
		return nil, err
	}
	shape, _, err := c.staticInts(1)
	if err != nil {
		return nil, err
	}
	in := c.in[0].shape
	out, ok := broadcastShape(in, shape)
	if !ok {
		return nil, c.errorf("cannot expand %v to %v", in, shape)
	}
	if err := c.setOut(0, out, c.in[0].dtype); err != nil {
		return nil, err
	}
	st := stridesFor(in, out)
	return &indexK[T]{src: mapIndex(out, func(idx []int) int {
		off := 0
		for d, i := range idx {
			off += i * st[d]
		}
		return off
	})}, nil
}

// concatK copies each input's blocks into place along the axis.
type concatK[T Float] struct {
	outer int
	sizes []int // per input: elements per outer step
	total int
}

func buildConcat[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, len(c.in)); err != nil {
		return nil, err
	}
	if err := c.noneAbsent(); err != nil {
		return nil, err
	}
	first := c.in[0].shape
	ax, err := c.attrInt("axis", 1)
	if err != nil {
		return nil, err
	}
	if c.opset < 4 {
		if _, ok := c.attrs["axis"]; !ok {
			ax = 1
		}
	}
	if ax, err = c.normAxis(ax, len(first)); err != nil {
		return nil, err
	}
	out := slices.Clone(first)
	out[ax] = 0
	k := &concatK[T]{outer: numel(first[:ax])}
	for i, v := range c.in {
		if v == nil || len(v.shape) != len(first) {
			return nil, c.errorf("input %d has rank different from input 0", i)
		}
		for d := range first {
			if d != ax && v.shape[d] != first[d] {
				return nil, c.errorf("input %d shape %v does not match %v outside axis %d", i, v.shape, first, ax)
			}
		}
		out[ax] += v.shape[ax]
		k.sizes = append(k.sizes, numel(v.shape[ax:]))
	}
	k.total = numel(out[ax:])
	return k, c.setOut(0, out, c.in[0].dtype)
}

func (k *concatK[T]) forward(in, out [][]T) {
	y := out[0]
	for o := 0; o < k.outer; o++ {
		off := o * k.total
		for i, s := range k.sizes {
			copy(y[off:off+s], in[i][o*s:(o+1)*s])
			off += s
		}
	}
}

func (k *concatK[T]) backward(in, out, gout, gin [][]T) {
	gy := gout[0]
	for o := 0; o < k.outer; o++ {
		off := o * k.total
		for i, s := range k.sizes {
			if g := gin[i]; g != nil {
				dst := g[o*s : (o+1)*s]
				for j, v := range gy[off : off+s] {
					dst[j] += v
				}
			}
			off += s
		}
	}
}

// splitK cuts its input into consecutive pieces along an axis.
type splitK[T Float] struct {
	outer int
	sizes []int
	total int
}

func buildSplit[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 2); err != nil {
		return nil, err
	}
	in := c.in[0].shape
	ax, err := c.attrInt("axis", 0)
	if err != nil {
		return nil, err
	}
	if ax, err = c.normAxis(ax, len(in)); err != nil {
		return nil, err
	}
	var split []int
	var has bool
	if c.opset >= 13 {
		split, has, err = c.staticInts(1)
	} else {
		split, has, err = c.attrInts("split")
	}
	if err != nil {
		return nil, err
	}
	nOut := len(c.node.GetOutput())
	if !has {
		if c.opset >= 18 {
			if no, _ := c.attrInt("num_outputs", 0); no > 0 {
				nOut = no
			}
		}
		per := (in[ax] + nOut - 1) / nOut
		for i := 0; i < nOut; i++ {
			split = append(split, min(per, in[ax]-i*per))
		}
	}
	if len(split) != len(c.node.GetOutput()) {
		return nil, c.errorf("split %v does not match %d outputs", split, len(c.node.GetOutput()))
	}
	sum := 0
	for _, s := range split {
		if s < 0 {
			return nil, c.errorf("negative split %v", split)
		}
		sum += s
	}
	if sum != in[ax] {
		return nil, c.errorf("split %v does not add up to dimension %d", split, in[ax])
	}
	k := &splitK[T]{outer: numel(in[:ax]), total: numel(in[ax:])}
	inner := numel(in[ax+1:])
	for i, s := range split {
		o := slices.Clone(in)
		o[ax] = s
		if err := c.setOut(i, o, c.in[0].dtype); err != nil {
			return nil, err
		}
		k.sizes = append(k.sizes, s*inner)
	}
	return k, nil
}

func (k *splitK[T]) forward(in, out [][]T) {
	x := in[0]
	for o := 0; o < k.outer; o++ {
		off := o * k.total
		for i, s := range k.sizes {
			if out[i] != nil {
				copy(out[i][o*s:(o+1)*s], x[off:off+s])
			}
			off += s
		}
	}
}

func (k *splitK[T]) backward(in, out, gout, gin [][]T) {
	gx := gin[0]
	if gx == nil {
		return
	}
	for o := 0; o < k.outer; o++ {
		off := o * k.total
		for i, s := range k.sizes {
			if g := gout[i]; g != nil {
				dst := gx[off : off+s]
				for j, v := range g[o*s : (o+1)*s] {
					dst[j] += v
				}
			}
			off += s
		}
	}
}

func buildRange[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(3, 3); err != nil {
		return nil, err
	}
	var v [3]float64
	for i := range v {
		k, err := c.static(i)
		if err != nil {
			return nil, err
		}
		if k.size() != 1 {
			return nil, c.errorf("input %d must be a scalar", i)
		}
		v[i] = k.float64s()[0]
	}
	if v[2] == 0 {
		return nil, c.errorf("delta is 0")
	}
	n := int(max(0, math.Ceil((v[1]-v[0])/v[2])))
	if int64(n) > c.maxElem {
		return nil, c.errorf("range of %d elements exceeds the limit", n)
	}
	dt := c.in[0].dtype
	k := &constant{dtype: dt, shape: []int{n}, f64: make([]float64, n)}
	for i := range k.f64 {
		k.f64[i] = v[0] + float64(i)*v[2]
	}
	if dt == dtFloat {
		k.f32 = make([]float32, n)
		for i, x := range k.f64 {
			k.f32[i] = float32(x)
		}
		k.f64 = nil
	}
	if err := c.setOut(0, k.shape, dt); err != nil {
		return nil, err
	}
	c.out[0].konst = k
	return nil, nil
}

type reduceKind int

const (
	rMean reduceKind = iota
	rSum
	rMax
	rMin
)

// reduceK maps every input element to its output slot.
type reduceK[T Float] struct {
	kind  reduceKind
	dst   []int32
	count T
	arg   []int32 // for max/min: the input chosen per output
}

func buildReduce[T Float](kind reduceKind) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(1, 2); err != nil {
			return nil, err
		}
		in := c.in[0].shape
		r := len(in)
		var axes []int
		var has bool
		var err error
		axesAsInput := (kind == rSum && c.opset >= 13) || c.opset >= 18
		if axesAsInput {
			axes, has, err = c.staticInts(1)
		} else {
			axes, has, err = c.attrInts("axes")
		}
		if err != nil {
			return nil, err
		}
		keep, err := c.attrInt("keepdims", 1)
		if err != nil {
			return nil, err
		}
		red := make([]bool, r)
		if !has || len(axes) == 0 {
			if nz, _ := c.attrInt("noop_with_empty_axes", 0); nz != 0 && axesAsInput {
				return nil, setView(c, in)
			}
			for i := range red {
				red[i] = true
			}
		}
		for _, a := range axes {
			if a, err = c.normAxis(a, r); err != nil {
				return nil, err
			}
			red[a] = true
		}
		var out, full []int
		cnt := 1
		for d, s := range in {
			if red[d] {
				cnt *= s
				full = append(full, 1)
				if keep != 0 {
					out = append(out, 1)
				}
			} else {
				full = append(full, s)
				out = append(out, s)
			}
		}
		if out == nil {
			out = []int{}
		}
		if err := c.setOut(0, out, c.in[0].dtype); err != nil {
			return nil, err
		}
		ost := stridesFor(full, in)
		k := &reduceK[T]{kind: kind, count: T(cnt), dst: mapIndex(in, func(idx []int) int {
			off := 0
			for d, i := range idx {
				off += i * ost[d]
			}
			return off
		})}
		if kind == rMax || kind == rMin {
			if cnt == 0 {
				return nil, c.errorf("cannot reduce an empty axis")
			}
			k.arg = make([]int32, numel(out))
		}
		return k, nil
	}
}

func (k *reduceK[T]) forward(in, out [][]T) {
	x, y := in[0], out[0]
	switch k.kind {
	case rMean, rSum:
		clear(y)
		for i, d := range k.dst {
			y[d] += x[i]
		}
		if k.kind == rMean {
			for i := range y {
				y[i] /= k.count
			}
		}
	default:
		for i := range k.arg {
			k.arg[i] = -1
		}
		for i, d := range k.dst {
			a := k.arg[d]
			if a < 0 || (k.kind == rMax && x[i] > y[d]) || (k.kind == rMin && x[i] < y[d]) {
				y[d], k.arg[d] = x[i], int32(i)
			}
		}
	}
}

func (k *reduceK[T]) backward(in, out, gout, gin [][]T) {
	gx, gy := gin[0], gout[0]
	if gx == nil {
		return
	}
	switch k.kind {
	case rMean, rSum:
		scale := T(1)
		if k.kind == rMean {
			scale = 1 / k.count
		}
		for i, d := range k.dst {
			gx[i] += gy[d] * scale
		}
	default:
		for d, a := range k.arg {
			gx[a] += gy[d]
		}
	}
}

var _ = fmt.Sprint
var _ = pb.AttributeProto_INT
