package attacks

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/models"
)

// CWA is the Common Weakness Attack (MI-CWA) of Chen et al. (ICLR 2024),
// after the authors' code (huanranchen/AdversarialAttacks @cc24144,
// MI_CommonWeakness; see algorithms.md §3). Every outer iteration:
//
//	x_s = x_t
//	g   = ∇ CE(Σ_k f_k(x_t), y)            (sum of logits; MeanLogits: their mean, as the paper)
//	x⁰  = Π_ε(x_t − r·sign(W⊛g))            reverse (SAM) step
//	for k = 1..K in the surrogates' order:  inner loop (CSE), x^{k−1} → x^k
//	    g_k = W ⊛ ∇ CE(f_k(A(x^{k−1})), y)
//	    m̂   = μ·m̂ + g_k/‖g_k‖₂ (per image)
//	    x^k = Π_ε(x^{k−1} + β·m̂)
//	Δ = x^K − x_s ;  m = μ·m + Δ/‖Δ‖₁ (L1 over the WHOLE batch, as the code)
//	x_{t+1} = Π_ε(x_s + α·sign(m))
//
// with x_0 = x (no random start), m̂ (persisting across outer iterations)
// and m starting at 0, W⊛ the optional TI smoothing and A the optional
// random-crop input diversity (CropDiversity). Targeted attacks descend CE(·,
// target): the reverse step goes up that loss and the inner steps down.
// One μ drives both momenta, as in the reference: MI-CWA is μ = 1 and the
// plain "cwa" preset is μ = 0 for both (the reference has no separate
// non-momentum class; with μ = 0 and a saturating β the inner loop's end
// point is set mostly by the last member).
//
// Guards (the reference has no epsilon): an image whose member gradient
// is all zero adds 0 to m̂ instead of NaN; a batch with Δ = 0 leaves m
// unchanged instead of making it NaN for every image. Both are counted in
// CWAStats. Because of the whole-batch L1 norm, results depend on the
// batch composition: BatchSize is exposed and recorded (the authors use
// 16). CWA runs with any K ≥ 1 surrogates (K = 1 is SAM + MI on one
// model).
type CWA struct {
	Name  string
	Norm  Norm // Linf only
	Eps   float64
	Alpha float64 // outer step; the reference hard-wires ε/5 (ksi = 16/255/5)
	Steps int
	// Momentum is μ for both the inner and the outer momentum (1: MI-CWA).
	Momentum    float64
	InnerStep   float64       // β, the inner (CSE) step (250 in the code)
	ReverseStep float64       // r, the reverse step (ε/15 in the code); 0 skips it
	MeanLogits  bool          // the paper's mean of logits in the reverse step (the code sums)
	DI          CropDiversity // input diversity of the inner loop: RandomCrop(0.9W, pad) scaled to the input size
	TIKernel    int           // TI smoothing of the reverse and inner gradients (0 or 1: off)
	TINSig      float64       // 3
	BatchSize   int           // images per whole-batch L1 norm (0: the whole input)

	// hook (tests) is called after every projection: phase "reverse" (k =
	// −1), "inner" (k = member index) or "outer" (k = −1), at outer
	// iteration t; x0 is the clean batch.
	hook func(phase string, t, k int, x0, x []float32)
}

// CWAStats are the diagnostics of one CWA run.
type CWAStats struct {
	BatchSize int // images per whole-batch L1 norm
	Batches   int
	// ZeroGrad counts (outer iteration, member, image) triples whose member
	// gradient was all zero (NaN in the reference, 0 here).
	ZeroGrad int
	// ZeroDelta counts (batch, outer iteration) pairs whose Δ was zero for
	// the whole batch (NaN momentum in the reference, m unchanged here).
	ZeroDelta int
}

// NewCWA is MI-CWA with momentum mu and the code's defaults: α = ε/5,
// r = ε/15, β = 250, summed logits, no DI or TI.
func NewCWA(eps float64, steps int, mu float64) *CWA {
	name := "mi-cwa"
	if mu == 0 {
		name = "cwa"
	}
	return &CWA{Name: name, Eps: eps, Alpha: eps / 5, Steps: steps, Momentum: mu,
		InnerStep: 250, ReverseStep: eps / 15, TINSig: 3}
}

