package models

import "math"

func init() {
	for name, kind := range map[string]binKind{"Add": bAdd, "Sub": bSub, "Mul": bMul, "Div": bDiv, "Pow": bPow,
		"Equal": bEqual, "Less": bLess, "Greater": bGreater, "LessOrEqual": bLessEq, "GreaterOrEqual": bGreaterEq,
		"And": bAnd, "Or": bOr} {
		register(name, 1, nil, buildBinary[float32](kind), buildBinary[float64](kind))
	}
	register("Max", 1, nil, buildVariadic[float32](bMax), buildVariadic[float64](bMax))
	register("Min", 1, nil, buildVariadic[float32](bMin), buildVariadic[float64](bMin))
	register("Sum", 1, nil, buildVariadic[float32](bAdd), buildVariadic[float64](bAdd))
	register("Where", 9, []int{0}, buildWhere[float32], buildWhere[float64])
	register("Not", 1, nil, buildNot[float32], buildNot[float64])
}

type binKind int

const (
	bAdd binKind = iota
	bSub
	bMul
	bDiv
	bPow
	bMax
	bMin
	bEqual
	bLess
	bGreater
	bLessEq
	bGreaterEq
	bAnd
	bOr
)

func (k binKind) logical() bool { return k >= bEqual }

// bcast is a numpy-style broadcast of two operands to a common shape,
// with adjacent dimensions merged where neither operand breaks contiguity,
// so the common cases (same shape, scalar, per-channel bias) run as a few
// long inner loops.
type bcast struct {
	out      []int // merged output shape
	sa, sb   []int // merged strides (0 where broadcast)
	n        int
	sameA    bool // a has the output's shape
	sameB    bool
	fullOut  []int
	outerLen int
	inner    int
}

func broadcastShape(a, b []int) ([]int, bool) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, false
		}
	}
	return out, true
}

func stridesFor(shape, out []int) []int {
	r := len(out)
	st := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		j := i - (r - len(shape))
		if j < 0 || shape[j] == 1 {
			st[i] = 0
		} else {
			st[i] = acc
		}
		if j >= 0 {
			acc *= shape[j]
		}
	}
	return st
}

func newBcast(a, b, out []int) *bcast {
	bc := &bcast{fullOut: out, n: numel(out)}
	sa, sb := stridesFor(a, out), stridesFor(b, out)
	bc.sameA = numel(a) == bc.n
	bc.sameB = numel(b) == bc.n
	// Merge dims from the right.
	var mo, ma, mb []int
	for i := 0; i < len(out); i++ {
		if out[i] == 1 {
			continue
		}
		if k := len(mo) - 1; k >= 0 && ma[k] == sa[i]*out[i] && mb[k] == sb[i]*out[i] {
			mo[k] *= out[i]
			ma[k], mb[k] = sa[i], sb[i]
			continue
		}
		mo, ma, mb = append(mo, out[i]), append(ma, sa[i]), append(mb, sb[i])
	}
	if len(mo) == 0 {
		mo, ma, mb = []int{1}, []int{0}, []int{0}
	}
	bc.out, bc.sa, bc.sb = mo, ma, mb
	bc.inner = mo[len(mo)-1]
	bc.outerLen = bc.n / max(bc.inner, 1)
	return bc
}

// each calls f for every inner row: output offset o, operand offsets ia and
// ib, and the inner strides.
func (bc *bcast) each(f func(o, ia, ib, n, inca, incb int)) {
	if bc.n == 0 {
		return
	}
	r := len(bc.out)
	inca, incb := bc.sa[r-1], bc.sb[r-1]
	var idx [8]int
	var idxs []int
	if r <= 8 {
		idxs = idx[:r]
	} else {
		idxs = make([]int, r)
	}
	ia, ib := 0, 0
	for o := 0; o < bc.n; o += bc.inner {
		f(o, ia, ib, bc.inner, inca, incb)
		for d := r - 2; d >= 0; d-- {
			idxs[d]++
			ia += bc.sa[d]
			ib += bc.sb[d]
			if idxs[d] < bc.out[d] {
				break
			}
			ia -= bc.sa[d] * bc.out[d]
			ib -= bc.sb[d] * bc.out[d]
			idxs[d] = 0
		}
	}
}

