package attacks

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/models"
)

// AdaEA is the adaptive ensemble attack of Chen et al. (ICCV 2023), after
// the authors' code (CHENBIN99/AdaEA @416b112; see algorithms.md §2).
// Every iteration:
//
//   - each member k's own gradient g_k = ∇ CE(f_k(D_k(x_t)), y) (batch-mean
//     CE; D_k an independent input-diversity draw per member, identity
//     unless DI is on);
//   - AGM (adaptive gradient modulation): each member's one-step example
//     x̂_k = Π_ε(x_t + α·sign(g_k)) (no DI); r_j = β·Σ_{i≠j} L_i(x̂_j)/L_i(x̂_i)
//     with L the batch-MEAN CE, w = softmax(r) — one weight vector per
//     batch, so results depend on the batch size (BatchSize, recorded in
//     AdaEAStats);
//   - DRF (disparity-reduced filter): per pixel, the cosine across the
//     channel axis between the members' gradients (each first
//     L2-normalised along the channels, eps 1e-12, then cosine eps 1e-8),
//     averaged into s; the mask M = 1[s ≥ Threshold];
//   - the fused gradient g = ∇ CE(Σ_k w_k f_k(D_k(x_t)), y) ⊙ M (the same D_k
//     draws), TI-smoothed when TIKernel > 1, then in the MI/DI/TI variants
//     g ← g/mean|g| + μ·m (a sample whose masked gradient is all zero gets
//     0 instead of the reference's NaN, and is counted);
//   - x_{t+1} = Π_ε(x_t + α·sign(g)).
//
// The start is x_0 = x + StartStd·N(0,I) with StartStd 0.001, NOT clipped
// to [0,1] or the ε-ball, as in the reference code; every iterate after it
// is. The weights and the mask carry no gradient.
//
// Targeted attacks descend CE(·, target); the probe step follows the same
// (descending) gradient and the ratio is inverted, r_j = β·Σ_{i≠j}
// L_i(x̂_i)/L_i(x̂_j), so that a larger r_j still means "j's example
// transfers better" (the reference is untargeted only; this is ours).
//
// Use NewAdaEA and the variant constructors: the zero value has AGM at
// t=0 only and the DRF quirk off.
type AdaEA struct {
	Name  string
	Norm  Norm // Linf only
	Eps   float64
	Alpha float64 // step size, also the AGM probe step
	Steps int
	// SingleStep is the FGSM variant: AGM and DRF once at x_0 with the
	// probe step Alpha (the reference's base-class α, 2/255, whatever ε),
	// then one step of size Eps. Steps is ignored.
	SingleStep bool
	Momentum   float64 // μ of the MI/DI/TI variants (0.9 in the reference CLI)
	Normalize  bool    // g/mean|g| before the momentum (MI/DI/TI variants); implied by Momentum > 0
	DI         Diversity
	TIKernel   int     // TI smoothing of the fused gradient (0 or 1: off)
	TINSig     float64 // 3
	Beta       float64 // AGM temperature β (10)
	Threshold  float64 // DRF threshold λ (−0.3)
	// AGMEveryStep recomputes the AGM weights every iteration (the released
	// code, HEAD); false computes them at t=0 only (initial commit 128af71).
	AGMEveryStep bool
	// DRFReferenceQuirk reproduces the reference's DRF average, which drops
	// the last member's row and still divides by K (s = s* − a_K/K); false
	// is the intended mean over all pairs.
	DRFReferenceQuirk bool
	StartStd          float64 // standard deviation of the Gaussian start (0.001)
	// BatchSize splits the input into batches of this many images, each
	// with its own AGM weights (0: the whole input is one batch). The
	// reference evaluates with batches of 32.
	BatchSize int

	hook func(t int, x0, x []float32) // tests: called after every step (x0: the clean batch)
}

