package attacks

import (
	"fmt"
	"slices"

	"github.com/advmatrix/advmatrix/models"
)

// Fusion is how several surrogates combine into one loss.
type Fusion int

const (
	// FuseLogits takes the cross-entropy of the weighted average of the
	// surrogates' logits (Liu et al. 2017; the default of most ensemble
	// transfer attacks).
	FuseLogits Fusion = iota
	// FuseLoss averages the surrogates' cross-entropies.
	FuseLoss
)

func (f Fusion) String() string {
	if f == FuseLoss {
		return "loss"
	}
	return "logits"
}

// lossSeed writes into dz the gradient, with respect to the logits z, of
// the loss an attack ascends: CE(z, y) untargeted, −CE(z, t) targeted,
// summed over the batch and scaled by w. It returns the per-image losses
// (CE, before the sign) when ce is non-nil. Labels were checked against
// the classes before (Batch.check).
func lossSeed(dz, z []float32, labels []int, k int, w float32, targeted bool, ce []float64) {
	scale := float64(w)
	if targeted {
		scale = -scale
	}
	_ = models.SoftmaxCrossEntropy(dz, z, labels, k, scale, ce)
}

// gradient computes ∂L/∂x_k for every surrogate k, where model k is
// evaluated on xs[k] (its own transformed copy of the batch) and L is the
// fused loss. Results go to gs[k].
type gradient struct {
	models   []models.Classifier
	weights  []float32
	fusion   Fusion
	targeted bool
	k        int // classes
	z        [][]float32
	fused    []float32
	dz       []float32
	passes   []models.Pass
}

func newGradient(ms []models.Classifier, fusion Fusion, targeted bool) (*gradient, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("no surrogate models")
	}
	g := &gradient{models: ms, fusion: fusion, targeted: targeted, k: ms[0].NumClasses()}
	for i, m := range ms {
		if m.NumClasses() != g.k {
			return nil, fmt.Errorf("surrogate %d has %d classes, surrogate 0 has %d", i, m.NumClasses(), g.k)
		}
		if !slices.Equal(m.InputShape(), ms[0].InputShape()) {
			return nil, fmt.Errorf("surrogate %d takes %v images, surrogate 0 takes %v", i, m.InputShape(), ms[0].InputShape())
		}
		g.weights = append(g.weights, 1/float32(len(ms)))
	}
	g.z = make([][]float32, len(ms))
	g.passes = make([]models.Pass, len(ms))
	return g, nil
}

// compute fills gs[k] = ∂L/∂xs[k] (see computeRaw) and refuses non-finite
// gradients: a surrogate that returns NaN would otherwise leave the images
// unchanged, and its victims would look robust.
func (g *gradient) compute(xs, gs [][]float32, labels []int) error {
	if err := g.computeRaw(xs, gs, labels); err != nil {
		return err
	}
	for i, gi := range gs {
		if err := models.CheckFinite(fmt.Sprintf("surrogate %d's gradient", i), gi); err != nil {
			return err
		}
	}
	return nil
}

// computeRaw fills gs[k] = ∂L/∂xs[k] for labels (true labels, or targets when
// targeted).
func (g *gradient) computeRaw(xs, gs [][]float32, labels []int) error {
	n := len(labels)
	if len(g.dz) != n*g.k {
		g.dz = make([]float32, n*g.k)
		g.fused = make([]float32, n*g.k)
		for i := range g.z {
			g.z[i] = make([]float32, n*g.k)
		}
	}
	if g.fusion == FuseLoss || len(g.models) == 1 {
		for i, m := range g.models {
			w := g.weights[i]
			if err := m.Grad(gs[i], xs[i], func(z, dz []float32) {
				lossSeed(dz, z, labels, g.k, w, g.targeted, nil)
			}); err != nil {
				return fmt.Errorf("surrogate %d: %w", i, err)
			}
		}
		return nil
	}
	// Fused logits: forward every member, seed all with one cotangent.
	// Members that can hold a pass open (models.Forwarder) run forward
	// once; the others run forward again inside Grad.
	defer func() {
		for i, p := range g.passes {
			if p != nil {
				p.Close()
				g.passes[i] = nil
			}
		}
	}()
	clear(g.fused)
	for i, m := range g.models {
		if f, ok := m.(models.Forwarder); ok {
			p, err := f.Forward(xs[i])
			if err != nil {
				return fmt.Errorf("surrogate %d: %w", i, err)
			}
			g.passes[i] = p
			copy(g.z[i], p.Logits())
		} else if err := m.Logits(g.z[i], xs[i]); err != nil {
			return fmt.Errorf("surrogate %d: %w", i, err)
		}
		w := g.weights[i]
		for j, v := range g.z[i] {
			g.fused[j] += w * v
		}
	}
	lossSeed(g.dz, g.fused, labels, g.k, 1, g.targeted, nil)
	for i, m := range g.models {
		w := g.weights[i]
		if p := g.passes[i]; p != nil {
			for j := range g.z[i] { // reuse z[i] as w·dz
				g.z[i][j] = w * g.dz[j]
			}
			if err := p.VJP(gs[i], g.z[i]); err != nil {
				return fmt.Errorf("surrogate %d: %w", i, err)
			}
			continue
		}
		if err := m.Grad(gs[i], xs[i], func(_, dz []float32) {
			for j := range dz {
				dz[j] = w * g.dz[j]
			}
		}); err != nil {
			return fmt.Errorf("surrogate %d: %w", i, err)
		}
	}
	return nil
}
