package models

func init() {
	register("ScatterND", 11, []int{1}, buildScatterND[float32], buildScatterND[float64])
}

type scatterReduction int

const (
	scatterNone scatterReduction = iota
	scatterAdd
	scatterMul
	scatterMax
	scatterMin
)

// scatterNDK is ScatterND with indices known when the graph is compiled
// (constants, or computed from shapes, as Swin's attention masks are):
// the output is data with blocks of updates written (or added, multiplied,
// maxed, minned) at the indexed positions. Data and updates may both be
// run-time tensors and both get gradients.
//
// The blocks are grouped by destination: a group is one data block and
// the update blocks aimed at it, in index order. With reduction none the
// last update wins (ONNX leaves duplicates undefined; this is what a
// sequential loop and PyTorch's index_put do), so only it gets a gradient.
// Max and min split the gradient evenly among the candidates (data
// included) equal to the result, as PyTorch's scatter_reduce does.
type scatterNDK[T Float] struct {
	red        scatterReduction
	inner      int     // elements per block
	group      []int32 // per data block: its group, or −1 when no update reaches it
	groupStart []int32 // group g's update blocks are members[groupStart[g]:groupStart[g+1]]
	members    []int32
	groupDst   []int32 // per group: its data block
}

func buildScatterND[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(3, 3); err != nil {
		return nil, err
	}
	data, upd := c.in[0], c.in[2]
	idx, err := c.static(1)
	if err != nil {
		return nil, err
	}
	if !c.folding {
		if _, err := c.floatIn(0); err != nil {
			return nil, err
		}
		if _, err := c.floatIn(2); err != nil {
			return nil, err
		}
	}
	if idx.dtype != dtInt64 {
		return nil, c.errorf("indices must be int64, are %s", dtypeName(idx.dtype))
	}
	red := scatterNone
	if c.opset >= 16 {
		s, err := c.attrString("reduction", "none")
		if err != nil {
			return nil, err
		}
		switch {
		case s == "none":
		case s == "add":
			red = scatterAdd
		case s == "mul":
			red = scatterMul
		case s == "max" && c.opset >= 18:
			red = scatterMax
		case s == "min" && c.opset >= 18:
			red = scatterMin
		default:
			return nil, c.errorf("reduction %q is not supported at opset %d", s, c.opset)
		}
	}
	ds, is := data.shape, idx.shape
	if len(ds) == 0 || len(is) == 0 {
		return nil, c.errorf("data %v and indices %v must have rank >= 1", ds, is)
	}
	kdim := is[len(is)-1]
	if kdim > len(ds) {
		return nil, c.errorf("indices %v address %d axes of data %v", is, kdim, ds)
	}
	want := append(append([]int(nil), is[:len(is)-1]...), ds[kdim:]...)
	if len(upd.shape) != len(want) || numel(upd.shape) != numel(want) {
		return nil, c.errorf("updates have shape %v, expected %v for data %v and indices %v", upd.shape, want, ds, is)
	}
	for i := range want {
		if upd.shape[i] != want[i] {
			return nil, c.errorf("updates have shape %v, expected %v for data %v and indices %v", upd.shape, want, ds, is)
		}
	}
	if upd.dtype != data.dtype {
		return nil, c.errorf("updates are %s, data %s", dtypeName(upd.dtype), dtypeName(data.dtype))
	}
	k := &scatterNDK[T]{red: red, inner: numel(ds[kdim:])}
	nblocks := numel(is[:len(is)-1])
	st := strides(ds[:kdim])
	iv := idx.ints()
	k.group = make([]int32, numel(ds[:kdim]))
	for i := range k.group {
		k.group[i] = -1
	}
	var lists [][]int32
	for u := 0; u < nblocks; u++ {
		off := 0
		for d := 0; d < kdim; d++ {
			v := iv[u*kdim+d]
			if v < -ds[d] || v >= ds[d] {
				return nil, c.errorf("index %d is out of range for axis %d of size %d", v, d, ds[d])
			}
			if v < 0 {
				v += ds[d]
			}
			off += v * st[d]
		}
		g := k.group[off]
		if g < 0 {
			g = int32(len(lists))
			k.group[off] = g
			lists = append(lists, nil)
			k.groupDst = append(k.groupDst, int32(off))
		}
		lists[g] = append(lists[g], int32(u))
	}
	for _, l := range lists {
		k.groupStart = append(k.groupStart, int32(len(k.members)))
		k.members = append(k.members, l...)
	}
	k.groupStart = append(k.groupStart, int32(len(k.members)))
	return k, c.setOut(0, ds, data.dtype)
}

func (k *scatterNDK[T]) forward(in, out [][]T) {
	data, upd, y := in[0], in[2], out[0]
	copy(y, data)
	n := k.inner
	for g, b := range k.groupDst {
		dst := y[int(b)*n : int(b+1)*n]
		for _, u := range k.members[k.groupStart[g]:k.groupStart[g+1]] {
			src := upd[int(u)*n : int(u+1)*n]
			switch k.red {
			case scatterNone:
				copy(dst, src)
			case scatterAdd:
				for i, v := range src {
					dst[i] += v
				}
			case scatterMul:
				for i, v := range src {
					dst[i] *= v
				}
			case scatterMax:
				for i, v := range src {
					dst[i] = max(dst[i], v)
				}
			case scatterMin:
				for i, v := range src {
					dst[i] = min(dst[i], v)
				}
			}
		}
	}
}

func (k *scatterNDK[T]) backward(in, out, gout, gin [][]T) {
	data, upd, y, gy := in[0], in[2], out[0], gout[0]
	gd, gu := gin[0], gin[2]
	n := k.inner
	if gd != nil {
		for b, g := range k.group {
			if g < 0 {
				d, s := gd[b*n:(b+1)*n], gy[b*n:(b+1)*n]
				for i, v := range s {
					d[i] += v
				}
			}
		}
	}
	for g, b := range k.groupDst {
		base := int(b) * n
		mem := k.members[k.groupStart[g]:k.groupStart[g+1]]
		switch k.red {
		case scatterNone:
			if gu != nil {
				last := int(mem[len(mem)-1]) * n
				for i := 0; i < n; i++ {
					gu[last+i] += gy[base+i]
				}
			}
		case scatterAdd:
			for i := 0; i < n; i++ {
				if gd != nil {
					gd[base+i] += gy[base+i]
				}
				if gu != nil {
					for _, u := range mem {
						gu[int(u)*n+i] += gy[base+i]
					}
				}
			}
		case scatterMul:
			for i := 0; i < n; i++ {
				g := gy[base+i]
				if gd != nil {
					p := g
					for _, u := range mem {
						p *= upd[int(u)*n+i]
					}
					gd[base+i] += p
				}
				if gu != nil {
					for _, u := range mem {
						p := g * data[base+i]
						for _, v := range mem {
							if v != u {
								p *= upd[int(v)*n+i]
							}
						}
						gu[int(u)*n+i] += p
					}
				}
			}
		case scatterMax, scatterMin:
			for i := 0; i < n; i++ {
				r := y[base+i]
				ties := T(0)
				if data[base+i] == r {
					ties++
				}
				for _, u := range mem {
					if upd[int(u)*n+i] == r {
						ties++
					}
				}
				g := gy[base+i] / ties
				if gd != nil && data[base+i] == r {
					gd[base+i] += g
				}
				if gu != nil {
					for _, u := range mem {
						if upd[int(u)*n+i] == r {
							gu[int(u)*n+i] += g
						}
					}
				}
			}
		}
	}
}