// Validate reports the first problem with the settings.
func (a *CWA) Validate() error {
	if err := validateEnsemble("cwa", a.Norm, a.Eps, a.Alpha, a.Steps, a.Momentum, a.TIKernel, a.TINSig, a.BatchSize); err != nil {
		return err
	}
	switch {
	case math.IsNaN(a.InnerStep) || math.IsInf(a.InnerStep, 0) || a.InnerStep < 0:
		return fmt.Errorf("cwa: inner step %v must be >= 0", a.InnerStep)
	case math.IsNaN(a.ReverseStep) || math.IsInf(a.ReverseStep, 0) || a.ReverseStep < 0:
		return fmt.Errorf("cwa: reverse step %v must be >= 0", a.ReverseStep)
	}
	return a.DI.validate("cwa")
}

// Craft runs the attack. It implements Attack.
func (a *CWA) Craft(ctx context.Context, surrogates []models.Classifier, b Batch) ([]float32, error) {
	adv, _, err := a.CraftStats(ctx, surrogates, b)
	return adv, err
}

// craftStats reports the diagnostics for results: zero member gradients
// and zero batch displacements (NaN in the reference code).
func (a *CWA) craftStats(ctx context.Context, ms []models.Classifier, b Batch) ([]float32, map[string]float64, error) {
	adv, st, err := a.CraftStats(ctx, ms, b)
	if err != nil {
		return nil, nil, err
	}
	return adv, map[string]float64{"zero_grad": float64(st.ZeroGrad), "zero_delta": float64(st.ZeroDelta)}, nil
}

// CraftStats runs the attack and returns its diagnostics.
func (a *CWA) CraftStats(ctx context.Context, surrogates []models.Classifier, b Batch) ([]float32, CWAStats, error) {
	var st CWAStats
	if err := a.Validate(); err != nil {
		return nil, st, err
	}
	bi, err := b.check(surrogates, false)
	if err != nil {
		return nil, st, fmt.Errorf("cwa: %w", err)
	}
	g, err := newGradient(surrogates, FuseLogits, bi.targets)
	if err != nil {
		return nil, st, fmt.Errorf("cwa: %w", err)
	}
	for i := range g.weights {
		g.weights[i] = 1
		if a.MeanLogits {
			g.weights[i] = 1 / float32(len(surrogates))
		}
	}
	rng := rand.New(rand.NewPCG(b.Seed, 0x63776100))
	x, size := b.X, bi.size
	out := make([]float32, len(x))
	parts := splitBatches(bi.n, a.BatchSize)
	st.BatchSize, st.Batches = parts[0][1]-parts[0][0], len(parts)
	for _, c := range parts {
		adv, err := a.run(ctx, g, bi.shape, x[c[0]*size:c[1]*size], bi.goal[c[0]:c[1]], rng, &st)
		if err != nil {
			return nil, st, fmt.Errorf("cwa: %w", err)
		}
		copy(out[c[0]*size:], adv)
	}
	return out, st, nil
}

// run attacks one batch.
func (a *CWA) run(ctx context.Context, g *gradient, shape []int, x []float32, labels []int, rng *rand.Rand, st *CWAStats) ([]float32, error) {
	n := len(labels)
	size := len(x) / n
	K := len(g.models)
	targeted := g.targeted
	eps, alpha := float32(a.Eps), float32(a.Alpha)
	r, beta, mu := float32(a.ReverseStep), float32(a.InnerStep), float32(a.Momentum)
	C, H, W := shapeCHW(shape)
	var kern []float32
	if a.TIKernel > 1 {
		kern = gaussianKernel(a.TIKernel, a.TINSig)
	}
	ti := func(g, tmp []float32) []float32 {
		if kern == nil {
			return g
		}
		smooth(tmp, g, kern, a.TIKernel, n*C, H, W)
		return tmp
	}
	adv := append([]float32(nil), x...)
	anchor := make([]float32, len(x))
	cur := make([]float32, len(x))
	aug := make([]float32, len(x))
	raw := make([]float32, len(x))
	gk := make([]float32, len(x))
	tmp := make([]float32, len(x))
	inner := make([]float32, len(x)) // m̂
	outer := make([]float32, len(x)) // m
	xs := make([][]float32, K)
	gs := make([][]float32, K)
	for i := range xs {
		xs[i] = adv // every member sees x_t in the reverse step
		gs[i] = make([]float32, len(x))
	}
	for t := 0; t < a.Steps; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		copy(anchor, adv)
		copy(cur, adv)
		// Reverse (SAM) step on the fused logits: down the attack's loss.
		if r > 0 {
			if err := g.compute(xs, gs, labels); err != nil {
				return nil, err
			}
			clear(gk)
			for _, gi := range gs {
				for j, v := range gi {
					gk[j] += v
				}
			}
			d := ti(gk, tmp)
			for j, v := range d {
				cur[j] -= r * signf(v)
			}
			project(Linf, eps, x, cur, size)
		}
		if a.hook != nil {
			a.hook("reverse", t, -1, x, cur)
		}
		// The inner loop, member by member, each at the previous one's point.
		for k, m := range g.models {
			dr := a.DI.draw(C, H, W, rng)
			dr.apply(aug, cur, n)
			if _, err := memberGrad(m, raw, aug, labels, targeted); err != nil {
				return nil, fmt.Errorf("surrogate %d: %w", k, err)
			}
			dr.adjoint(gk, raw, n)
			d := ti(gk, tmp)
			for off := 0; off < len(d); off += size {
				di := d[off : off+size]
				var s float64
				for _, v := range di {
					s += float64(v) * float64(v)
				}
				f := float32(0)
				if s > 0 {
					f = float32(1 / math.Sqrt(s))
				} else {
					st.ZeroGrad++
				}
				mi := inner[off : off+size]
				for j, v := range di {
					mi[j] = mu*mi[j] + v*f
				}
			}
			for j, v := range inner {
				cur[j] += beta * v
			}
			project(Linf, eps, x, cur, size)
			if a.hook != nil {
				a.hook("inner", t, k, x, cur)
			}
		}
		// The outer MI step on the inner loop's displacement.
		var l1 float64
		for j := range cur {
			cur[j] -= anchor[j] // Δ
			l1 += math.Abs(float64(cur[j]))
		}
		f := float32(0)
		if l1 > 0 {
			f = float32(1 / l1)
		} else {
			st.ZeroDelta++
		}
		for j, v := range cur {
			outer[j] = mu*outer[j] + v*f
		}
		for j, v := range outer {
			adv[j] = anchor[j] + alpha*signf(v)
		}
		project(Linf, eps, x, adv, size)
		if a.hook != nil {
			a.hook("outer", t, -1, x, adv)
		}
	}
	return adv, nil
}

