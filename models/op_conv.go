package models

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/advmatrix/advmatrix/internal/gemm"
	"github.com/advmatrix/advmatrix/internal/parallel"
	"github.com/advmatrix/advmatrix/internal/vec"
)

func init() {
	register("Conv", 1, nil, buildConv[float32], buildConv[float64])
}

// window is the geometry shared by convolution and pooling over 2-D
// spatial axes (1-D inputs run as H = 1).
type window struct {
	h, w       int // input
	kh, kw     int
	sh, sw     int
	dh, dw     int
	pt, pl     int // padding before
	pb, pr     int // padding after
	oh, ow     int // output
	ceil       bool
	oneD       bool
	spatialLen int
}

// parseWindow reads kernel_shape/strides/dilations/pads/auto_pad for a
// spatial input shape (everything after N and C).
func parseWindow(c *buildCtx, spatial, kernel []int, allowCeil bool) (*window, error) {
	if len(spatial) != 1 && len(spatial) != 2 {
		return nil, c.errorf("only 1-D and 2-D spatial inputs are supported, got %d spatial dims", len(spatial))
	}
	r := len(spatial)
	if len(kernel) != r {
		return nil, c.errorf("kernel shape %v does not match %d spatial dims", kernel, r)
	}
	get := func(name string, def int, n int) ([]int, error) {
		v, ok, err := c.attrInts(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			v = make([]int, n)
			for i := range v {
				v[i] = def
			}
		}
		if len(v) != n {
			return nil, c.errorf("attribute %s has %d values, expects %d", name, len(v), n)
		}
		return v, nil
	}
	strides, err := get("strides", 1, r)
	if err != nil {
		return nil, err
	}
	dil, err := get("dilations", 1, r)
	if err != nil {
		return nil, err
	}
	pads, err := get("pads", 0, 2*r)
	if err != nil {
		return nil, err
	}
	autoPad, err := c.attrString("auto_pad", "NOTSET")
	if err != nil {
		return nil, err
	}
	ceil := 0
	if allowCeil {
		if ceil, err = c.attrInt("ceil_mode", 0); err != nil {
			return nil, err
		}
	}
	for i := 0; i < r; i++ {
		if strides[i] < 1 || dil[i] < 1 || kernel[i] < 1 {
			return nil, c.errorf("kernel %v, strides %v and dilations %v must be positive", kernel, strides, dil)
		}
		if pads[i] < 0 || pads[i+r] < 0 {
			return nil, c.errorf("negative pads %v are not supported", pads)
		}
		if int64(pads[i]) > c.maxElem || int64(pads[i+r]) > c.maxElem || int64(kernel[i]) > c.maxElem ||
			int64(strides[i]) > c.maxElem || int64(dil[i]) > c.maxElem || int64(spatial[i]) > c.maxElem {
			return nil, c.errorf("kernel %v, strides %v, dilations %v or pads %v are out of range", kernel, strides, dil, pads)
		}
	}
	out := make([]int, r)
	for i := 0; i < r; i++ {
		ek := (kernel[i]-1)*dil[i] + 1
		switch autoPad {
		case "NOTSET", "":
			num := spatial[i] + pads[i] + pads[i+r] - ek
			if num < 0 {
				return nil, c.errorf("kernel extent %d exceeds padded input %d", ek, spatial[i]+pads[i]+pads[i+r])
			}
			if ceil != 0 {
				out[i] = (num+strides[i]-1)/strides[i] + 1
				// PyTorch/ONNX: the last window must start inside the input or left padding.
				if (out[i]-1)*strides[i] >= spatial[i]+pads[i] {
					out[i]--
				}
			} else {
				out[i] = num/strides[i] + 1
			}
		case "VALID":
			pads[i], pads[i+r] = 0, 0
			if spatial[i] < ek {
				return nil, c.errorf("kernel extent %d exceeds input %d", ek, spatial[i])
			}
			out[i] = (spatial[i]-ek)/strides[i] + 1
		case "SAME_UPPER", "SAME_LOWER":
			out[i] = (spatial[i] + strides[i] - 1) / strides[i]
			total := max(0, (out[i]-1)*strides[i]+ek-spatial[i])
			if autoPad == "SAME_UPPER" {
				pads[i], pads[i+r] = total/2, total-total/2
			} else {
				pads[i], pads[i+r] = total-total/2, total/2
			}
		default:
			return nil, c.errorf("unknown auto_pad %q", autoPad)
		}
	}
	total := int64(1)
	for _, o := range out {
		if o <= 0 || int64(o) > c.maxElem {
			return nil, c.errorf("output spatial size %v is out of range", out)
		}
		total *= int64(o)
		if total > c.maxElem {
			return nil, c.errorf("output spatial size %v exceeds the limit of %d elements", out, c.maxElem)
		}
	}
	wd := &window{ceil: ceil != 0}
	if r == 1 {
		wd.oneD = true
		wd.h, wd.w, wd.kh, wd.kw, wd.sh, wd.sw, wd.dh, wd.dw = 1, spatial[0], 1, kernel[0], 1, strides[0], 1, dil[0]
		wd.pl, wd.pr, wd.oh, wd.ow = pads[0], pads[1], 1, out[0]
	} else {
		wd.h, wd.w, wd.kh, wd.kw = spatial[0], spatial[1], kernel[0], kernel[1]
		wd.sh, wd.sw, wd.dh, wd.dw = strides[0], strides[1], dil[0], dil[1]
		wd.pt, wd.pl, wd.pb, wd.pr = pads[0], pads[1], pads[2], pads[3]
		wd.oh, wd.ow = out[0], out[1]
	}
	return wd, nil
}