// AdaEAStats are the diagnostics of one AdaEA run.
type AdaEAStats struct {
	BatchSize int // images per weight vector (the whole input when 0 was asked)
	Batches   int
	// Weights holds every AGM weight vector in order (batch-major, then
	// iteration): Steps vectors per batch with AGMEveryStep, else one.
	Weights [][]float64
	// Masked is, per batch and iteration, the fraction of pixels the DRF
	// mask zeroed.
	Masked []float64
	// ZeroGrad counts (iteration, image) pairs whose masked fused gradient
	// was all zero: the reference's g/mean|g| makes them NaN; here they
	// contribute 0 (the image does not move in that step unless momentum
	// carries it).
	ZeroGrad int
}

// NewAdaEA is AdaEA over I-FGSM with the reference CLI's defaults: β=10,
// λ=−0.3, AGM every step, the DRF quirk on, the 0.001 Gaussian start.
func NewAdaEA(eps, alpha float64, steps int) *AdaEA {
	return &AdaEA{Name: "adaea", Eps: eps, Alpha: alpha, Steps: steps, Beta: 10, Threshold: -0.3,
		AGMEveryStep: true, DRFReferenceQuirk: true, StartStd: 0.001, TINSig: 3}
}

// AdaEAMI is AdaEA over MI-FGSM (μ = 0.9 in the reference CLI).
func AdaEAMI(eps, alpha float64, steps int, mu float64) *AdaEA {
	a := NewAdaEA(eps, alpha, steps)
	a.Name, a.Momentum, a.Normalize = "adaea-mi", mu, true
	return a
}

// AdaEADI is AdaEA over DI-MI-FGSM: resize rate 0.9, p = 0.5, an
// independent draw per member reused for the fused loss. Runnable DI
// exists only in the reference's initial commit (AGM at t=0); AGM every
// step with DI is our combination.
func AdaEADI(eps, alpha float64, steps int, mu float64) *AdaEA {
	a := AdaEAMI(eps, alpha, steps, mu)
	a.Name, a.DI = "adaea-di", Diversity{P: 0.5, Rate: 0.9}
	return a
}

// AdaEATI is AdaEA over TI-DI-FGSM: the DI variant with a 15×15 Gaussian
// (nsig 3) smoothing of the fused gradient; the reference runs it with
// μ = 0 (its CLI passes no decay) but still normalises. Any channel count
// works (the reference hard-wires 3).
func AdaEATI(eps, alpha float64, steps int, mu float64) *AdaEA {
	a := AdaEADI(eps, alpha, steps, mu)
	a.Name, a.TIKernel = "adaea-ti", 15
	return a
}

// AdaEAFGSM is the single-step variant: probe step alpha, final step eps.
func AdaEAFGSM(eps, alpha float64) *AdaEA {
	a := NewAdaEA(eps, alpha, 1)
	a.Name, a.SingleStep = "adaea-fgsm", true
	return a
}

// Validate reports the first problem with the settings.
func (a *AdaEA) Validate() error {
	steps := a.Steps
	if a.SingleStep {
		steps = 1
	}
	if err := validateEnsemble("adaea", a.Norm, a.Eps, a.Alpha, steps, a.Momentum, a.TIKernel, a.TINSig, a.BatchSize); err != nil {
		return err
	}
	switch {
	case math.IsNaN(a.Beta) || math.IsInf(a.Beta, 0):
		return fmt.Errorf("adaea: beta %v must be finite", a.Beta)
	case math.IsNaN(a.Threshold):
		return fmt.Errorf("adaea: threshold is NaN")
	case math.IsNaN(a.StartStd) || math.IsInf(a.StartStd, 0) || a.StartStd < 0:
		return fmt.Errorf("adaea: start std %v must be >= 0", a.StartStd)
	case math.IsNaN(a.DI.P) || a.DI.P < 0 || a.DI.P > 1:
		return fmt.Errorf("adaea: DI probability %v must be in [0,1]", a.DI.P)
	case a.DI.P > 0 && (a.DI.Rate <= 0 || a.DI.Rate == 1):
		return fmt.Errorf("adaea: DI resize rate %v must be positive and not 1", a.DI.Rate)
	}
	return nil
}

