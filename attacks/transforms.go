package attacks

import (
	"math"
	"math/rand/v2"
)

// Diversity is the input-diversity transform of DI-FGSM (Xie et al. 2019):
// with probability P the batch is resized to a random size and zero-padded
// at a random offset, one draw for the whole batch per call. The gradient
// flows through the bilinear interpolation and the padding.
//
// Rate < 1 is torchattacks' variant (used by AdaEA): resize down to
// rnd ∈ [⌊Rate·W⌋, W) and pad back to W. Rate > 1 is TransferAttack's:
// resize up to rnd ∈ [W, ⌊Rate·W⌋), pad to ⌊Rate·W⌋ and resize back to W.
type Diversity struct {
	P    float64
	Rate float64
}

// diversity is one draw of the transform for a batch of C×H×W images.
type diversity struct {
	c, h, w     int
	active      bool
	rnd, size   int // resized side, padded side
	top, left   int
	down        axisMap // W → rnd (both axes, square images)
	back        axisMap // size → W when size ≠ W
	bufA, bufB  []float32
	gbufA, gbuf []float32
}

// axisMap is 1-D bilinear interpolation with PyTorch's align_corners=False.
type axisMap struct {
	in, out int
	i0, i1  []int
	lam     []float32
}

func newAxisMap(in, out int) axisMap {
	m := axisMap{in: in, out: out, i0: make([]int, out), i1: make([]int, out), lam: make([]float32, out)}
	scale := float64(in) / float64(out)
	for o := 0; o < out; o++ {
		src := max(0, scale*(float64(o)+0.5)-0.5)
		i0 := min(int(src), in-1)
		m.i0[o], m.i1[o] = i0, min(i0+1, in-1)
		m.lam[o] = float32(src - float64(i0))
	}
	return m
}

// resize interpolates c planes of inH×inW (rows by rm, columns by cm).
func resize(dst, src []float32, c int, rm, cm axisMap, tmp []float32) {
	inH, inW, outH, outW := rm.in, cm.in, rm.out, cm.out
	for p := 0; p < c; p++ {
		s := src[p*inH*inW : (p+1)*inH*inW]
		t := tmp[:inH*outW]
		for y := 0; y < inH; y++ {
			row := s[y*inW : (y+1)*inW]
			for o := 0; o < outW; o++ {
				l := cm.lam[o]
				t[y*outW+o] = row[cm.i0[o]]*(1-l) + row[cm.i1[o]]*l
			}
		}
		d := dst[p*outH*outW : (p+1)*outH*outW]
		for o := 0; o < outH; o++ {
			l := rm.lam[o]
			r0, r1 := t[rm.i0[o]*outW:], t[rm.i1[o]*outW:]
			for x := 0; x < outW; x++ {
				d[o*outW+x] = r0[x]*(1-l) + r1[x]*l
			}
		}
	}
}

// resizeAdjoint adds the transpose of resize applied to g into gs.
func resizeAdjoint(gs, g []float32, c int, rm, cm axisMap, tmp []float32) {
	inH, inW, outH, outW := rm.in, cm.in, rm.out, cm.out
	for p := 0; p < c; p++ {
		gd := g[p*outH*outW : (p+1)*outH*outW]
		t := tmp[:inH*outW]
		clear(t)
		for o := 0; o < outH; o++ {
			l := rm.lam[o]
			r0, r1 := t[rm.i0[o]*outW:], t[rm.i1[o]*outW:]
			for x := 0; x < outW; x++ {
				v := gd[o*outW+x]
				r0[x] += v * (1 - l)
				r1[x] += v * l
			}
		}
		s := gs[p*inH*inW : (p+1)*inH*inW]
		for y := 0; y < inH; y++ {
			row := s[y*inW : (y+1)*inW]
			for o := 0; o < outW; o++ {
				v := t[y*outW+o]
				l := cm.lam[o]
				row[cm.i0[o]] += v * (1 - l)
				row[cm.i1[o]] += v * l
			}
		}
	}
}

// draw picks this call's transform.
func (d Diversity) draw(c, h, w int, rng *rand.Rand) *diversity { return d.redraw(nil, c, h, w, rng) }

