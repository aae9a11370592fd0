package models

import (
	"math"
	"unsafe"

	"github.com/advmatrix/advmatrix/internal/vec"
)

// Depthwise convolution (one filter per channel) as long vector loops.
//
// Each channel plane is copied, zero-padded, into s×s phase planes for
// stride s: phase (a, b) holds the padded pixels whose row is a mod s and
// column b mod s, in rows of width wq. On that layout the pixels seen by
// kernel tap (i, j) at output (oy, ox) sit at a fixed offset from
// oy·wq + ox in one phase plane, so the whole output plane, computed on a
// grid of width wq, is a sum of kh·kw scaled shifted copies: one
// multiply-add loop per tap over oh·wq values instead of kh·kw·oh short
// row loops. The grid's columns from ow to wq are waste, a pad's width.
// The input gradient runs the same loops in reverse (scaled adds into the
// phase planes), the weight gradient is one dot product per tap.

type dwPlan struct {
	sy, sx   int // strides
	hq, wq   int // phase plane rows and width
	plane    int // (hq+1)·wq: a spare row absorbs the shifted reads past the last row
	taps     []int
	tapPhase []int
	offs     []int // tap t reads the phase planes from offs[t] = tapPhase[t]·plane + taps[t]

	// flat, for float32 at stride 1 with outputs as wide as the input:
	// the plane is copied whole (one copy, not one per row) between zero
	// rows into a buffer without side padding, and the sum of taps is
	// written straight into the output. Taps that reach past the left or
	// right edge read the neighbouring row there, so the pl leftmost and
	// pr rightmost output columns are recomputed directly.
	flat      bool
	flatSlack int   // elements before and after the rows, for the edge taps' reads
	flatOffs  []int // tap t reads from flatOffs[t] + oy·w + ox
}

func newDWPlan(w *window) *dwPlan {
	p := &dwPlan{sy: w.sh, sx: w.sw}
	hp, wp := w.h+w.pt+w.pb, w.w+w.pl+w.pr
	p.hq, p.wq = (hp+w.sh-1)/w.sh, (wp+w.sw-1)/w.sw
	p.plane = (p.hq + 1) * p.wq
	for i := 0; i < w.kh; i++ {
		for j := 0; j < w.kw; j++ {
			ri, cj := i*w.dh, j*w.dw
			p.tapPhase = append(p.tapPhase, (ri%w.sh)*w.sw+cj%w.sw)
			p.taps = append(p.taps, (ri/w.sh)*p.wq+cj/w.sw)
			p.offs = append(p.offs, p.tapPhase[len(p.tapPhase)-1]*p.plane+p.taps[len(p.taps)-1])
		}
	}
	// On narrow maps the recomputed edge columns would be too large a share.
	if w.sameWidth() && !w.oneD && w.w >= 4*(w.pl+w.pr) {
		p.flat = true
		p.flatSlack = max(w.pl, w.pr)
		for i := 0; i < w.kh; i++ {
			for j := 0; j < w.kw; j++ {
				p.flatOffs = append(p.flatOffs, p.flatSlack+i*w.dh*w.w+j*w.dw-w.pl)
			}
		}
	}
	return p
}

// dwBufs is one slot's scratch: the phase planes of one channel, their
// gradient, and an output (or cotangent) grid.
type dwBufs[T Float] struct {
	phases, gphases []T // sy·sx planes
	grid            []T // oh·wq
}

// split copies plane xc (h×w) into the phase planes. It writes the
// image's pixels only: the padding must have been zeroed, once per call,
// since every channel writes the same positions.
func (k *convK[T]) split(xc, phases []T) {
	w, p := k.w, k.dw
	for y := 0; y < w.h; y++ {
		py := y + w.pt
		row := xc[y*w.w : (y+1)*w.w]
		rowBase := (py%p.sy)*p.sx*p.plane + (py/p.sy)*p.wq
		if p.sx == 1 {
			copy(phases[rowBase+w.pl:rowBase+w.pl+w.w], row)
			continue
		}
		// Columns of one phase are every sx-th pixel.
		for b := 0; b < p.sx; b++ {
			x := ((b-w.pl)%p.sx + p.sx) % p.sx
			if x >= w.w {
				continue
			}
			dst := phases[rowBase+b*p.plane+(x+w.pl)/p.sx:]
			for c := 0; x < w.w; x, c = x+p.sx, c+1 {
				dst[c] = row[x]
			}
		}
	}
}

// merge adds the interior of the phase planes back into plane gx (h×w):
// the adjoint of split.
func (k *convK[T]) merge(gphases, gx []T) {
	w, p := k.w, k.dw
	for y := 0; y < w.h; y++ {
		py := y + w.pt
		row := gx[y*w.w : (y+1)*w.w]
		if p.sx == 1 {
			base := ((py%p.sy)*p.sx)*p.plane + (py/p.sy)*p.wq + w.pl
			for x, v := range gphases[base : base+w.w] {
				row[x] += v
			}
			continue
		}
		for x := range row {
			px := x + w.pl
			row[x] += gphases[((py%p.sy)*p.sx+px%p.sx)*p.plane+(py/p.sy)*p.wq+px/p.sx]
		}
	}
}