// Craft runs the attack. It implements Attack.
func (a *AdaEA) Craft(ctx context.Context, surrogates []models.Classifier, b Batch) ([]float32, error) {
	adv, _, err := a.CraftStats(ctx, surrogates, b)
	return adv, err
}

// craftStats reports the diagnostics for results: the mean fraction of
// pixels DRF masked and the zero-gradient count.
func (a *AdaEA) craftStats(ctx context.Context, ms []models.Classifier, b Batch) ([]float32, map[string]float64, error) {
	adv, st, err := a.CraftStats(ctx, ms, b)
	if err != nil {
		return nil, nil, err
	}
	var m float64
	for _, v := range st.Masked {
		m += v
	}
	return adv, map[string]float64{"drf_masked_fraction": m / float64(max(len(st.Masked), 1)), "zero_grad": float64(st.ZeroGrad)}, nil
}

// CraftStats runs the attack and returns its diagnostics.
func (a *AdaEA) CraftStats(ctx context.Context, surrogates []models.Classifier, b Batch) ([]float32, AdaEAStats, error) {
	var st AdaEAStats
	if err := a.Validate(); err != nil {
		return nil, st, err
	}
	if len(surrogates) < 2 {
		return nil, st, fmt.Errorf("adaea: needs at least 2 surrogates, got %d (its weights compare members with each other)", len(surrogates))
	}
	bi, err := b.check(surrogates, a.DI.P > 0)
	if err != nil {
		return nil, st, fmt.Errorf("adaea: %w", err)
	}
	g, err := newGradient(surrogates, FuseLogits, bi.targets)
	if err != nil {
		return nil, st, fmt.Errorf("adaea: %w", err)
	}
	rng := rand.New(rand.NewPCG(b.Seed, 0x61646165))
	x, size := b.X, bi.size
	out := make([]float32, len(x))
	parts := splitBatches(bi.n, a.BatchSize)
	st.BatchSize, st.Batches = parts[0][1]-parts[0][0], len(parts)
	for _, c := range parts {
		xb := x[c[0]*size : c[1]*size]
		start := append([]float32(nil), xb...)
		if a.StartStd > 0 {
			for i := range start {
				start[i] += float32(a.StartStd * rng.NormFloat64())
			}
		}
		adv, err := a.run(ctx, g, bi.shape, xb, start, bi.goal[c[0]:c[1]], rng, &st)
		if err != nil {
			return nil, st, fmt.Errorf("adaea: %w", err)
		}
		copy(out[c[0]*size:], adv)
	}
	return out, st, nil
}