type binaryK[T Float] struct {
	kind  binKind
	bc    *bcast
	isInt bool
}

func buildBinary[T Float](kind binKind) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(2, 2); err != nil {
			return nil, err
		}
		return newBinary[T](c, kind, c.in[0], c.in[1])
	}
}

func newBinary[T Float](c *buildCtx, kind binKind, a, b *vinfo) (kernel[T], error) {
	bshape := b.shape
	if c.opset < 7 {
		// Before opset 7, B broadcasts only when asked, aligned at axis.
		if bc, _ := c.attrInt("broadcast", 0); bc != 0 {
			if ax, ok := c.attrs["axis"]; ok {
				axis := int(ax.GetI())
				if axis < 0 {
					axis += len(a.shape)
				}
				bshape = append([]int(nil), b.shape...)
				for len(bshape)+axis < len(a.shape) {
					bshape = append(bshape, 1)
				}
			}
		} else if numel(a.shape) != numel(b.shape) {
			return nil, c.errorf("shapes %v and %v differ and broadcast is not set", a.shape, b.shape)
		}
	}
	out, ok := broadcastShape(a.shape, bshape)
	if !ok {
		return nil, c.errorf("shapes %v and %v do not broadcast", a.shape, b.shape)
	}
	dt := a.dtype
	if kind.logical() {
		dt = dtBool
	}
	if !c.folding && (kind.logical() || !isFloatType(a.dtype) || (!isFloatType(b.dtype) && b.konst == nil)) {
		if kind.logical() {
			return nil, c.errorf("produces booleans from run-time data, which is not supported")
		}
		return nil, c.errorf("integer arithmetic on run-time data is not supported")
	}
	k := &binaryK[T]{kind: kind, bc: newBcast(a.shape, bshape, out), isInt: isIntType(a.dtype)}
	return k, c.setOut(0, out, dt)
}

func b2f[T Float](b bool) T {
	if b {
		return 1
	}
	return 0
}

func (k *binaryK[T]) forward(in, out [][]T) {
	a, b, y := in[0], in[1], out[0]
	kind := k.kind
	k.bc.each(func(o, ia, ib, n, inca, incb int) {
		yy := y[o : o+n]
		if inca == 1 && incb == 1 && kind <= bMul {
			aa, bb := a[ia:ia+n], b[ib:ib+n]
			switch kind {
			case bAdd:
				for i := range yy {
					yy[i] = aa[i] + bb[i]
				}
			case bSub:
				for i := range yy {
					yy[i] = aa[i] - bb[i]
				}
			case bMul:
				for i := range yy {
					yy[i] = aa[i] * bb[i]
				}
			}
			return
		}
		if binaryRowFast(kind, k.isInt, yy, a, b, ia, ib, inca, incb) {
			return
		}
		for i := range yy {
			x, z := a[ia+i*inca], b[ib+i*incb]
			var v T
			switch kind {
			case bAdd:
				v = x + z
			case bSub:
				v = x - z
			case bMul:
				v = x * z
			case bDiv:
				v = x / z
				if k.isInt {
					v = T(math.Trunc(float64(v)))
				}
			case bPow:
				v = T(math.Pow(float64(x), float64(z)))
			case bMax:
				v = max(x, z)
				if x != x || z != z {
					v = T(math.NaN())
				}
			case bMin:
				v = min(x, z)
				if x != x || z != z {
					v = T(math.NaN())
				}
			case bEqual:
				v = b2f[T](x == z)
			case bLess:
				v = b2f[T](x < z)
			case bGreater:
				v = b2f[T](x > z)
			case bLessEq:
				v = b2f[T](x <= z)
			case bGreaterEq:
				v = b2f[T](x >= z)
			case bAnd:
				v = b2f[T](x != 0 && z != 0)
			case bOr:
				v = b2f[T](x != 0 || z != 0)
			}
			yy[i] = v
		}
	})
}