// redraw picks this call's transform into prev (nil: a new one), keeping
// its scratch buffers, so that an attack's steps do not allocate them anew.
func (d Diversity) redraw(prev *diversity, c, h, w int, rng *rand.Rand) *diversity {
	dv := &diversity{}
	if prev != nil {
		dv = prev
		*dv = diversity{bufA: prev.bufA, bufB: prev.bufB, gbufA: prev.gbufA, gbuf: prev.gbuf}
	}
	dv.c, dv.h, dv.w = c, h, w
	if d.P <= 0 || rng.Float64() >= d.P {
		return dv
	}
	dv.active = true
	if d.Rate < 1 {
		lo := int(float64(w) * d.Rate)
		dv.rnd = lo + rng.IntN(max(1, w-lo))
		dv.size = w
	} else {
		hi := int(float64(w) * d.Rate)
		dv.rnd = w + rng.IntN(max(1, hi-w))
		dv.size = max(hi, w)
	}
	// The offset is drawn from {0, …, rem−1}, as in Xie et al.'s code and
	// torchattacks (torch.randint's high is exclusive), so the image never
	// touches the far edge.
	rem := dv.size - dv.rnd
	dv.top, dv.left = rng.IntN(max(rem, 1)), rng.IntN(max(rem, 1))
	dv.down = newAxisMap(w, dv.rnd)
	if dv.size != w {
		dv.back = newAxisMap(dv.size, w)
	}
	return dv
}

// apply writes the transformed batch of n images into dst.
func (dv *diversity) apply(dst, x []float32, n int) {
	if !dv.active {
		copy(dst, x)
		return
	}
	c, w := dv.c, dv.w
	rnd, size := dv.rnd, dv.size
	need := c * max(size*size, w*w, rnd*w)
	if len(dv.bufA) < need {
		dv.bufA, dv.bufB = make([]float32, need), make([]float32, need)
		dv.gbufA, dv.gbuf = make([]float32, need), make([]float32, need)
	}
	for i := 0; i < n; i++ {
		xi := x[i*c*w*w : (i+1)*c*w*w]
		di := dst[i*c*w*w : (i+1)*c*w*w]
		small := dv.bufA[:c*rnd*rnd]
		resize(small, xi, c, dv.down, dv.down, dv.bufB)
		padded := di
		if size != w {
			padded = dv.bufB[:c*size*size]
		}
		clear(padded)
		for p := 0; p < c; p++ {
			for y := 0; y < rnd; y++ {
				copy(padded[p*size*size+(y+dv.top)*size+dv.left:], small[p*rnd*rnd+y*rnd:p*rnd*rnd+(y+1)*rnd])
			}
		}
		if size != w {
			resize(di, padded, c, dv.back, dv.back, dv.gbuf)
		}
	}
}

// adjoint writes into gx the gradient with respect to x given g, the
// gradient with respect to the transformed batch.
func (dv *diversity) adjoint(gx, g []float32, n int) {
	if !dv.active {
		copy(gx, g)
		return
	}
	c, w, rnd, size := dv.c, dv.w, dv.rnd, dv.size
	for i := 0; i < n; i++ {
		gi := g[i*c*w*w : (i+1)*c*w*w]
		gpad := gi
		if size != w {
			gpad = dv.gbufA[:c*size*size]
			clear(gpad)
			resizeAdjoint(gpad, gi, c, dv.back, dv.back, dv.bufB)
		}
		gsmall := dv.bufA[:c*rnd*rnd]
		for p := 0; p < c; p++ {
			for y := 0; y < rnd; y++ {
				copy(gsmall[p*rnd*rnd+y*rnd:p*rnd*rnd+(y+1)*rnd], gpad[p*size*size+(y+dv.top)*size+dv.left:])
			}
		}
		gxi := gx[i*c*w*w : (i+1)*c*w*w]
		clear(gxi)
		resizeAdjoint(gxi, gsmall, c, dv.down, dv.down, dv.gbuf)
	}
}

// gaussianKernel is TI-FGSM's smoothing kernel: the outer product of a
// normal pdf sampled on linspace(−nsig, nsig, k), normalised to sum 1.
func gaussianKernel(k int, nsig float64) []float32 {
	if k <= 1 {
		return []float32{1}
	}
	pdf := make([]float64, k)
	for i := range pdf {
		x := -nsig + 2*nsig*float64(i)/float64(k-1)
		pdf[i] = math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
	}
	out := make([]float32, k*k)
	var s float64
	for i := range pdf {
		for j := range pdf {
			s += pdf[i] * pdf[j]
		}
	}
	for i := range pdf {
		for j := range pdf {
			out[i*k+j] = float32(pdf[i] * pdf[j] / s)
		}
	}
	return out
}

// smooth convolves every channel of every image with kern ("same" size,
// zero padding), as TI-FGSM does to the gradient.
func smooth(dst, g []float32, kern []float32, k, planes, h, w int) {
	if k <= 1 {
		copy(dst, g)
		return
	}
	r := k / 2
	for p := 0; p < planes; p++ {
		src := g[p*h*w : (p+1)*h*w]
		out := dst[p*h*w : (p+1)*h*w]
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var s float32
				for i := max(0, r-y); i < min(k, h-y+r); i++ {
					row := src[(y+i-r)*w:]
					kr := kern[i*k:]
					for j := max(0, r-x); j < min(k, w-x+r); j++ {
						s += kr[j] * row[x+j-r]
					}
				}
				out[y*w+x] = s
			}
		}
	}
}
