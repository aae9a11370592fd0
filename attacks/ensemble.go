package attacks

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/models"
)

// Helpers shared by the adaptive ensemble attacks (AdaEA, CWA).

// ensembleBatch checks a batch against the surrogates and returns the image
// shape, the values per image, the number of images and of classes.
func ensembleBatch(ms []models.Classifier, x []float32, y []int, square bool) (shape []int, size, n, k int, err error) {
	if len(ms) == 0 {
		return nil, 0, 0, 0, fmt.Errorf("no surrogate models")
	}
	shape = ms[0].InputShape()
	size = 1
	for _, d := range shape {
		size *= d
	}
	n = len(y)
	if n == 0 || len(x) != n*size {
		return nil, 0, 0, 0, fmt.Errorf("%d values for %d labels of %v images", len(x), n, shape)
	}
	if C, H, W := shapeCHW(shape); square && (H != W || C*H*W != size) {
		return nil, 0, 0, 0, fmt.Errorf("input diversity needs square images, have %v", shape)
	}
	k = ms[0].NumClasses()
	for i, l := range y {
		if l < 0 || l >= k {
			return nil, 0, 0, 0, fmt.Errorf("label %d of image %d is outside [0, %d)", l, i, k)
		}
	}
	return shape, size, n, k, nil
}

// splitBatches splits n images into batches of bs (bs ≤ 0: one batch).
func splitBatches(n, bs int) [][2]int {
	if bs <= 0 || bs > n {
		bs = n
	}
	var out [][2]int
	for lo := 0; lo < n; lo += bs {
		out = append(out, [2]int{lo, min(lo+bs, n)})
	}
	return out
}

// memberGrad writes into dst the input gradient of one surrogate's
// batch-MEAN loss (CE untargeted, −CE of the target when targeted: the
// loss the attack ascends) at x and returns the batch-mean CE.
func memberGrad(m models.Classifier, dst, x []float32, labels []int, targeted bool) (float64, error) {
	k := m.NumClasses()
	n := len(labels)
	ce := make([]float64, n)
	err := m.Grad(dst, x, func(z, dz []float32) {
		lossSeed(dz, z, labels, k, 1/float32(n), targeted, ce)
	})
	if err != nil {
		return 0, err
	}
	if err := models.CheckFinite("surrogate gradient", dst); err != nil {
		return 0, err
	}
	var s float64
	for _, v := range ce {
		s += v
	}
	return s / float64(n), nil
}

// meanCE is the batch-mean cross-entropy of m at x against labels.
func meanCE(m models.Classifier, z, x []float32, labels []int) (float64, error) {
	if err := m.Logits(z, x); err != nil {
		return 0, err
	}
	ce := make([]float64, len(labels))
	if err := models.SoftmaxCrossEntropy(nil, z, labels, m.NumClasses(), 1, ce); err != nil {
		return 0, err
	}
	var s float64
	for _, v := range ce {
		s += v
	}
	return s / float64(len(labels)), nil
}

// validateEnsemble checks the settings AdaEA and CWA share.
func validateEnsemble(name string, norm Norm, eps, alpha float64, steps int, momentum float64, ti int, tiSig float64, batch int) error {
	switch {
	case norm == L2:
		return fmt.Errorf("%s: only the L∞ threat model is implemented (the reference code is L∞ only)", name)
	case norm != Linf:
		return fmt.Errorf("%s: unknown norm %v", name, norm)
	case math.IsNaN(eps) || math.IsInf(eps, 0) || eps < 0:
		return fmt.Errorf("%s: eps %v must be >= 0", name, eps)
	case math.IsNaN(alpha) || math.IsInf(alpha, 0) || alpha < 0:
		return fmt.Errorf("%s: alpha %v must be >= 0", name, alpha)
	case steps < 1:
		return fmt.Errorf("%s: steps %d must be >= 1", name, steps)
	case math.IsNaN(momentum) || math.IsInf(momentum, 0) || momentum < 0:
		return fmt.Errorf("%s: momentum %v must be >= 0", name, momentum)
	case ti < 0 || (ti > 1 && ti%2 == 0):
		return fmt.Errorf("%s: TI kernel size %d must be odd", name, ti)
	case ti > 1 && !(tiSig > 0):
		return fmt.Errorf("%s: TI nsig %v must be > 0", name, tiSig)
	case batch < 0:
		return fmt.Errorf("%s: batch size %d must be >= 0 (0: the whole input)", name, batch)
	}
	return nil
}