func init() {
	for _, v := range []struct {
		name, summary string
		mu            float64
	}{
		{"cwa", "Common Weakness Attack without momentum: reverse step + sequential inner loop, μ = 0 (Chen et al. 2024)", 0},
		{"mi-cwa", "MI-CWA: reverse (SAM) step, sequential L2-normalised inner loop, outer MI (Chen et al. 2024)", 1},
	} {
		v := v
		Register(Spec{
			Name: v.name, Summary: v.summary, Gradient: true, Strength: epsStrength,
			Extras: []Param{
				{Name: "inner_step", Kind: Float, Min: 0, Max: 1e5, Default: fixed(250), Help: "inner (CSE) step β"},
				{Name: "reverse_step", Kind: Float, Min: 0, Max: MaxEps, Help: "reverse (SAM) step r, ε/15 unless given"},
				{Name: "mean_logits", Kind: Bool, Min: 0, Max: 1, Default: fixed(0), Help: "switch for the paper's mean of logits (0: the code's sum)"},
				diProb(0), diRate, tiKernel(0), tiNSig, batchSize,
			},
			// α defaults to ε/5 and the reverse step to ε/15 of the ε in
			// use (the reference hard-wires both as fractions of ε).
			Defaults: func(shape []int) Params {
				eps := 16.0 / 255
				if mnistScale(shape) {
					eps = 0.3
				}
				return Params{Eps: eps, Alpha: eps / 5, Steps: 10, Momentum: v.mu}
			},
			Derive: func(user, p Params) Params {
				if user.Has("eps") && !user.Has("alpha") {
					p.Alpha = p.Eps / 5
				}
				if !user.Has("reverse_step") {
					p.Extra["reverse_step"] = p.Eps / 15
				}
				return p
			},
			New: func(p Params) (Attack, error) {
				a := NewCWA(p.Eps, p.Steps, p.Momentum)
				a.Name = v.name
				if p.Alpha > 0 {
					a.Alpha = p.Alpha
				}
				a.Norm = p.Norm
				a.InnerStep = p.ExtraOr("inner_step", a.InnerStep)
				a.ReverseStep = p.ExtraOr("reverse_step", a.ReverseStep)
				a.MeanLogits = p.ExtraOr("mean_logits", 0) != 0
				a.DI.P = p.ExtraOr("di_prob", 0)
				a.DI.Rate = p.ExtraOr("di_rate", 0.9)
				a.TIKernel = int(p.ExtraOr("ti_kernel", 0))
				a.TINSig = p.ExtraOr("ti_nsig", 3)
				a.BatchSize = int(p.ExtraOr("batch_size", 0))
				if err := a.Validate(); err != nil {
					return nil, err
				}
				return a, nil
			},
		})
	}
}