func (k *convK[T]) depthwiseForward(x, wt, y []T, buf *dwBufs[T]) {
	if x32, ok := asFloat32(x); ok && k.dw.flat {
		w32, _ := asFloat32(wt)
		y32, _ := asFloat32(y)
		ph32, _ := asFloat32(buf.phases)
		k.depthwiseFlat(x32, w32, y32, ph32)
		return
	}
	w, p := k.w, k.dw
	hw, kk, n := w.h*w.w, w.kh*w.kw, w.oh*p.wq
	grid := buf.grid[:n]
	clear(buf.phases)
	for c := 0; c < k.c; c++ {
		k.split(x[c*hw:(c+1)*hw], buf.phases)
		f := wt[c*kk : (c+1)*kk]
		if g32, ok := asFloat32(grid); ok {
			f32, _ := asFloat32(f)
			ph32, _ := asFloat32(buf.phases)
			vec.SumScaled(g32, f32, ph32, p.offs)
		} else {
			clear(grid)
			for t, off := range p.offs {
				axpy(f[t], buf.phases[off:], grid)
			}
		}
		yc := y[c*k.ohw : (c+1)*k.ohw]
		for oy := 0; oy < w.oh; oy++ {
			copy(yc[oy*w.ow:(oy+1)*w.ow], grid[oy*p.wq:])
		}
	}
}

// depthwiseFlat is depthwiseForward in the flat layout (see dwPlan.flat).
func (k *convK[T]) depthwiseFlat(x, wt, y, buf []float32) {
	w, p := k.w, k.dw
	hw, kk := w.h*w.w, w.kh*w.kw
	data := buf[p.flatSlack+w.pt*w.w : p.flatSlack+w.pt*w.w+hw]
	clear(buf) // the zero rows and the slack are never written below
	for c := 0; c < k.c; c++ {
		xc, f := x[c*hw:(c+1)*hw], wt[c*kk:(c+1)*kk]
		copy(data, xc)
		yc := y[c*k.ohw : (c+1)*k.ohw]
		vec.SumScaled(yc, f, buf, p.flatOffs)
		for oy := 0; oy < w.oh; oy++ {
			for ox := 0; ox < w.pl; ox++ {
				yc[oy*w.ow+ox] = k.dwPoint(xc, f, oy, ox)
			}
			for ox := max(w.pl, w.ow-w.pr); ox < w.ow; ox++ {
				yc[oy*w.ow+ox] = k.dwPoint(xc, f, oy, ox)
			}
		}
	}
}

// dwPoint is one output of a stride-1 depthwise convolution of plane xc
// with filter f, accumulated over the taps in order with fused
// multiply-adds, as vec.SumScaled does (out-of-image taps add zero).
func (k *convK[T]) dwPoint(xc, f []float32, oy, ox int) float32 {
	w := k.w
	var acc float32
	for i := 0; i < w.kh; i++ {
		iy := oy + i*w.dh - w.pt
		for j := 0; j < w.kw; j++ {
			ix := ox + j*w.dw - w.pl
			var v float32
			if iy >= 0 && iy < w.h && ix >= 0 && ix < w.w {
				v = xc[iy*w.w+ix]
			}
			acc = float32(math.FMA(float64(f[i*w.kw+j]), float64(v), float64(acc)))
		}
	}
	return acc
}

func (k *convK[T]) depthwiseBackward(x, wt, gy, gx, gw []T, buf *dwBufs[T]) {
	w, p := k.w, k.dw
	hw, kk, n := w.h*w.w, w.kh*w.kw, w.oh*p.wq
	grid := buf.grid
	clear(grid) // the waste columns stay zero
	clear(buf.phases)
	for c := 0; c < k.c; c++ {
		gyc := gy[c*k.ohw : (c+1)*k.ohw]
		for oy := 0; oy < w.oh; oy++ {
			copy(grid[oy*p.wq:oy*p.wq+w.ow], gyc[oy*w.ow:(oy+1)*w.ow])
		}
		if gw != nil {
			k.split(x[c*hw:(c+1)*hw], buf.phases)
			g := gw[c*kk : (c+1)*kk]
			for t, off := range p.taps {
				g[t] += dot(grid[:n], buf.phases[p.tapPhase[t]*p.plane+off:])
			}
		}
		if gx != nil {
			clear(buf.gphases)
			f := wt[c*kk : (c+1)*kk]
			for t, off := range p.taps {
				o := p.tapPhase[t]*p.plane + off
				axpy(f[t], grid[:n], buf.gphases[o:o+n])
			}
			k.merge(buf.gphases, gx[c*hw:(c+1)*hw])
		}
	}
}

// axpy adds a·x[i] to y[i] for i < len(y); float32 runs the SIMD loop.
func axpy[T Float](a T, x, y []T) {
	if x32, ok := asFloat32(x); ok {
		y32, _ := asFloat32(y)
		vec.Axpy(float32(a), x32, y32)
		return
	}
	x = x[:len(y)]
	for i, v := range x {
		y[i] += a * v
	}
}

// dot is the sum of x[i]·y[i] over i < len(x).
func dot[T Float](x, y []T) T {
	if x32, ok := asFloat32(x); ok {
		y32, _ := asFloat32(y)
		return T(vec.Dot(x32, y32))
	}
	y = y[:len(x)]
	var s T
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// asFloat32 views x as []float32 when T is float32.
func asFloat32[T Float](x []T) ([]float32, bool) {
	var zero T
	if unsafe.Sizeof(zero) != 4 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x)), true
}