func (w *window) outSpatial() []int {
	if w.oneD {
		return []int{w.ow}
	}
	return []int{w.oh, w.ow}
}

// im2col unfolds one image's cn channels into col, laid out as (cn·kh·kw)
// rows of oh·ow columns, row r starting at col[r·ld]; out-of-image taps are
// zero. A row stride larger than oh·ow places several images side by side.
func im2col[T Float](w *window, x []T, cn int, col []T, ld int) {
	ohw := w.oh * w.ow
	for c := 0; c < cn; c++ {
		xc := x[c*w.h*w.w : (c+1)*w.h*w.w]
		for i := 0; i < w.kh; i++ {
			for j := 0; j < w.kw; j++ {
				row := col[((c*w.kh+i)*w.kw+j)*ld:][:ohw]
				if w.sameWidth() {
					shiftedCopy(w, row, xc, i, j)
					continue
				}
				ix := j*w.dw - w.pl
				lo, hi := w.validCols(ix)
				for oy := 0; oy < w.oh; oy++ {
					iy := oy*w.sh - w.pt + i*w.dh
					dst := row[oy*w.ow : (oy+1)*w.ow]
					if iy < 0 || iy >= w.h || hi <= lo {
						clear(dst)
						continue
					}
					src := xc[iy*w.w : (iy+1)*w.w]
					clear(dst[:lo])
					if w.sw == 1 {
						copy(dst[lo:hi], src[ix+lo:ix+hi])
					} else {
						for ox := lo; ox < hi; ox++ {
							dst[ox] = src[ox*w.sw+ix]
						}
					}
					clear(dst[hi:])
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: it adds col back into the image. It may
// overwrite col.
func col2im[T Float](w *window, col []T, cn int, x []T, ld int) {
	ohw := w.oh * w.ow
	for c := 0; c < cn; c++ {
		xc := x[c*w.h*w.w : (c+1)*w.h*w.w]
		for i := 0; i < w.kh; i++ {
			for j := 0; j < w.kw; j++ {
				row := col[((c*w.kh+i)*w.kw+j)*ld:][:ohw]
				if w.sameWidth() {
					shiftedAdd(w, xc, row, i, j)
					continue
				}
				ix := j*w.dw - w.pl
				lo, hi := w.validCols(ix)
				if hi <= lo {
					continue
				}
				for oy := 0; oy < w.oh; oy++ {
					iy := oy*w.sh - w.pt + i*w.dh
					if iy < 0 || iy >= w.h {
						continue
					}
					src := row[oy*w.ow : (oy+1)*w.ow]
					dst := xc[iy*w.w : (iy+1)*w.w]
					if w.sw == 1 {
						d := dst[ix+lo : ix+hi]
						for t, v := range src[lo:hi] {
							d[t] += v
						}
						continue
					}
					for ox := lo; ox < hi; ox++ {
						dst[ox*w.sw+ix] += src[ox]
					}
				}
			}
		}
	}
}

// validCols is the range of output columns whose tap, at input column
// ox·sw + ix, falls inside the image.
func (w *window) validCols(ix int) (lo, hi int) {
	lo = max(0, (-ix+w.sw-1)/w.sw)
	hi = min(w.ow, (w.w-ix+w.sw-1)/w.sw)
	return lo, hi
}

// sameWidth reports a stride-1 window whose output rows are as wide as
// the input's, as with "same" padding: a tap's im2col row is then the
// image plane shifted by a constant, so it moves as one block instead of
// oh short rows.
func (w *window) sameWidth() bool { return w.sw == 1 && w.sh == 1 && w.ow == w.w }

// shiftedCopy writes tap (i, j)'s im2col row of plane xc for a sameWidth
// window: the plane shifted by (i·dh − pt)·w + j·dw − pl, with the rows
// and columns that fall outside the image zeroed.
func shiftedCopy[T Float](w *window, row, xc []T, i, j int) {
	d0, d1, s0, s1, ok := w.shiftedSpan(i, j)
	if !ok {
		clear(row)
		return
	}
	clear(row[:d0])
	copy(row[d0:d1], xc[s0:s1])
	clear(row[d1:])
	clearWrapped(w, row, i, j)
}

// shiftedAdd is shiftedCopy's adjoint: it adds the in-image part of tap
// (i, j)'s row into plane xc, zeroing the rest of row first.
func shiftedAdd[T Float](w *window, xc, row []T, i, j int) {
	d0, d1, s0, s1, ok := w.shiftedSpan(i, j)
	if !ok {
		return
	}
	clearWrapped(w, row, i, j)
	axpy(1, row[d0:d1], xc[s0:s1]) // 1·x + y rounds as x + y
}

// shiftedSpan is the block of a sameWidth tap's row, [d0, d1), that maps
// onto plane elements [s0, s1): the output rows whose input row is inside
// the image, less the elements that would fall before or after the plane
// (which are wrapped columns, zero).
func (w *window) shiftedSpan(i, j int) (d0, d1, s0, s1 int, ok bool) {
	dy, dx := i*w.dh-w.pt, j*w.dw-w.pl
	oy0, oy1 := max(0, -dy), min(w.oh, w.h-dy)
	if oy1 <= oy0 || dx <= -w.w || dx >= w.w {
		return 0, 0, 0, 0, false
	}
	d0, d1 = oy0*w.ow, oy1*w.ow
	off := dy*w.w + dx
	s0, s1 = d0+off, d1+off
	if s0 < 0 {
		d0, s0 = d0-s0, 0
	}
	if n := w.h * w.w; s1 > n {
		d1, s1 = d1-(s1-n), n
	}
	return d0, d1, s0, s1, true
}

// clearWrapped zeros, in the rows of a sameWidth tap's row that lie inside
// the image, the columns whose input column does not: in the shifted
// block they hold the neighbouring row's pixels.
func clearWrapped[T Float](w *window, row []T, i, j int) {
	dy, dx := i*w.dh-w.pt, j*w.dw-w.pl
	lo, hi := max(0, -dx), min(w.ow, w.w-dx)
	if lo == 0 && hi == w.ow {
		return
	}
	// A plain loop: the runs are a pad wide, too short for clear's call.
	for oy := max(0, -dy); oy < min(w.oh, w.h-dy); oy++ {
		r := row[oy*w.ow : (oy+1)*w.ow]
		for c := range r[:lo] {
			r[c] = 0
		}
		for c := range r[hi:] {
			r[hi+c] = 0
		}
	}
}

// convK is a grouped 2-D convolution by im2col and GEMM. The batch is cut
// into chunks that run in parallel, each with its own scratch; the
// chunking depends only on the shapes, so results are the same bit for bit
// on any number of cores.
type convK[T Float] struct {
	w         *window
	n, c, m   int
	groups    int
	cg, mg    int
	kdim      int // cg·kh·kw
	ohw       int
	hasBias   bool
	direct    bool  // 1×1, stride 1, no padding: the image is its own col
	nb        int   // images per GEMM: small feature maps are batched so GEMM gets wide
	chunks    int   // groups of images run in parallel
	wgrads    [][]T // per chunk partial weight gradients
	bgrads    [][]T
	depthwise bool
	dw        *dwPlan // depthwise geometry
	wsize     int

	// Scratch comes from the program's shared arena (setScratch), one
	// region per slot; a running chunk holds a slot. Slots are as many as
	// chunks can run at once, not as many as chunks.
	slots     []convScratch[T]
	freeSlots atomic.Uint64 // bit i set: slot i is free

	relu    bool       // a fused ReLU: the output is max(0, conv)
	shift   *shiftPlan // non-nil: stride-1 convolution by shifted GEMMs
	fixedW  bool       // the weights change only when parameters are reloaded
	tapsOK  bool       // taps hold the current weights
	tapsTOK bool       // tapsT or wT hold the current weights
	taps    []T        // W as kh·kw matrices m × c
	tapsT   []T        // and c × m

	// The current call's operands, for the chunk functions below, which
	// are method values made once so that dispatching them allocates
	// nothing.
	in, out, gout, gin [][]T
	wT                 []T // per group, the weights transposed (kdim×mg), for the input gradient
	group              parallel.Group
	fwdFn, bwdFn       func(int)
}

func buildConv[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(2, 3); err != nil {
		return nil, err
	}
	x, err := c.floatIn(0)
	if err != nil {
		return nil, err
	}
	wt, err := c.floatIn(1)
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 3 || len(wt.shape) != len(x.shape) {
		return nil, c.errorf("input %v and weight %v must both be N×C×spatial", x.shape, wt.shape)
	}
	groups, err := c.attrInt("group", 1)
	if err != nil {
		return nil, err
	}
	kshape, ok, err := c.attrInts("kernel_shape")
	if err != nil {
		return nil, err
	}
	if !ok {
		kshape = wt.shape[2:]
	}
	if len(kshape) != len(wt.shape)-2 {
		return nil, c.errorf("kernel_shape %v does not match weight %v", kshape, wt.shape)
	}
	for i, v := range kshape {
		if v != wt.shape[2+i] {
			return nil, c.errorf("kernel_shape %v disagrees with weight %v", kshape, wt.shape)
		}
	}
	wd, err := parseWindow(c, x.shape[2:], kshape, false)
	if err != nil {
		return nil, err
	}
	k := &convK[T]{w: wd, n: x.shape[0], c: x.shape[1], m: wt.shape[0], groups: groups}
	if groups < 1 || k.c%groups != 0 || k.m%groups != 0 {
		return nil, c.errorf("group %d does not divide %d input and %d output channels", groups, k.c, k.m)
	}
	k.cg, k.mg = k.c/groups, k.m/groups
	if wt.shape[1] != k.cg {
		return nil, c.errorf("weight %v expects %d input channels per group, input has %d", wt.shape, wt.shape[1], k.cg)
	}
	if b := c.input(2); b != nil {
		if numel(b.shape) != k.m || len(b.shape) != 1 {
			return nil, c.errorf("bias %v must have %d elements", b.shape, k.m)
		}
		k.hasBias = true
	}
	k.kdim = k.cg * wd.kh * wd.kw
	k.ohw = wd.oh * wd.ow
	k.wsize = numel(wt.shape)
	k.direct = wd.kh == 1 && wd.kw == 1 && wd.sh == 1 && wd.sw == 1 && wd.pt+wd.pl+wd.pb+wd.pr == 0
	k.depthwise = k.cg == 1 && k.mg == 1
	// Batch images until GEMM sees about 1024 columns: per-image products
	// on a 4×4 map would stream every weight once per image.
	k.nb = min(k.n, max(1, (1024+k.ohw-1)/k.ohw))
	if k.depthwise {
		k.nb = 1
		k.dw = newDWPlan(wd)
	}
	k.chunks = (k.n + k.nb - 1) / k.nb
	if k.nb == 1 {
		// One image per chunk would make as many partial weight gradients
		// as images; group them into at most 8 chunks instead.
		k.chunks = min(k.n, 8)
	}
	// Stride-1 convolutions whose padding wastes little (large maps) run as
	// shifted GEMMs; on small maps the padded grid is mostly padding, and
	// im2col's copies are cheap next to the GEMM over many channels. With
	// few input channels each tap's product would be only that deep (a
	// one-channel stem: kh·kw products of depth 1, and weight gradients one
	// column wide), so im2col's single deep product wins there too.
	useful := float64(wd.oh*wd.ow) / float64((wd.h+wd.pt+wd.pb)*(wd.w+wd.pl+wd.pr))
	if k.groups == 1 && !k.depthwise && !wd.oneD && wd.sh == 1 && wd.sw == 1 && wd.dh == 1 && wd.dw == 1 && wd.kh*wd.kw > 1 && useful >= 0.7 && k.c >= 8 {
		k.setupShift()
	}
	k.slots = make([]convScratch[T], min(k.usedChunks(), parallel.Concurrency(), 64))
	k.freeSlots.Store(1<<len(k.slots) - 1)
	out := append([]int{k.n, k.m}, wd.outSpatial()...)
	return k, c.setOut(0, out, x.dtype)
}

// convScratch is one slot's working memory.
type convScratch[T Float] struct {
	col  []T // im2col of nb images side by side, kdim × nb·ohw
	ybuf []T // (nb > 1) outputs or their cotangents, m × nb·ohw
	sb   shiftBufs[T]
	dw   dwBufs[T]
}

// scratchSize is the arena one call needs: every slot's buffers for
// whichever path the convolution takes.
func (k *convK[T]) scratchSize() int {
	return len(k.slots) * k.slotSize()
}

func (k *convK[T]) slotSize() int {
	switch {
	case k.depthwise:
		p := k.dw
		return 2*alignUp(p.sy*p.sx*p.plane) + alignUp(k.w.oh*p.wq)
	case k.shift != nil:
		sp := k.shift
		return alignUp(k.c*sp.ldx) + alignUp(k.m*k.nb*sp.p) + alignUp(k.m*sp.ldg) + alignUp(k.c*k.nb*sp.pg) + alignUp(k.wsize)
	case k.direct && k.nb == 1:
		return 0
	}
	n := alignUp(k.kdim * k.nb * k.ohw)
	if k.nb > 1 {
		n += alignUp(k.m * k.nb * k.ohw)
	}
	return n
}

// setScratch carves every slot's buffers out of the shared arena.
func (k *convK[T]) setScratch(buf []T) {
	per := k.slotSize()
	for i := range k.slots {
		r := buf[i*per : (i+1)*per]
		take := func(n int) []T {
			v := r[:n:n]
			r = r[alignUp(n):]
			return v
		}
		s := &k.slots[i]
		switch {
		case k.depthwise:
			p := k.dw
			s.dw.phases = take(p.sy * p.sx * p.plane)
			s.dw.gphases = take(p.sy * p.sx * p.plane)
			s.dw.grid = take(k.w.oh * p.wq)
		case k.shift != nil:
			sp := k.shift
			s.sb.xpad = take(k.c * sp.ldx)
			s.sb.grid = take(k.m * k.nb * sp.p)
			s.sb.gpad = take(k.m * sp.ldg)
			s.sb.gxgrd = take(k.c * k.nb * sp.pg)
			s.sb.dtaps = take(k.wsize)
		case k.direct && k.nb == 1:
		default:
			s.col = take(k.kdim * k.nb * k.ohw)
			if k.nb > 1 {
				s.ybuf = take(k.m * k.nb * k.ohw)
			}
		}
	}
}

// acquire takes a free scratch slot. There are as many slots as chunks
// can run at once, so one is always free.
func (k *convK[T]) acquire() *convScratch[T] {
	for {
		f := k.freeSlots.Load()
		if f == 0 {
			runtime.Gosched()
			continue
		}
		bit := f & -f
		if k.freeSlots.And(^bit)&bit != 0 {
			return &k.slots[bits.TrailingZeros64(bit)]
		}
	}
}

func (k *convK[T]) release(s *convScratch[T]) {
	i := (uintptr(unsafe.Pointer(s)) - uintptr(unsafe.Pointer(&k.slots[0]))) / unsafe.Sizeof(*s)
	k.freeSlots.Or(1 << i)
}

// chunkRange is the batch slice of chunk ch; it depends only on the
// shapes, never on the number of cores.
func (k *convK[T]) chunkRange(ch int) (int, int) {
	per := (k.n + k.chunks - 1) / k.chunks
	return ch * per, min(k.n, (ch+1)*per)
}

func (k *convK[T]) usedChunks() int {
	per := (k.n + k.chunks - 1) / k.chunks
	return (k.n + per - 1) / per
}

func (k *convK[T]) forward(in, out [][]T) {
	if k.fwdFn == nil {
		k.fwdFn = k.forwardChunk
	}
	k.in, k.out = in, out
	if k.shift != nil && !(k.fixedW && k.tapsOK) {
		k.packTaps(in[1], false)
		k.tapsOK = true
	}
	k.group.For(k.usedChunks(), k.fwdFn)
	k.in, k.out = nil, nil
}

func (k *convK[T]) forwardChunk(ch int) {
	x, wt, y := k.in[0], k.in[1], k.out[0]
	var bias []T
	if k.hasBias {
		bias = k.in[2]
	}
	hw := k.w.h * k.w.w
	n0, n1 := k.chunkRange(ch)
	sc := k.acquire()
	defer k.release(sc)
	if k.shift != nil {
		k.shiftForward(x, y, bias, n0, n1, &sc.sb)
		k.reluOut(y, n0, n1)
		return
	}
	col, ybuf := sc.col, sc.ybuf
	if k.nb > 1 {
		// Unfold the images side by side, one GEMM per group, then scatter
		// the columns back to N×M×H×W.
		nb := n1 - n0
		ld := nb * k.ohw
		for g := 0; g < k.groups; g++ {
			for i := 0; i < nb; i++ {
				xg := x[(n0+i)*k.c*hw+g*k.cg*hw:]
				im2col(k.w, xg, k.cg, col[i*k.ohw:], ld)
			}
			k.mm(false, false, k.mg, ld, k.kdim, 1, wt[g*k.mg*k.kdim:], k.kdim, col, ld, 0, ybuf[g*k.mg*ld:], ld)
		}
		for i := 0; i < nb; i++ {
			yn := y[(n0+i)*k.m*k.ohw : (n0+i+1)*k.m*k.ohw]
			for m := 0; m < k.m; m++ {
				copy(yn[m*k.ohw:(m+1)*k.ohw], ybuf[m*ld+i*k.ohw:])
			}
		}
	} else {
		for n := n0; n < n1; n++ {
			xn := x[n*k.c*hw : (n+1)*k.c*hw]
			yn := y[n*k.m*k.ohw : (n+1)*k.m*k.ohw]
			if k.depthwise {
				k.depthwiseForward(xn, wt, yn, &sc.dw)
				continue
			}
			for g := 0; g < k.groups; g++ {
				xg := xn[g*k.cg*hw:]
				src := xg
				if !k.direct {
					im2col(k.w, xg, k.cg, col, k.ohw)
					src = col
				}
				k.mm(false, false, k.mg, k.ohw, k.kdim, 1, wt[g*k.mg*k.kdim:], k.kdim, src, k.ohw, 0, yn[g*k.mg*k.ohw:], k.ohw)
			}
		}
	}
	if bias != nil {
		for n := n0; n < n1; n++ {
			yn := y[n*k.m*k.ohw : (n+1)*k.m*k.ohw]
			for m := 0; m < k.m; m++ {
				b := bias[m]
				row := yn[m*k.ohw : (m+1)*k.ohw]
				for i := range row {
					row[i] += b
				}
			}
		}
	}
	k.reluOut(y, n0, n1)
}

func (k *convK[T]) fuseReLU() bool {
	k.relu = true
	return true
}

// reluOut applies a fused ReLU to images [n0, n1) of the output, which the
// chunk has just written.
func (k *convK[T]) reluOut(y []T, n0, n1 int) {
	if !k.relu {
		return
	}
	y = y[n0*k.m*k.ohw : n1*k.m*k.ohw]
	if y32, ok := asFloat32(y); ok {
		vec.Relu(y32, y32)
		return
	}
	for i, v := range y {
		if !(v > 0) {
			y[i] = 0
		}
	}
}

// reluIn turns images [n0, n1) of the cotangent of a fused ReLU's output
// into the cotangent of its input, in place: zero where the output is.
func (k *convK[T]) reluIn(gy, y []T, n0, n1 int) {
	if !k.relu {
		return
	}
	lo, hi := n0*k.m*k.ohw, n1*k.m*k.ohw
	g, y := gy[lo:hi], y[lo:hi]
	if g32, ok := asFloat32(g); ok {
		y32, _ := asFloat32(y)
		vec.ReluMask(g32, y32)
		return
	}
	for i, v := range y {
		if !(v > 0) {
			g[i] = 0
		}
	}
}

func (k *convK[T]) backward(in, out, gout, gin [][]T) {
	gw := gin[1]
	var gb []T
	if k.hasBias {
		gb = gin[2]
	}
	// Weight and bias gradients sum over the batch: each chunk sums its
	// images into its own buffer, then the chunks are added in order.
	if (gw != nil || gb != nil) && k.wgrads == nil {
		k.wgrads = make([][]T, k.chunks)
		k.bgrads = make([][]T, k.chunks)
		for i := range k.wgrads {
			k.wgrads[i] = make([]T, k.wsize)
			k.bgrads[i] = make([]T, k.m)
		}
	}
	if k.bwdFn == nil {
		k.bwdFn = k.backwardChunk
	}
	if gin[0] != nil && k.fixedW && k.tapsTOK {
		// The rearranged weights from an earlier call are still current.
	} else if k.shift != nil && gin[0] != nil {
		k.packTaps(in[1], true)
		k.tapsTOK = true
	} else if gin[0] != nil && !k.depthwise {
		k.tapsTOK = true
		// Transposing once here saves GEMM from transposing W per image.
		if k.wT == nil {
			k.wT = make([]T, k.wsize)
		}
		wt := in[1]
		for g := 0; g < k.groups; g++ {
			src := wt[g*k.mg*k.kdim : (g+1)*k.mg*k.kdim]
			dst := k.wT[g*k.mg*k.kdim : (g+1)*k.mg*k.kdim]
			for m := 0; m < k.mg; m++ {
				for j, v := range src[m*k.kdim : (m+1)*k.kdim] {
					dst[j*k.mg+m] = v
				}
			}
		}
	}
	k.in, k.out, k.gout, k.gin = in, out, gout, gin
	used := k.usedChunks()
	k.group.For(used, k.bwdFn)
	k.in, k.out, k.gout, k.gin = nil, nil, nil, nil
	for ch := 0; ch < used; ch++ {
		if gw != nil {
			for i, v := range k.wgrads[ch] {
				gw[i] += v
			}
		}
		if gb != nil {
			for i, v := range k.bgrads[ch] {
				gb[i] += v
			}
		}
	}
}

func (k *convK[T]) backwardChunk(ch int) {
	x, wt, gy := k.in[0], k.in[1], k.gout[0]
	gx, gw := k.gin[0], k.gin[1]
	var gb []T
	if k.hasBias {
		gb = k.gin[2]
	}
	hw := k.w.h * k.w.w
	n0, n1 := k.chunkRange(ch)
	k.reluIn(gy, k.out[0], n0, n1)
	sc := k.acquire()
	defer k.release(sc)
	col, gybuf := sc.col, sc.ybuf
	var pw, pb []T
	if gw != nil || gb != nil {
		pw, pb = k.wgrads[ch], k.bgrads[ch]
		clear(pw)
		clear(pb)
	}
	if gb != nil {
		for n := n0; n < n1; n++ {
			gyn := gy[n*k.m*k.ohw : (n+1)*k.m*k.ohw]
			for m := 0; m < k.m; m++ {
				var s T
				for _, v := range gyn[m*k.ohw : (m+1)*k.ohw] {
					s += v
				}
				pb[m] += s
			}
		}
	}
	if k.shift != nil {
		var pwc []T
		if gw != nil {
			pwc = pw
		}
		k.shiftBackward(x, gy, gx, pwc, n0, n1, &sc.sb)
		return
	}
	if k.nb > 1 {
		nb := n1 - n0
		ld := nb * k.ohw
		// Gather the output cotangents side by side, as the forward pass laid
		// out its outputs.
		for i := 0; i < nb; i++ {
			gyn := gy[(n0+i)*k.m*k.ohw : (n0+i+1)*k.m*k.ohw]
			for m := 0; m < k.m; m++ {
				copy(gybuf[m*ld+i*k.ohw:m*ld+(i+1)*k.ohw], gyn[m*k.ohw:(m+1)*k.ohw])
			}
		}
		for g := 0; g < k.groups; g++ {
			gyg := gybuf[g*k.mg*ld:]
			if gw != nil {
				for i := 0; i < nb; i++ {
					im2col(k.w, x[(n0+i)*k.c*hw+g*k.cg*hw:], k.cg, col[i*k.ohw:], ld)
				}
				k.mm(false, true, k.mg, k.kdim, ld, 1, gyg, ld, col, ld, 1, pw[g*k.mg*k.kdim:], k.kdim)
			}
			if gx != nil {
				k.mm(false, false, k.kdim, ld, k.mg, 1, k.wT[g*k.mg*k.kdim:], k.mg, gyg, ld, 0, col, ld)
				for i := 0; i < nb; i++ {
					col2im(k.w, col[i*k.ohw:], k.cg, gx[(n0+i)*k.c*hw+g*k.cg*hw:], ld)
				}
			}
		}
		return
	}
	for n := n0; n < n1; n++ {
		xn := x[n*k.c*hw : (n+1)*k.c*hw]
		gyn := gy[n*k.m*k.ohw : (n+1)*k.m*k.ohw]
		if k.depthwise {
			var gxn, gwp []T
			if gx != nil {
				gxn = gx[n*k.c*hw : (n+1)*k.c*hw]
			}
			if gw != nil {
				gwp = pw
			}
			k.depthwiseBackward(xn, wt, gyn, gxn, gwp, &sc.dw)
			continue
		}
		for g := 0; g < k.groups; g++ {
			xg := xn[g*k.cg*hw:]
			gyg := gyn[g*k.mg*k.ohw:]
			if gw != nil {
				src := xg
				if !k.direct {
					im2col(k.w, xg, k.cg, col, k.ohw)
					src = col
				}
				k.mm(false, true, k.mg, k.kdim, k.ohw, 1, gyg, k.ohw, src, k.ohw, 1, pw[g*k.mg*k.kdim:], k.kdim)
			}
			if gx != nil {
				gxg := gx[n*k.c*hw+g*k.cg*hw:]
				wTg := k.wT[g*k.mg*k.kdim:]
				if k.direct {
					k.mm(false, false, k.kdim, k.ohw, k.mg, 1, wTg, k.mg, gyg, k.ohw, 1, gxg, k.ohw)
				} else {
					k.mm(false, false, k.kdim, k.ohw, k.mg, 1, wTg, k.mg, gyg, k.ohw, 0, col, k.ohw)
					col2im(k.w, col, k.cg, gxg, k.ohw)
				}
			}
		}
	}
}

// mm is the product for chunk work. When several chunks run at once they
// already occupy the cores, so each product stays on its goroutine;
// splitting it again would only add hand-over costs.
func (k *convK[T]) mm(transA, transB bool, m, n, kk int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if k.usedChunks() > 1 {
		gemm.Serial(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemm.Gemm(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc)
}

// backwardReads: the weight gradient reads the input, the input gradient
// the weights; neither reads the output.
func (k *convK[T]) backwardReads(gradIn []bool) (ins, outs []bool) {
	ins = make([]bool, len(gradIn))
	ins[0] = len(gradIn) > 1 && gradIn[1]
	ins[1] = gradIn[0]
	return ins, []bool{k.relu}
}

func (k *convK[T]) setFixedInputs(fixed []bool) { k.fixedW = len(fixed) > 1 && fixed[1] }

func (k *convK[T]) invalidate() { k.tapsOK, k.tapsTOK = false, false }