// backwardReads: sums and differences pass the cotangent on and read
// nothing; the other ops read their operands and output.
func (k *binaryK[T]) backwardReads([]bool) (ins, outs []bool) {
	r := k.kind != bAdd && k.kind != bSub
	return []bool{r, r}, []bool{r}
}

func (k *binaryK[T]) backward(in, out, gout, gin [][]T) {
	a, b, y, gy := in[0], in[1], out[0], gout[0]
	ga, gb := gin[0], gin[1]
	kind := k.kind
	k.bc.each(func(o, ia, ib, n, inca, incb int) {
		if kind == bAdd || kind == bSub {
			// The common cases, residual connections and biases: add the
			// cotangent, or its sum where the operand was broadcast.
			g := gy[o : o+n]
			for j, gd := range [2][]T{ga, gb} {
				if gd == nil {
					continue
				}
				off, inc := ia, inca
				neg := false
				if j == 1 {
					off, inc, neg = ib, incb, kind == bSub
				}
				switch inc {
				case 1:
					d := gd[off : off+n]
					if neg {
						for i, v := range g {
							d[i] -= v
						}
					} else {
						for i, v := range g {
							d[i] += v
						}
					}
				case 0:
					var s T
					for _, v := range g {
						s += v
					}
					if neg {
						gd[off] -= s
					} else {
						gd[off] += s
					}
				default:
					for i, v := range g {
						if neg {
							gd[off+i*inc] -= v
						} else {
							gd[off+i*inc] += v
						}
					}
				}
			}
			return
		}
		if binaryGradFast(kind, gy[o:o+n], a, b, ga, gb, ia, ib, inca, incb) {
			return
		}
		for i := 0; i < n; i++ {
			g := gy[o+i]
			ja, jb := ia+i*inca, ib+i*incb
			x, z := a[ja], b[jb]
			var da, db T
			switch kind {
			case bAdd:
				da, db = g, g
			case bSub:
				da, db = g, -g
			case bMul:
				da, db = g*z, g*x
			case bDiv:
				da, db = g/z, -g*x/(z*z)
			case bPow:
				da = g * z * T(math.Pow(float64(x), float64(z-1)))
				if x > 0 {
					db = g * y[o+i] * T(math.Log(float64(x)))
				}
			case bMax:
				// PyTorch's maximum splits the gradient evenly on ties.
				switch {
				case x > z:
					da = g
				case z > x:
					db = g
				default:
					da, db = g/2, g/2
				}
			case bMin:
				switch {
				case x < z:
					da = g
				case z < x:
					db = g
				default:
					da, db = g/2, g/2
				}
			}
			if ga != nil {
				ga[ja] += da
			}
			if gb != nil {
				gb[jb] += db
			}
		}
	})
}

// buildVariadic handles Max/Min/Sum over one or more inputs by chaining the
// binary kernel.
func buildVariadic[T Float](kind binKind) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(1, len(c.in)); err != nil {
			return nil, err
		}
		if err := c.noneAbsent(); err != nil {
			return nil, err
		}
		if len(c.in) == 1 {
			return buildView[T](c)
		}
		if len(c.in) == 2 {
			return newBinary[T](c, kind, c.in[0], c.in[1])
		}
		// Chain binary kernels through intermediate buffers.
		k := &chainK[T]{}
		acc := c.in[0]
		for i := 1; i < len(c.in); i++ {
			b, err := newBinary[T](c, kind, acc, c.in[i])
			if err != nil {
				return nil, err
			}
			k.steps = append(k.steps, b)
			o := c.out[0]
			k.bufs = append(k.bufs, make([]T, numel(o.shape)))
			k.gbufs = append(k.gbufs, make([]T, numel(o.shape)))
			acc = &vinfo{shape: o.shape, dtype: o.dtype}
		}
		return k, nil
	}
}