// run attacks one batch from start (x_0) and returns x_T.
func (a *AdaEA) run(ctx context.Context, g *gradient, shape []int, x, start []float32, labels []int, rng *rand.Rand, st *AdaEAStats) ([]float32, error) {
	n := len(labels)
	size := len(x) / n
	K := len(g.models)
	targeted := g.targeted
	eps, alpha := float32(a.Eps), float32(a.Alpha)
	steps, step := a.Steps, alpha
	if a.SingleStep {
		steps, step = 1, eps
	}
	C, H, W := shapeCHW(shape)
	adv := append([]float32(nil), start...)
	xs := make([][]float32, K)   // D_k(x_t)
	gs := make([][]float32, K)   // fused-loss gradients w.r.t. D_k(x_t)
	gk := make([][]float32, K)   // members' own gradients w.r.t. x_t
	xhat := make([][]float32, K) // AGM probes
	for i := range xs {
		xs[i] = make([]float32, len(x))
		gs[i] = make([]float32, len(x))
		gk[i] = make([]float32, len(x))
		xhat[i] = make([]float32, len(x))
	}
	draws := make([]*diversity, K)
	raw := make([]float32, len(x))
	grad := make([]float32, len(x))
	tmp := make([]float32, len(x))
	mom := make([]float32, len(x))
	mask := make([]float32, n*H*W)
	z := make([]float32, n*g.k)
	var kern []float32
	if a.TIKernel > 1 {
		kern = gaussianKernel(a.TIKernel, a.TINSig)
	}
	var w []float64
	for t := 0; t < steps; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for i := range xs {
			// An independent input-diversity draw per member, reused below
			// for the fused loss.
			draws[i] = a.DI.redraw(draws[i], C, H, W, rng)
			draws[i].apply(xs[i], adv, n)
		}
		for i, m := range g.models {
			if _, err := memberGrad(m, raw, xs[i], labels, targeted); err != nil {
				return nil, fmt.Errorf("surrogate %d: %w", i, err)
			}
			draws[i].adjoint(gk[i], raw, n)
		}
		// AGM.
		if t == 0 || a.AGMEveryStep {
			for j := range xhat {
				copy(xhat[j], adv)
				for p, v := range gk[j] {
					xhat[j][p] += alpha * signf(v)
				}
				project(Linf, eps, x, xhat[j], size)
			}
			loss := make([][]float64, K)
			for i, m := range g.models {
				loss[i] = make([]float64, K)
				for j := range xhat {
					l, err := meanCE(m, z, xhat[j], labels)
					if err != nil {
						return nil, fmt.Errorf("surrogate %d: %w", i, err)
					}
					loss[i][j] = l
				}
			}
			w = agmWeights(loss, a.Beta, targeted)
			st.Weights = append(st.Weights, append([]float64(nil), w...))
		}
		for i := range w {
			g.weights[i] = float32(w[i])
		}
		// DRF.
		st.Masked = append(st.Masked, drfMask(mask, gk, n, C, H*W, a.DRFReferenceQuirk, a.Threshold))
		// The fused gradient on the same draws.
		if err := g.compute(xs, gs, labels); err != nil {
			return nil, err
		}
		clear(grad)
		for i := range gs {
			draws[i].adjoint(tmp, gs[i], n)
			for j, v := range tmp {
				grad[j] += v
			}
		}
		for b := 0; b < n; b++ {
			mb := mask[b*H*W : (b+1)*H*W]
			for c := 0; c < C; c++ {
				gc := grad[(b*C+c)*H*W : (b*C+c+1)*H*W]
				for p, v := range mb {
					gc[p] *= v
				}
			}
		}
		if kern != nil {
			smooth(tmp, grad, kern, a.TIKernel, n*C, H, W)
			grad, tmp = tmp, grad
		}
		dir := grad
		normalize := a.Momentum > 0 || a.Normalize
		for off := 0; off < len(grad); off += size {
			gi := grad[off : off+size]
			var s float64
			for _, v := range gi {
				s += math.Abs(float64(v))
			}
			if s == 0 {
				st.ZeroGrad++
			}
			if !normalize {
				continue
			}
			// g/mean|g| per image (0 for an all-zero gradient, where the
			// reference divides by zero), then the momentum.
			f := float32(0)
			if s > 0 {
				f = float32(float64(size) / s)
			}
			mi := mom[off : off+size]
			for j, v := range gi {
				mi[j] = float32(a.Momentum)*mi[j] + v*f
			}
		}
		if normalize {
			dir = mom
		}
		for i, v := range dir {
			adv[i] += step * signf(v)
		}
		project(Linf, eps, x, adv, size)
		if a.hook != nil {
			a.hook(t, x, adv)
		}
	}
	return adv, nil
}

// agmWeights turns the members' batch-mean losses loss[i][j] = L_i(x̂_j)
// (model i on member j's one-step example) into AdaEA's weights
// softmax(r), r_j = β·Σ_{i≠j} L_i(x̂_j)/L_i(x̂_i) (targeted: the inverse
// ratios). A zero denominator is replaced by 1e-30 (the reference divides
// by zero); 0/0 counts as 1.
func agmWeights(loss [][]float64, beta float64, targeted bool) []float64 {
	K := len(loss)
	r := make([]float64, K)
	for j := 0; j < K; j++ {
		for i := 0; i < K; i++ {
			if i == j {
				continue
			}
			num, den := loss[i][j], loss[i][i]
			if targeted {
				num, den = den, num
			}
			r[j] += safeRatio(num, den)
		}
		r[j] *= beta
	}
	return softmax64(r)
}

