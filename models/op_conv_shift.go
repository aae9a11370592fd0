package models

// Shifted-GEMM convolution for stride 1, no dilation, one group: the most
// common convolution (every 3×3 layer of a ResNet body) without im2col.
//
// Images are copied once, zero-padded, side by side into one row per
// channel. On that layout the input seen by kernel tap (i, j) for output
// position q is the same row shifted by i·Wp + j, so the convolution is a
// sum of kh·kw GEMMs whose B operands are shifted views of one buffer.
// Outputs are computed on the padded grid and the valid ones copied out;
// the waste is the padding columns. im2col would instead write, and GEMM
// read, kh·kw copies of every input value.

type shiftPlan struct {
	hp, wp, p  int // padded plane and its size
	hg, wg, pg int // gradient plane: H+kh−1 × W+kw−1, the input grid plus the kernel's reach
	ldx, ldg   int // row strides of the padded input and gradient buffers
}

func (k *convK[T]) setupShift() {
	w := k.w
	sp := &shiftPlan{hp: w.h + w.pt + w.pb, wp: w.w + w.pl + w.pr}
	sp.p = sp.hp * sp.wp
	sp.hg, sp.wg = w.h+w.kh-1, w.w+w.kw-1
	sp.pg = sp.hg * sp.wg
	k.shift = sp
	k.nb = min(k.n, max(1, (2048+sp.p-1)/sp.p))
	k.chunks = (k.n + k.nb - 1) / k.nb
	sp.ldx = k.nb*sp.p + (w.kh-1)*sp.wp + w.kw - 1
	sp.ldg = k.nb*sp.pg + (w.kh-1)*sp.wg + w.kw - 1
}

// shiftBufs are one slot's scratch buffers.
type shiftBufs[T Float] struct {
	xpad  []T // c × ldx
	grid  []T // m × nb·p: outputs, or output cotangents for the weight gradient
	gpad  []T // m × ldg: output cotangents padded for the input gradient
	gxgrd []T // c × nb·pg
	dtaps []T // weight gradient by tap
}

// packTaps lays W (m × c × kh × kw) out as kh·kw matrices, m × c each, and,
// when transposed is set, as c × m matrices for the input gradient.
func (k *convK[T]) packTaps(wt []T, transposed bool) {
	kk := k.w.kh * k.w.kw
	if len(k.taps) == 0 {
		k.taps = make([]T, k.wsize)
	}
	dst := k.taps
	if transposed {
		if len(k.tapsT) == 0 {
			k.tapsT = make([]T, k.wsize)
		}
		dst = k.tapsT
	}
	mc := k.m * k.c
	for m := 0; m < k.m; m++ {
		for c := 0; c < k.c; c++ {
			src := wt[(m*k.c+c)*kk : (m*k.c+c+1)*kk]
			for t, v := range src {
				if transposed {
					dst[t*mc+c*k.m+m] = v
				} else {
					dst[t*mc+m*k.c+c] = v
				}
			}
		}
	}
}

// padInto copies images n0..n1 into xpad, zero-padded, side by side.
func (k *convK[T]) padInto(x, xpad []T, n0, n1 int) {
	sp, w := k.shift, k.w
	hw := w.h * w.w
	clear(xpad)
	for b := 0; b < n1-n0; b++ {
		for c := 0; c < k.c; c++ {
			src := x[((n0+b)*k.c+c)*hw:]
			row := xpad[c*sp.ldx+b*sp.p:]
			for y := 0; y < w.h; y++ {
				copy(row[(y+w.pt)*sp.wp+w.pl:(y+w.pt)*sp.wp+w.pl+w.w], src[y*w.w:(y+1)*w.w])
			}
		}
	}
}

func (k *convK[T]) shiftForward(x, y, bias []T, n0, n1 int, buf *shiftBufs[T]) {
	sp, w := k.shift, k.w
	k.padInto(x, buf.xpad, n0, n1)
	nb := n1 - n0
	cols := nb * sp.p
	kk := w.kh * w.kw
	for t := 0; t < kk; t++ {
		off := (t/w.kw)*sp.wp + t%w.kw
		beta := T(1)
		if t == 0 {
			beta = 0
		}
		k.mm(false, false, k.m, cols, k.c, 1, k.taps[t*k.m*k.c:], k.c, buf.xpad[off:], sp.ldx, beta, buf.grid, cols)
	}
	for b := 0; b < nb; b++ {
		yn := y[(n0+b)*k.m*k.ohw : (n0+b+1)*k.m*k.ohw]
		for m := 0; m < k.m; m++ {
			var bv T
			if bias != nil {
				bv = bias[m]
			}
			g := buf.grid[m*cols+b*sp.p:]
			dst := yn[m*k.ohw : (m+1)*k.ohw]
			for oy := 0; oy < w.oh; oy++ {
				src := g[oy*sp.wp : oy*sp.wp+w.ow]
				d := dst[oy*w.ow : (oy+1)*w.ow]
				for i, v := range src {
					d[i] = v + bv
				}
			}
		}
	}
}

