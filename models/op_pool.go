package models

import "math"

func init() {
	register("MaxPool", 1, nil, buildPool[float32](true), buildPool[float64](true))
	register("AveragePool", 1, nil, buildPool[float32](false), buildPool[float64](false))
	register("GlobalAveragePool", 1, nil, buildGlobalPool[float32](false), buildGlobalPool[float64](false))
	register("GlobalMaxPool", 1, nil, buildGlobalPool[float32](true), buildGlobalPool[float64](true))
}

// poolK is MaxPool or AveragePool. MaxPool's gradient goes to the first
// maximum of each window in row-major order, as PyTorch's does: on MNIST
// whole windows of background tie, and this choice decides their signs.
type poolK[T Float] struct {
	w            *window
	isMax        bool
	includePad   bool
	planes       int // N·C
	argmax       []int32
	div          []T // per output position (AveragePool)
	outN, planeO int

	split              rangeSplit
	in, out, gout, gin [][]T
	fwdR, bwdR         func(lo, hi int)
}

func buildPool[T Float](isMax bool) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(1, 1); err != nil {
			return nil, err
		}
		x, err := c.floatIn(0)
		if err != nil {
			return nil, err
		}
		if len(x.shape) < 3 {
			return nil, c.errorf("input %v must be N×C×spatial", x.shape)
		}
		if len(c.node.GetOutput()) > 1 && c.node.GetOutput()[1] != "" {
			return nil, c.errorf("the Indices output is not supported")
		}
		if so, _ := c.attrInt("storage_order", 0); so != 0 {
			return nil, c.errorf("storage_order=1 is not supported")
		}
		kshape, ok, err := c.attrInts("kernel_shape")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, c.errorf("kernel_shape is required")
		}
		if !isMax {
			if _, has := c.attrs["dilations"]; has {
				if d, _, _ := c.attrInts("dilations"); anyNot1(d) {
					return nil, c.errorf("dilated AveragePool is not supported")
				}
			}
		}
		wd, err := parseWindow(c, x.shape[2:], kshape, c.opset >= 10)
		if err != nil {
			return nil, err
		}
		out := append([]int{x.shape[0], x.shape[1]}, wd.outSpatial()...)
		if err := c.setOut(0, out, x.dtype); err != nil {
			return nil, err
		}
		k := &poolK[T]{w: wd, isMax: isMax, planes: x.shape[0] * x.shape[1]}
		k.planeO = wd.oh * wd.ow
		if !isMax {
			cip, err := c.attrInt("count_include_pad", 0)
			if err != nil {
				return nil, err
			}
			k.includePad = cip != 0
			k.div = make([]T, k.planeO)
			for oy := 0; oy < wd.oh; oy++ {
				for ox := 0; ox < wd.ow; ox++ {
					y0, x0 := oy*wd.sh-wd.pt, ox*wd.sw-wd.pl
					y1, x1 := y0+wd.kh, x0+wd.kw
					if k.includePad {
						// Positions inside the padded input count, as in PyTorch.
						y0, x0 = max(y0, -wd.pt), max(x0, -wd.pl)
						y1, x1 = min(y1, wd.h+wd.pb), min(x1, wd.w+wd.pr)
					} else {
						y0, x0 = max(y0, 0), max(x0, 0)
						y1, x1 = min(y1, wd.h), min(x1, wd.w)
					}
					k.div[oy*wd.ow+ox] = T(max(1, (y1-y0)*(x1-x0)))
				}
			}
		}
		return k, nil
	}
}

func anyNot1(v []int) bool {
	for _, x := range v {
		if x != 1 {
			return true
		}
	}
	return false
}

// backwardReads: MaxPool remembers its arg-maxima, AveragePool needs
// nothing.
func (k *poolK[T]) backwardReads([]bool) (ins, outs []bool) { return []bool{false}, []bool{false} }

func (k *globalPoolK[T]) backwardReads([]bool) (ins, outs []bool) {
	return []bool{false}, []bool{false}
}

func (k *poolK[T]) forward(in, out [][]T) {
	if k.isMax && k.argmax == nil {
		// Allocated on first use rather than at compile time, so that a
		// program refused for its size has allocated nothing.
		k.argmax = make([]int32, k.planes*k.planeO)
	}
	if k.fwdR == nil {
		k.fwdR, k.bwdR = k.forwardPlanes, k.backwardPlanes
	}
	k.in, k.out = in, out
	k.split.run(k.planes, k.w.h*k.w.w, k.fwdR)
}

func (k *poolK[T]) backward(in, out, gout, gin [][]T) {
	if gin[0] == nil {
		return
	}
	if k.fwdR == nil {
		k.fwdR, k.bwdR = k.forwardPlanes, k.backwardPlanes
	}
	k.gout, k.gin = gout, gin
	k.split.run(k.planes, k.w.h*k.w.w, k.bwdR)
}