func safeRatio(num, den float64) float64 {
	if den <= 0 {
		if num <= 0 {
			return 1
		}
		den = 1e-30
	}
	return num / den
}

// softmax64 is a stable softmax; +Inf entries share the mass.
func softmax64(r []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range r {
		mx = max(mx, v)
	}
	w := make([]float64, len(r))
	if math.IsInf(mx, 1) {
		var c float64
		for i, v := range r {
			if math.IsInf(v, 1) {
				w[i] = 1
				c++
			}
		}
		for i := range w {
			w[i] /= c
		}
		return w
	}
	var s float64
	for i, v := range r {
		w[i] = math.Exp(v - mx)
		s += w[i]
	}
	for i := range w {
		w[i] /= s
	}
	return w
}

// drfMask writes AdaEA's disparity-reduced filter for n images of C×hw
// pixels into mask (n×hw, 0 or 1) from the members' gradients gk and
// returns the fraction of zeros. Per pixel, each member's C-vector is
// L2-normalised (eps 1e-12, as F.normalize), and the cosine of each pair
// is taken with eps 1e-8 on each norm (as F.cosine_similarity); with C=1
// it is sign(g_i·g_j) when both |g| ≥ 1e-20.
func drfMask(mask []float32, gk [][]float32, n, C, hw int, quirk bool, threshold float64) float64 {
	K := len(gk)
	u := make([][]float64, K)
	for i := range u {
		u[i] = make([]float64, C)
	}
	cos := make([][]float64, K)
	for i := range cos {
		cos[i] = make([]float64, K)
	}
	zeros := 0
	for b := 0; b < n; b++ {
		for p := 0; p < hw; p++ {
			for i := range gk {
				var s float64
				for c := 0; c < C; c++ {
					v := float64(gk[i][(b*C+c)*hw+p])
					u[i][c] = v
					s += v * v
				}
				f := 1 / max(math.Sqrt(s), 1e-12)
				s = 0
				for c := range u[i] {
					u[i][c] *= f
					s += u[i][c] * u[i][c]
				}
				f = 1 / max(math.Sqrt(s), 1e-8)
				for c := range u[i] {
					u[i][c] *= f
				}
			}
			for i := 0; i < K; i++ {
				for j := i + 1; j < K; j++ {
					var d float64
					for c := 0; c < C; c++ {
						d += u[i][c] * u[j][c]
					}
					cos[i][j], cos[j][i] = d, d
				}
			}
			m := float32(0)
			if drfScore(cos, quirk) >= threshold {
				m = 1
			} else {
				zeros++
			}
			mask[b*hw+p] = m
		}
	}
	return float64(zeros) / float64(n*hw)
}

// drfScore averages a K×K matrix of pairwise cosines (the diagonal is not
// read). Intended: s* = 2/(K(K−1))·Σ_{i<j} c_ij. Reference quirk: the mean
// cosine a_i = Σ_{j≠i} c_ij/(K−1) of members 1..K−1 only, summed and
// divided by K (s = s* − a_K/K).
func drfScore(cos [][]float64, quirk bool) float64 {
	K := len(cos)
	if K < 2 {
		return 1
	}
	rows := K
	if quirk {
		rows = K - 1
	}
	var s float64
	for i := 0; i < rows; i++ {
		var a float64
		for j := 0; j < K; j++ {
			if j != i {
				a += cos[i][j]
			}
		}
		s += a / float64(K-1)
	}
	return s / float64(K)
}