// chainK evaluates ((x0 ∘ x1) ∘ x2) ∘ … for the variadic ops.
type chainK[T Float] struct {
	steps []kernel[T]
	bufs  [][]T
	gbufs [][]T
}

func (k *chainK[T]) forward(in, out [][]T) {
	prev := in[0]
	for i, s := range k.steps {
		dst := k.bufs[i]
		if i == len(k.steps)-1 {
			dst = out[0]
		}
		s.forward([][]T{prev, in[i+1]}, [][]T{dst})
		prev = dst
	}
}

func (k *chainK[T]) backward(in, out, gout, gin [][]T) {
	n := len(k.steps)
	g := gout[0]
	for i := n - 1; i >= 0; i-- {
		prev := in[0]
		var gprev []T
		if i > 0 {
			prev = k.bufs[i-1]
			gprev = k.gbufs[i-1]
			clear(gprev)
		} else {
			gprev = gin[0]
		}
		y := out[0]
		if i < n-1 {
			y = k.bufs[i]
		}
		k.steps[i].backward([][]T{prev, in[i+1]}, [][]T{y}, [][]T{g}, [][]T{gprev, gin[i+1]})
		g = gprev
		if g == nil {
			return
		}
	}
}

// whereK selects between x and y with a condition known at compile time.
type whereK[T Float] struct {
	cond []bool
	bx   *bcast
	by   *bcast
	n    int
	sx   []int
	sy   []int
	out  []int
}

func buildWhere[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(3, 3); err != nil {
		return nil, err
	}
	cond, err := c.static(0)
	if err != nil {
		return nil, err
	}
	x, y := c.in[1], c.in[2]
	s1, ok := broadcastShape(cond.shape, x.shape)
	if !ok {
		return nil, c.errorf("shapes do not broadcast")
	}
	out, ok := broadcastShape(s1, y.shape)
	if !ok {
		return nil, c.errorf("shapes do not broadcast")
	}
	k := &whereK[T]{n: numel(out), out: out}
	k.sx, k.sy = stridesFor(x.shape, out), stridesFor(y.shape, out)
	sc := stridesFor(cond.shape, out)
	cv := cond.float64s()
	k.cond = make([]bool, k.n)
	for i := range k.cond {
		k.cond[i] = cv[offsetOf(i, out, sc)] != 0
	}
	return k, c.setOut(0, out, x.dtype)
}

// offsetOf maps a flat index of shape out to an operand offset via strides.
func offsetOf(i int, out, st []int) int {
	off := 0
	for d := len(out) - 1; d >= 0; d-- {
		off += (i % out[d]) * st[d]
		i /= out[d]
	}
	return off
}

func (k *whereK[T]) forward(in, out [][]T) {
	x, y, o := in[1], in[2], out[0]
	for i := 0; i < k.n; i++ {
		if k.cond[i] {
			o[i] = x[offsetOf(i, k.out, k.sx)]
		} else {
			o[i] = y[offsetOf(i, k.out, k.sy)]
		}
	}
}

func (k *whereK[T]) backward(in, out, gout, gin [][]T) {
	gx, gy, g := gin[1], gin[2], gout[0]
	for i := 0; i < k.n; i++ {
		if k.cond[i] {
			if gx != nil {
				gx[offsetOf(i, k.out, k.sx)] += g[i]
			}
		} else if gy != nil {
			gy[offsetOf(i, k.out, k.sy)] += g[i]
		}
	}
}

type notK[T Float] struct{}

func buildNot[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, 1); err != nil {
		return nil, err
	}
	if !c.folding {
		return nil, c.errorf("boolean ops on run-time data are not supported")
	}
	return notK[T]{}, c.setOut(0, c.in[0].shape, dtBool)
}

func (notK[T]) forward(in, out [][]T) {
	for i, v := range in[0] {
		out[0][i] = b2f[T](v == 0)
	}
}
func (notK[T]) backward(in, out, gout, gin [][]T) {}