func (k *poolK[T]) forwardPlanes(p0, p1 int) {
	w := k.w
	x, y := k.in[0], k.out[0]
	hw := w.h * w.w
	if k.isMax && w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.dh == 1 && w.dw == 1 && w.pt == 0 && w.pl == 0 && w.h >= 2*w.oh && w.w >= 2*w.ow {
		k.maxPool2x2(x, y, p0, p1)
		return
	}
	for p := p0; p < p1; p++ {
		xp := x[p*hw : (p+1)*hw]
		yp := y[p*k.planeO : (p+1)*k.planeO]
		for oy := 0; oy < w.oh; oy++ {
			for ox := 0; ox < w.ow; ox++ {
				o := oy*w.ow + ox
				if k.isMax {
					best, arg := T(math.Inf(-1)), int32(-1)
					for i := 0; i < w.kh; i++ {
						iy := oy*w.sh - w.pt + i*w.dh
						if iy < 0 || iy >= w.h {
							continue
						}
						for j := 0; j < w.kw; j++ {
							ix := ox*w.sw - w.pl + j*w.dw
							if ix < 0 || ix >= w.w {
								continue
							}
							if v := xp[iy*w.w+ix]; v > best || arg < 0 || v != v {
								if best != best { // keep a NaN once found
									continue
								}
								best, arg = v, int32(iy*w.w+ix)
							}
						}
					}
					yp[o] = best
					k.argmax[p*k.planeO+o] = arg
					continue
				}
				var s T
				y0, x0 := oy*w.sh-w.pt, ox*w.sw-w.pl
				for iy := max(y0, 0); iy < min(y0+w.kh, w.h); iy++ {
					for ix := max(x0, 0); ix < min(x0+w.kw, w.w); ix++ {
						s += xp[iy*w.w+ix]
					}
				}
				yp[o] = s / k.div[o]
			}
		}
	}
}

// maxPool2x2 is the common 2×2, stride-2 max-pool without padding, with
// the same first-maximum rule: a later element wins only if strictly larger.
func (k *poolK[T]) maxPool2x2(x, y []T, p0, p1 int) {
	w := k.w
	hw := w.h * w.w
	for p := p0; p < p1; p++ {
		xp := x[p*hw : (p+1)*hw]
		yp := y[p*k.planeO : (p+1)*k.planeO]
		am := k.argmax[p*k.planeO : (p+1)*k.planeO]
		for oy := 0; oy < w.oh; oy++ {
			r0 := xp[2*oy*w.w : 2*oy*w.w+w.w]
			r1 := xp[(2*oy+1)*w.w : (2*oy+1)*w.w+w.w]
			for ox := 0; ox < w.ow; ox++ {
				i := 2 * ox
				best, arg := r0[i], 2*oy*w.w+i
				if v := r0[i+1]; v > best || v != v {
					best, arg = v, 2*oy*w.w+i+1
				}
				if v := r1[i]; v > best || v != v {
					best, arg = v, (2*oy+1)*w.w+i
				}
				if v := r1[i+1]; v > best || v != v {
					best, arg = v, (2*oy+1)*w.w+i+1
				}
				yp[oy*w.ow+ox] = best
				am[oy*w.ow+ox] = int32(arg)
			}
		}
	}
}

func (k *poolK[T]) backwardPlanes(p0, p1 int) {
	gx, gy := k.gin[0], k.gout[0]
	w := k.w
	hw := w.h * w.w
	for p := p0; p < p1; p++ {
		gxp := gx[p*hw : (p+1)*hw]
		gyp := gy[p*k.planeO : (p+1)*k.planeO]
		if k.isMax {
			am := k.argmax[p*k.planeO : (p+1)*k.planeO]
			for o, a := range am {
				if a >= 0 {
					gxp[a] += gyp[o]
				}
			}
			continue
		}
		for oy := 0; oy < w.oh; oy++ {
			for ox := 0; ox < w.ow; ox++ {
				o := oy*w.ow + ox
				g := gyp[o] / k.div[o]
				y0, x0 := oy*w.sh-w.pt, ox*w.sw-w.pl
				for iy := max(y0, 0); iy < min(y0+w.kh, w.h); iy++ {
					row := gxp[iy*w.w:]
					for ix := max(x0, 0); ix < min(x0+w.kw, w.w); ix++ {
						row[ix] += g
					}
				}
			}
		}
	}
}

type globalPoolK[T Float] struct {
	isMax  bool
	planes int
	size   int
	argmax []int32
}

func buildGlobalPool[T Float](isMax bool) builder[T] {
	return func(c *buildCtx) (kernel[T], error) {
		if err := c.needInputs(1, 1); err != nil {
			return nil, err
		}
		x, err := c.floatIn(0)
		if err != nil {
			return nil, err
		}
		if len(x.shape) < 3 {
			return nil, c.errorf("input %v must be N×C×spatial", x.shape)
		}
		k := &globalPoolK[T]{isMax: isMax, planes: x.shape[0] * x.shape[1], size: numel(x.shape[2:])}
		if isMax {
			k.argmax = make([]int32, k.planes)
		}
		out := []int{x.shape[0], x.shape[1]}
		for range x.shape[2:] {
			out = append(out, 1)
		}
		return k, c.setOut(0, out, x.dtype)
	}
}

func (k *globalPoolK[T]) forward(in, out [][]T) {
	x, y := in[0], out[0]
	for p := 0; p < k.planes; p++ {
		xp := x[p*k.size : (p+1)*k.size]
		if k.isMax {
			best, arg := xp[0], 0
			for i, v := range xp {
				if v > best {
					best, arg = v, i
				}
			}
			y[p], k.argmax[p] = best, int32(arg)
			continue
		}
		var s T
		for _, v := range xp {
			s += v
		}
		y[p] = s / T(k.size)
	}
}

func (k *globalPoolK[T]) backward(in, out, gout, gin [][]T) {
	gx, gy := gin[0], gout[0]
	if gx == nil {
		return
	}
	for p := 0; p < k.planes; p++ {
		if k.isMax {
			gx[p*k.size+int(k.argmax[p])] += gy[p]
			continue
		}
		g := gy[p] / T(k.size)
		row := gx[p*k.size : (p+1)*k.size]
		for i := range row {
			row[i] += g
		}
	}
}