// CropDiversity is CWA's input diversity: torchvision's RandomCrop(⌊Rate·W⌋,
// padding = W − ⌊Rate·W⌋) — zero-pad every side by p = W − ⌊Rate·W⌋ and
// cut a ⌊Rate·W⌋ window at a random offset — applied with probability P.
// The reference hard-wires 224 px and feeds the 201 px crop to the model;
// here the crop is zero-padded back to the input size at a random offset
// (ONNX models take a fixed size): the image is shifted by a random
// amount in [−2p, 2p] along each axis and windowed to ⌊Rate·W⌋ pixels. One draw per batch per call; the
// gradient is the adjoint (the inverse shift, zero outside the window).
type CropDiversity struct {
	P    float64
	Rate float64
}

// cropDraw is one draw of CropDiversity for a batch of C×H×W images: output pixel
// (u, v) inside the window [top, top+ch)×[left, left+cw) reads input pixel
// (u+dy, v+dx) (zero when outside the image); pixels outside the window
// are zero.
type cropDraw struct {
	c, h, w   int
	active    bool
	ch, cw    int
	top, left int
	dy, dx    int
}

func (cr CropDiversity) validate(name string) error {
	switch {
	case math.IsNaN(cr.P) || cr.P < 0 || cr.P > 1:
		return fmt.Errorf("%s: DI probability %v must be in [0,1]", name, cr.P)
	case cr.P > 0 && !(cr.Rate > 0 && cr.Rate <= 1):
		return fmt.Errorf("%s: crop rate %v must be in (0,1]", name, cr.Rate)
	}
	return nil
}

func (cr CropDiversity) draw(c, h, w int, rng *rand.Rand) *cropDraw {
	d := &cropDraw{c: c, h: h, w: w}
	if cr.P <= 0 || rng.Float64() >= cr.P {
		return d
	}
	d.active = true
	d.ch, d.cw = max(1, int(float64(h)*cr.Rate)), max(1, int(float64(w)*cr.Rate))
	ph, pw := h-d.ch, w-d.cw
	// RandomCrop on the padded (h+2ph)×(w+2pw) image: offset in [0, 3p].
	oy, ox := rng.IntN(h+2*ph-d.ch+1), rng.IntN(w+2*pw-d.cw+1)
	// Pad back to h×w at a random offset in [0, p].
	d.top, d.left = rng.IntN(ph+1), rng.IntN(pw+1)
	d.dy, d.dx = oy-ph-d.top, ox-pw-d.left
	return d
}

// apply writes the transformed batch of n images into dst.
func (d *cropDraw) apply(dst, x []float32, n int) {
	if !d.active {
		copy(dst, x)
		return
	}
	clear(dst)
	d.walk(n, func(o, i int) { dst[o] = x[i] })
}

// adjoint writes into gx the gradient with respect to x given g, the
// gradient with respect to the transformed batch.
func (d *cropDraw) adjoint(gx, g []float32, n int) {
	if !d.active {
		copy(gx, g)
		return
	}
	clear(gx)
	d.walk(n, func(o, i int) { gx[i] += g[o] })
}

// walk calls f(out, in) for every output index that reads an input pixel.
func (d *cropDraw) walk(n int, f func(o, i int)) {
	for p := 0; p < n*d.c; p++ {
		base := p * d.h * d.w
		for u := d.top; u < d.top+d.ch; u++ {
			sy := u + d.dy
			if sy < 0 || sy >= d.h {
				continue
			}
			for v := d.left; v < d.left+d.cw; v++ {
				sx := v + d.dx
				if sx < 0 || sx >= d.w {
					continue
				}
				f(base+u*d.w+v, base+sy*d.w+sx)
			}
		}
	}
}