func (k *convK[T]) shiftBackward(x, gy, gx, pw []T, n0, n1 int, buf *shiftBufs[T]) {
	sp, w := k.shift, k.w
	nb := n1 - n0
	kk := w.kh * w.kw
	mc := k.m * k.c
	if pw != nil {
		// dW_t (m × c) = Ggrid (m × nb·p) · shifted Xpadᵀ.
		k.padInto(x, buf.xpad, n0, n1)
		cols := nb * sp.p
		clear(buf.grid)
		for b := 0; b < nb; b++ {
			for m := 0; m < k.m; m++ {
				src := gy[((n0+b)*k.m+m)*k.ohw:]
				g := buf.grid[m*cols+b*sp.p:]
				for oy := 0; oy < w.oh; oy++ {
					copy(g[oy*sp.wp:oy*sp.wp+w.ow], src[oy*w.ow:(oy+1)*w.ow])
				}
			}
		}
		dt := buf.dtaps
		for t := 0; t < kk; t++ {
			off := (t/w.kw)*sp.wp + t%w.kw
			k.mm(false, true, k.m, k.c, cols, 1, buf.grid, cols, buf.xpad[off:], sp.ldx, 0, dt[t*mc:], k.c)
		}
		for m := 0; m < k.m; m++ {
			for c := 0; c < k.c; c++ {
				d := pw[(m*k.c+c)*kk : (m*k.c+c+1)*kk]
				for t := range d {
					d[t] += dt[t*mc+m*k.c+c]
				}
			}
		}
	}
	if gx == nil {
		return
	}
	// The input gradient is a full correlation of the output cotangent with
	// the flipped kernel. gx[y, x] = Σ_ij Wᵀ_ij gy[y+pt−i, x+pl−j], so with
	// gy[oy, ox] stored at (oy+kh−1−pt, ox+kw−1−pl) of a plane of width wg,
	// gx on the unpadded input grid is Σ_t Wᵀ_t · (G shifted by tap t).
	// Cotangent rows or columns that reach no input (pads wider than the
	// kernel's reach) fall outside the plane and are dropped.
	clear(buf.gpad)
	r0, c0 := w.kh-1-w.pt, w.kw-1-w.pl
	oxLo, oxHi := max(0, -c0), min(w.ow, sp.wg-c0)
	for b := 0; b < nb; b++ {
		for m := 0; m < k.m; m++ {
			src := gy[((n0+b)*k.m+m)*k.ohw:]
			g := buf.gpad[m*sp.ldg+b*sp.pg:]
			for oy := 0; oy < w.oh; oy++ {
				r := oy + r0
				if r < 0 || r >= sp.hg || oxHi <= oxLo {
					continue
				}
				o := r*sp.wg + c0
				copy(g[o+oxLo:o+oxHi], src[oy*w.ow+oxLo:oy*w.ow+oxHi])
			}
		}
	}
	cols := nb * sp.pg
	for t := 0; t < kk; t++ {
		i, j := t/w.kw, t%w.kw
		off := (w.kh-1-i)*sp.wg + (w.kw - 1 - j)
		beta := T(1)
		if t == 0 {
			beta = 0
		}
		k.mm(false, false, k.c, cols, k.m, 1, k.tapsT[t*mc:], k.m, buf.gpad[off:], sp.ldg, beta, buf.gxgrd, cols)
	}
	hw := w.h * w.w
	for b := 0; b < nb; b++ {
		for c := 0; c < k.c; c++ {
			dst := gx[((n0+b)*k.c+c)*hw:]
			g := buf.gxgrd[c*cols+b*sp.pg:]
			for y := 0; y < w.h; y++ {
				src := g[y*sp.wg : y*sp.wg+w.w]
				d := dst[y*w.w : (y+1)*w.w]
				for i, v := range src {
					d[i] += v
				}
			}
		}
	}
}