func init() {
	type variant struct {
		name, summary string
		make          func(p Params) *AdaEA
		mu, di, ti    float64 // defaults: μ, DI probability, TI kernel
	}
	variants := []variant{
		{"adaea", "AdaEA over I-FGSM: AGM-weighted logit fusion with the DRF mask (Chen et al. 2023)",
			func(p Params) *AdaEA {
				a := NewAdaEA(p.Eps, p.Alpha, p.Steps)
				a.Momentum = p.Momentum
				return a
			}, 0, 0, 0},
		{"adaea-mi", "AdaEA over MI-FGSM (μ 0.9, as the reference CLI)",
			func(p Params) *AdaEA { return AdaEAMI(p.Eps, p.Alpha, p.Steps, p.Momentum) }, 0.9, 0, 0},
		{"adaea-di", "AdaEA over DI-MI-FGSM: an independent resize-and-pad draw per member",
			func(p Params) *AdaEA { return AdaEADI(p.Eps, p.Alpha, p.Steps, p.Momentum) }, 0.9, 0.5, 0},
		{"adaea-ti", "AdaEA over TI-DI-FGSM: Gaussian-smoothed fused gradient (μ 0, as the reference)",
			func(p Params) *AdaEA { return AdaEATI(p.Eps, p.Alpha, p.Steps, p.Momentum) }, 0, 0.5, 15},
	}
	for _, v := range variants {
		v := v
		Register(Spec{
			Name: v.name, Summary: v.summary, Gradient: true, Strength: epsStrength,
			MinSurrogates: 2,
			Extras: []Param{
				{Name: "beta", Kind: Float, Min: 0, Max: 1000, Default: fixed(10), Help: "AGM temperature β"},
				{Name: "threshold", Kind: Float, Min: -1, Max: 1, Default: fixed(-0.3), Help: "DRF threshold λ"},
				{Name: "agm_every_step", Kind: Bool, Min: 0, Max: 1, Default: fixed(1), Help: "switch for AGM weights every step (0: at t=0 only)"},
				{Name: "drf_quirk", Kind: Bool, Min: 0, Max: 1, Default: fixed(1), Help: "switch for the reference's DRF average"},
				{Name: "start_std", Kind: Float, Min: 0, Max: 1, Default: fixed(0.001), Help: "standard deviation of the Gaussian start"},
				{Name: "fgsm", Kind: Bool, Min: 0, Max: 1, Default: fixed(0), Help: "switch for the single-step variant"},
				diProb(v.di), diRate, tiKernel(v.ti), tiNSig, batchSize,
			},
			Defaults: func(shape []int) Params {
				if mnistScale(shape) {
					return Params{Eps: 0.3, Alpha: 0.03, Steps: 10, Momentum: v.mu}
				}
				return Params{Eps: 8.0 / 255, Alpha: 2.0 / 255, Steps: 10, Momentum: v.mu}
			},
			New: func(p Params) (Attack, error) {
				a := v.make(p)
				a.Norm = p.Norm
				a.Beta = p.ExtraOr("beta", a.Beta)
				a.Threshold = p.ExtraOr("threshold", a.Threshold)
				a.AGMEveryStep = p.ExtraOr("agm_every_step", 1) != 0
				a.DRFReferenceQuirk = p.ExtraOr("drf_quirk", 1) != 0
				a.StartStd = p.ExtraOr("start_std", a.StartStd)
				a.SingleStep = p.ExtraOr("fgsm", 0) != 0
				a.DI.P = p.ExtraOr("di_prob", a.DI.P)
				a.DI.Rate = p.ExtraOr("di_rate", a.DI.Rate)
				if a.DI.P > 0 && a.DI.Rate == 0 {
					a.DI.Rate = 0.9 // torchattacks' resize rate, as the reference
				}
				a.TIKernel = int(p.ExtraOr("ti_kernel", float64(a.TIKernel)))
				a.TINSig = p.ExtraOr("ti_nsig", a.TINSig)
				a.BatchSize = int(p.ExtraOr("batch_size", 0))
				if err := a.Validate(); err != nil {
					return nil, err
				}
				return a, nil
			},
		})
	}
}
