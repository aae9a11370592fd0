package defenses

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/train"
)

// DAMVariant labels what DAM computes here: the released code, not the
// paper's dual-mask description (see DAMConfig).
const DAMVariant = "released-code (Yangjinluan/DAM @105f8d9, ConcreteSafeLayerWiseAdaMergingForCLIP / TaskWise): one Concrete mask, per-task universal perturbation, entropy AdaMerging; the paper's dual-mask meta-learning is not in the public code"

// DAMConfig is DAM — Defense-Aware Merging (Yang et al., ICLR 2025) — as
// its released code runs it, and Concrete AdaMerging (Tang et al. 2023),
// which it extends. The defaults are the released layer-wise
// configuration (clip_safe_concrete_layer_wise_adamerging.yaml), the only
// one whose keys the released classes read completely.
//
// One mask logit s per element of every trainable weight that some
// fine-tune changed, initialised to 0; merge weights λ per task (and per
// weight tensor when LayerWise), initialised to Lambda0; a universal
// perturbation P_t per task, initialised to 0. Each of Steps steps:
//
//	m ~ RelaxedBernoulli(logits s, temperature), m ← m/mean(m) per tensor
//	θ(λ, m) = θ₀ + Σ_t λ_t·(m ⊙ τ_t)   (buffers such as BatchNorm statistics stay θ₀'s)
//	(1) λ ← Lambda0, then one Adam step (lr InnerLR) on Σ_t H(f_θ(x_t)),
//	    the mean softmax entropy of an unlabeled batch of task t, with m
//	    fixed. The gradient is taken at the λ the previous step left
//	    (the code merges before it resets λ), and — the code zeroes λ's
//	    gradient after the step, not before — it also holds the gradient
//	    of the previous step's (3) with respect to λ (CarryLambdaGrad).
//	(2) one Adam step (lr AdvLR) on P minimising Σ_t −CE(f_θ(x_t + P_t),
//	    argmax f_θ(x_t)) with θ fixed (x_t + P_t is not clipped here)
//	(3) one Adam step (lr LR) on s minimising Σ_t H(f_θ(x_t)) +
//	    AdvWeight·H(f_θ(clip(x_t + P_t, 0, 1)))
//
// Every term draws a fresh batch of task t from an endlessly reshuffled
// stream of its data. Then a final mask is sampled the same way
// (continuous, rescaled; it is random), λ is reset to Lambda0 and
// AdaMergingSteps Adam steps (lr AdaMergingLR) minimise the entropy with
// the mask fixed. The model is θ(λ, m).
//
// Concrete AdaMerging is the same without P and without (2), with (3)'s
// loss Σ_t H(f_θ(x_t)) alone, and with λ's gradient cleared before each
// step. DAM with AdvWeight 0, FreezePerturbation and CarryLambdaGrad off
// is therefore Concrete AdaMerging, step for step.
//
// Deviations: BatchNorm runs in inference mode (the reference calls
// train(); CLIP has no BatchNorm) and the random numbers are this
// package's (PCG seeded by Seed), not PyTorch's.
type DAMConfig struct {
	// Data are the unlabeled adaptation images of each task, one per
	// fine-tune of the pool, in order (the reference adapts on the test
	// splits, without their labels).
	Data            []*datasets.Dataset
	Batch           int     // 16
	Lambda0         float64 // scaling_factor 0.3
	LayerWise       bool    // one λ per task and weight tensor (released config) or per task
	Steps           int     // max_steps 1000
	AdaMergingSteps int     // max_adamerging_steps 1000
	LR              float64 // mask logits' Adam lr, 1e-3
	InnerLR         float64 // base_lr 1: λ's Adam lr inside mask learning
	AdaMergingLR    float64 // 1e-3
	AdvLR           float64 // adv_lr 1e-4
	AdvWeight       float64 // adv_weight 0.1
	Temperature     float64 // 0.5
	// FreezePerturbation keeps P at 0 and skips step (2).
	FreezePerturbation bool
	// CarryLambdaGrad is the released code's gradient carry-over (see
	// above); DefaultDAMConfig sets it.
	CarryLambdaGrad bool
	Seed            uint64

	// Progress, when set, is told the stage ("mask" or "adamerging"),
	// the step (from 1), the steps in the stage and the step's loss.
	Progress func(stage string, step, total int, loss float64)
}

// DefaultDAMConfig is the released layer-wise configuration.
func DefaultDAMConfig() DAMConfig {
	return DAMConfig{Batch: 16, Lambda0: 0.3, LayerWise: true, Steps: 1000, AdaMergingSteps: 1000, LR: 1e-3, InnerLR: 1,
		AdaMergingLR: 1e-3, AdvLR: 1e-4, AdvWeight: 0.1, Temperature: 0.5, CarryLambdaGrad: true, Seed: 1}
}

// DAMResult is an adaptive merge and how it ended.
type DAMResult struct {
	*Merged `json:"-"`
	Method  string `json:"method"`
	Variant string `json:"variant,omitempty"`
	// Tensors are the weights merged, which Lambda's columns follow when
	// the merge is layer-wise.
	Tensors []string `json:"tensors"`
	// Lambda are the final merge weights, per task (and per tensor).
	Lambda [][]float64 `json:"lambda"`
	// MaskDensity is the mean keep probability sigmoid(s) of the learned
	// mask; MaskMin and MaskMax bound the final (rescaled) mask.
	MaskDensity float64 `json:"mask_density"`
	MaskMin     float64 `json:"mask_min"`
	MaskMax     float64 `json:"mask_max"`
	// PerturbationLinf is max |P_t| per task (DAM only).
	PerturbationLinf []float64 `json:"perturbation_linf,omitempty"`
	// Loss is the entropy objective at the end of each stage.
	MaskLoss       float64 `json:"mask_loss"`
	AdaMergingLoss float64 `json:"adamerging_loss"`
	Config         struct {
		Batch           int     `json:"batch"`
		Lambda0         float64 `json:"lambda0"`
		LayerWise       bool    `json:"layer_wise"`
		Steps           int     `json:"steps"`
		AdaMergingSteps int     `json:"adamerging_steps"`
		LR              float64 `json:"lr"`
		InnerLR         float64 `json:"inner_lr"`
		AdaMergingLR    float64 `json:"adamerging_lr"`
		AdvLR           float64 `json:"adv_lr,omitempty"`
		AdvWeight       float64 `json:"adv_weight"`
		Temperature     float64 `json:"temperature"`
		FreezeP         bool    `json:"freeze_perturbation,omitempty"`
		CarryLambdaGrad bool    `json:"carry_lambda_grad"`
		Seed            uint64  `json:"seed"`
	} `json:"config"`
}

func (c *DAMConfig) check(p *Pool) error {
	switch {
	case len(c.Data) != len(p.Models):
		return fmt.Errorf("adaptive merging needs unlabeled data for each of the %d models, got %d data sets", len(p.Models), len(c.Data))
	case c.Batch < 1:
		return fmt.Errorf("batch %d must be at least 1", c.Batch)
	case c.Steps < 0 || c.AdaMergingSteps < 0:
		return fmt.Errorf("steps %d and %d must not be negative", c.Steps, c.AdaMergingSteps)
	case !(c.Temperature > 0) || math.IsInf(c.Temperature, 0):
		return fmt.Errorf("temperature %v must be positive", c.Temperature)
	case !finite(c.Lambda0, c.LR, c.InnerLR, c.AdaMergingLR, c.AdvLR, c.AdvWeight):
		return errors.New("merge settings must be finite numbers")
	case c.LR < 0 || c.InnerLR < 0 || c.AdaMergingLR < 0 || c.AdvLR < 0 || c.AdvWeight < 0:
		return errors.New("learning rates and the adversarial weight must not be negative")
	}
	shape := p.Base.InputShape()
	for t, d := range c.Data {
		if d == nil || d.Len() == 0 {
			return fmt.Errorf("adaptation data %d holds no images", t+1)
		}
		if len(shape) != 3 || [3]int(shape) != d.Shape {
			return fmt.Errorf("adaptation data %s has images of shape %v, the models take %v", d.Name, d.Shape, shape)
		}
	}
	return nil
}

func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// adaptive is the state of an adaptive merge.
type adaptive struct {
	p    *Pool
	cfg  DAMConfig
	work *models.Model
	idx  []int // merged tensors: trainable parameters some fine-tune changed
	// s are the mask logits, lambda the merge weights [task][tensor or 1].
	s       [][]float32
	lambda  [][]float32
	init    [][]float32
	streams []*stream
	noise   *rand.Rand
	size    int // C·H·W
	k       int // classes
}

func (p *Pool) newAdaptive(cfg DAMConfig) (*adaptive, error) {
	if err := cfg.check(p); err != nil {
		return nil, err
	}
	work, err := models.Load(p.BaseONNX)
	if err != nil {
		return nil, err
	}
	a := &adaptive{p: p, cfg: cfg, work: work, k: work.NumClasses(),
		noise: rand.New(rand.NewPCG(cfg.Seed, 0x6d61736b))} // "mask"
	sh := work.InputShape()
	a.size = sh[0] * sh[1] * sh[2]
	for i, par := range p.Params {
		if par.Buffer {
			continue
		}
		for t := range p.Tau {
			if anyNonZero(p.Tau[t][i]) {
				a.idx = append(a.idx, i)
				break
			}
		}
	}
	if len(a.idx) == 0 {
		return nil, errors.New("the fine-tunes change no trainable weight of the base: nothing to merge")
	}
	for _, i := range a.idx {
		a.s = append(a.s, make([]float32, len(p.Theta0[i])))
	}
	cols := 1
	if cfg.LayerWise {
		cols = len(a.idx)
	}
	for range p.Tau {
		row := make([]float32, cols)
		for j := range row {
			row[j] = float32(cfg.Lambda0)
		}
		a.lambda = append(a.lambda, row)
		a.init = append(a.init, append([]float32(nil), row...))
	}
	for t, d := range cfg.Data {
		a.streams = append(a.streams, newStream(d, cfg.Batch, cfg.Seed, uint64(t)))
	}
	return a, nil
}

func anyNonZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return true
		}
	}
	return false
}

// stream draws batches from a data set endlessly, reshuffling it (a
// seeded permutation) on every pass, the last batch of a pass possibly
// short: a shuffled DataLoader restarted when exhausted.
type stream struct {
	d    *datasets.Dataset
	rng  *rand.Rand
	perm []int
	pos  int
	bs   int
	x    []float32
}

func newStream(d *datasets.Dataset, bs int, seed, task uint64) *stream {
	return &stream{d: d, bs: bs, rng: rand.New(rand.NewPCG(seed, 0x64617461+task))} // "data"+t
}

func (s *stream) next() []float32 {
	if s.pos >= len(s.perm) {
		s.perm, s.pos = s.rng.Perm(s.d.Len()), 0
	}
	e := min(len(s.perm), s.pos+s.bs)
	idx := s.perm[s.pos:e]
	s.pos = e
	sz := s.d.Shape[0] * s.d.Shape[1] * s.d.Shape[2]
	if cap(s.x) < len(idx)*sz {
		s.x = make([]float32, s.bs*sz)
	}
	x := s.x[:len(idx)*sz]
	s.d.Batch(idx, x)
	return x
}

// concrete is one mask sample: r ~ RelaxedBernoulli(s, τ) and the
// rescaled m = r/mean(r), per merged tensor.
type concrete struct {
	r, m [][]float32
	mu   []float64
}

// Float32 limits torch.distributions clamps by: finfo(float32).eps and .tiny.
const (
	f32Eps  = 1.1920928955078125e-07
	f32Tiny = 1.1754943508222875e-38
)

// sample draws a continuous mask as torch's RelaxedBernoulli(logits=s,
// temperature).rsample() does: u ~ U(0,1) clamped to [eps, 1−eps],
// r = clamp(sigmoid((s + log u − log(1−u))/τ), tiny, 1−eps).
func (a *adaptive) sample() *concrete {
	c := &concrete{}
	temp := a.cfg.Temperature
	for _, s := range a.s {
		r := make([]float32, len(s))
		m := make([]float32, len(s))
		var sum float64
		for j, v := range s {
			u := min(max(a.noise.Float64(), f32Eps), 1-f32Eps)
			z := (float64(v) + math.Log(u) - math.Log1p(-u)) / temp
			x := min(max(1/(1+math.Exp(-z)), f32Tiny), 1-f32Eps)
			r[j] = float32(x)
			sum += float64(r[j])
		}
		mu := sum / float64(len(s))
		for j := range r {
			m[j] = float32(float64(r[j]) / mu)
		}
		c.r, c.m, c.mu = append(c.r, r), append(c.m, m), append(c.mu, mu)
	}
	return c
}

// lam is λ of task t for merged tensor l.
func (a *adaptive) lam(lambda [][]float32, t, l int) float32 {
	if a.cfg.LayerWise {
		return lambda[t][l]
	}
	return lambda[t][0]
}

// merge sets the work model to θ(λ, m) and returns the values: per
// tensor ((θ₀ + τ_1·(λ_1 m)) + τ_2·(λ_2 m)) + …, in float32 and in that
// order, as the reference's wrapper adds them.
func (a *adaptive) merge(lambda [][]float32, m [][]float32) ([][]float32, error) {
	vals := make([][]float32, len(a.p.Params))
	for i := range vals {
		vals[i] = a.p.Theta0[i]
	}
	for l, i := range a.idx {
		v := append([]float32(nil), a.p.Theta0[i]...)
		for t := range a.p.Tau {
			lt := a.lam(lambda, t, l)
			tau := a.p.Tau[t][i]
			for j := range v {
				v[j] += tau[j] * (lt * m[l][j])
			}
		}
		vals[i] = v
	}
	return vals, a.work.SetParams(vals)
}

// entropyCotangent writes scale·∂H/∂z into dz for FusionBench's
// entropy_loss H = mean_i −Σ_j p_ij·log(p_ij + 1e-8) over the n rows of z,
// and returns H.
func entropyCotangent(dz, z []float32, k int, scale float64) float64 {
	n := len(z) / k
	var h float64
	p := make([]float64, k)
	for i := 0; i < n; i++ {
		row := z[i*k : (i+1)*k]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var s float64
		for j, v := range row {
			p[j] = math.Exp(float64(v - mx))
			s += p[j]
		}
		var hi, pg float64
		g := make([]float64, k)
		for j := range p {
			p[j] /= s
			hi -= p[j] * math.Log(p[j]+1e-8)
			g[j] = -math.Log(p[j]+1e-8) - p[j]/(p[j]+1e-8)
			pg += p[j] * g[j]
		}
		h += hi
		if dz != nil {
			for j := range p {
				dz[i*k+j] = float32(scale / float64(n) * p[j] * (g[j] - pg))
			}
		}
	}
	return h / float64(n)
}

// entropyGrads adds to g (per merged tensor) the gradient of weight·H over
// the batches xs (one per task; H's batch means summed over tasks) and
// returns the summed loss.
func (a *adaptive) entropyGrads(g [][]float32, xs [][]float32, weight float64) (float64, error) {
	var loss float64
	for _, x := range xs {
		var h float64
		grads, err := a.work.ParamGrads(x, func(z, dz []float32) { h = entropyCotangent(dz, z, a.k, weight) })
		if err != nil {
			return 0, err
		}
		loss += weight * h
		for l, i := range a.idx {
			for j, v := range grads[i] {
				g[l][j] += v
			}
		}
	}
	return loss, nil
}

func (a *adaptive) zeroTensors() [][]float32 {
	g := make([][]float32, len(a.idx))
	for l, i := range a.idx {
		g[l] = make([]float32, len(a.p.Theta0[i]))
	}
	return g
}

// lambdaGrad adds ∂L/∂λ_{t,l} = Σ gθ_l ⊙ m_l ⊙ τ_{t,l} to gl.
func (a *adaptive) lambdaGrad(gl [][]float32, g, m [][]float32) {
	for t := range a.p.Tau {
		for l, i := range a.idx {
			tau := a.p.Tau[t][i]
			var s float64
			for j, v := range g[l] {
				s += float64(v) * float64(m[l][j]) * float64(tau[j])
			}
			col := 0
			if a.cfg.LayerWise {
				col = l
			}
			gl[t][col] += float32(s)
		}
	}
}

// maskGrad is ∂L/∂s through m = r/mean(r), r = clamp(sigmoid(z)),
// z = (s + noise)/τ, with ∂L/∂m_l = gθ_l ⊙ Σ_t λ_{t,l} τ_{t,l}.
func (a *adaptive) maskGrad(g [][]float32, c *concrete, lambda [][]float32) [][]float32 {
	out := make([][]float32, len(a.idx))
	for l, i := range a.idx {
		n := len(g[l])
		gm := make([]float64, n)
		var dot float64
		for j := range gm {
			var w float64
			for t := range a.p.Tau {
				w += float64(a.lam(lambda, t, l)) * float64(a.p.Tau[t][i][j])
			}
			gm[j] = float64(g[l][j]) * w
			dot += gm[j] * float64(c.r[l][j])
		}
		mu := c.mu[l]
		gs := make([]float32, n)
		for j := range gs {
			r := float64(c.r[l][j])
			gr := gm[j]/mu - dot/(float64(n)*mu*mu)
			if r <= f32Tiny || r >= 1-f32Eps {
				continue // clamped: no gradient
			}
			gs[j] = float32(gr * r * (1 - r) / a.cfg.Temperature)
		}
		out[l] = gs
	}
	return out
}

func (a *adaptive) batches() [][]float32 {
	xs := make([][]float32, len(a.streams))
	for t, s := range a.streams {
		xs[t] = append([]float32(nil), s.next()...)
	}
	return xs
}

func zeroLike(v [][]float32) [][]float32 {
	out := make([][]float32, len(v))
	for i := range v {
		out[i] = make([]float32, len(v[i]))
	}
	return out
}

func copyInto(dst, src [][]float32) {
	for i := range src {
		copy(dst[i], src[i])
	}
}

// DAM merges the pool by Defense-Aware Merging as released (see
// DAMConfig). It stops with ctx's error when ctx is done.
func (p *Pool) DAM(ctx context.Context, cfg DAMConfig) (*DAMResult, error) {
	a, err := p.newAdaptive(cfg)
	if err != nil {
		return nil, err
	}
	pert := make([][]float32, len(p.Tau))
	for t := range pert {
		pert[t] = make([]float32, a.size)
	}
	optL, optS, optP := train.NewAdam(), train.NewAdam(), train.NewAdam()
	gl := zeroLike(a.lambda)
	var loss float64
	for step := 0; step < cfg.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := a.sample()
		// (1) At the λ the previous step left, with m fixed.
		if _, err := a.merge(a.lambda, c.m); err != nil {
			return nil, err
		}
		g := a.zeroTensors()
		if _, err := a.entropyGrads(g, a.batches(), 1); err != nil {
			return nil, err
		}
		a.lambdaGrad(gl, g, c.m)
		copyInto(a.lambda, a.init)
		optL.Step(a.lambda, gl, cfg.InnerLR)
		gl = zeroLike(a.lambda)
		if _, err := a.merge(a.lambda, c.m); err != nil {
			return nil, err
		}
		// (2) The trigger proxy, on the merged model.
		if !cfg.FreezePerturbation {
			if err := a.perturbationStep(optP, pert); err != nil {
				return nil, err
			}
		}
		// (3) The mask.
		g = a.zeroTensors()
		if loss, err = a.maskLoss(g, pert); err != nil {
			return nil, err
		}
		if cfg.CarryLambdaGrad {
			a.lambdaGrad(gl, g, c.m)
		}
		optS.Step(a.s, a.maskGrad(g, c, a.lambda), cfg.LR)
		if cfg.Progress != nil {
			cfg.Progress("mask", step+1, cfg.Steps, loss)
		}
	}
	res, err := a.finish(ctx, gl, MethodDAM)
	if err != nil {
		return nil, err
	}
	res.Variant = DAMVariant
	res.MaskLoss = loss
	for _, pt := range pert {
		var m float64
		for _, v := range pt {
			m = max(m, math.Abs(float64(v)))
		}
		res.PerturbationLinf = append(res.PerturbationLinf, m)
	}
	return res, nil
}

// perturbationStep is DAM's step (2): one Adam step on P minimising
// Σ_t −CE(f(x_t + P_t), argmax f(x_t)), batch-mean cross-entropy.
func (a *adaptive) perturbationStep(opt *train.Adam, pert [][]float32) error {
	grads := make([][]float32, len(pert))
	for t, x := range a.batches() {
		n := len(x) / a.size
		z := make([]float32, n*a.k)
		if err := a.work.Logits(z, x); err != nil {
			return err
		}
		y := make([]int, n)
		for i := range y {
			y[i] = argmax(z[i*a.k : (i+1)*a.k])
		}
		xp := make([]float32, len(x))
		for j := range x {
			xp[j] = x[j] + pert[t][j%a.size]
		}
		dx := make([]float32, len(x))
		var bad error
		err := a.work.Grad(dx, xp, func(z, dz []float32) {
			bad = models.SoftmaxCrossEntropy(dz, z, y, a.k, -1/float64(n), nil)
		})
		if err == nil {
			err = bad
		}
		if err != nil {
			return err
		}
		gp := make([]float32, a.size)
		for j, v := range dx {
			gp[j%a.size] += v
		}
		grads[t] = gp
	}
	opt.Step(pert, grads, a.cfg.AdvLR)
	return nil
}

// maskLoss adds to g the gradient of DAM's step-(3) loss Σ_t H(f(x_t)) +
// AdvWeight·H(f(clip(x_t + P_t, 0, 1))) and returns it. Natural and
// perturbed images go through one pass, as the reference concatenates
// them; with AdvWeight 0 the perturbed half, whose gradient is 0, is left
// out.
func (a *adaptive) maskLoss(g [][]float32, pert [][]float32) (float64, error) {
	xs := a.batches()
	if a.cfg.AdvWeight == 0 {
		return a.entropyGrads(g, xs, 1)
	}
	var loss float64
	for t, x := range xs {
		both := make([]float32, 2*len(x))
		copy(both, x)
		for j := range x {
			both[len(x)+j] = min(max(x[j]+pert[t][j%a.size], 0), 1)
		}
		n := len(x) / a.size
		var h float64
		grads, err := a.work.ParamGrads(both, func(z, dz []float32) {
			h = entropyCotangent(dz[:n*a.k], z[:n*a.k], a.k, 1)
			h += a.cfg.AdvWeight * entropyCotangent(dz[n*a.k:], z[n*a.k:], a.k, a.cfg.AdvWeight)
		})
		if err != nil {
			return 0, err
		}
		loss += h
		for l, i := range a.idx {
			for j, v := range grads[i] {
				g[l][j] += v
			}
		}
	}
	return loss, nil
}

// ConcreteAdaMerging merges the pool by Concrete AdaMerging (Tang et al.
// 2023) as FusionBench's ConcreteTaskWise/LayerWiseAdaMergingForCLIP run
// it: DAMConfig without its adversarial fields.
func (p *Pool) ConcreteAdaMerging(ctx context.Context, cfg DAMConfig) (*DAMResult, error) {
	a, err := p.newAdaptive(cfg)
	if err != nil {
		return nil, err
	}
	optL, optS := train.NewAdam(), train.NewAdam()
	var loss float64
	for step := 0; step < cfg.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := a.sample()
		if _, err := a.merge(a.lambda, c.m); err != nil {
			return nil, err
		}
		g := a.zeroTensors()
		if _, err := a.entropyGrads(g, a.batches(), 1); err != nil {
			return nil, err
		}
		gl := zeroLike(a.lambda)
		a.lambdaGrad(gl, g, c.m)
		copyInto(a.lambda, a.init)
		optL.Step(a.lambda, gl, cfg.InnerLR)
		if _, err := a.merge(a.lambda, c.m); err != nil {
			return nil, err
		}
		g = a.zeroTensors()
		if loss, err = a.entropyGrads(g, a.batches(), 1); err != nil {
			return nil, err
		}
		optS.Step(a.s, a.maskGrad(g, c, a.lambda), cfg.LR)
		if cfg.Progress != nil {
			cfg.Progress("mask", step+1, cfg.Steps, loss)
		}
	}
	res, err := a.finish(ctx, zeroLike(a.lambda), "concrete-adamerging")
	if err != nil {
		return nil, err
	}
	res.MaskLoss = loss
	return res, nil
}

// finish samples the final mask, runs AdaMerging on λ with it fixed
// (carry is a λ gradient left over from mask learning) and writes the
// model.
func (a *adaptive) finish(ctx context.Context, carry [][]float32, method string) (*DAMResult, error) {
	cfg := a.cfg
	c := a.sample()
	copyInto(a.lambda, a.init)
	opt := train.NewAdam()
	gl := carry
	var loss float64
	for step := 0; step < cfg.AdaMergingSteps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := a.merge(a.lambda, c.m); err != nil {
			return nil, err
		}
		g := a.zeroTensors()
		var err error
		if loss, err = a.entropyGrads(g, a.batches(), 1); err != nil {
			return nil, err
		}
		a.lambdaGrad(gl, g, c.m)
		opt.Step(a.lambda, gl, cfg.AdaMergingLR)
		gl = zeroLike(a.lambda)
		if cfg.Progress != nil {
			cfg.Progress("adamerging", step+1, cfg.AdaMergingSteps, loss)
		}
	}
	vals, err := a.merge(a.lambda, c.m)
	if err != nil {
		return nil, err
	}
	merged, err := a.p.finish(vals)
	if err != nil {
		return nil, err
	}
	res := &DAMResult{Merged: merged, Method: method, AdaMergingLoss: loss, MaskMin: math.Inf(1), MaskMax: math.Inf(-1)}
	for _, i := range a.idx {
		res.Tensors = append(res.Tensors, a.p.Params[i].Name)
	}
	for _, row := range a.lambda {
		r := make([]float64, len(row))
		for j, v := range row {
			r[j] = float64(v)
		}
		res.Lambda = append(res.Lambda, r)
	}
	var dens float64
	n := 0
	for l := range a.s {
		for j, v := range a.s[l] {
			dens += 1 / (1 + math.Exp(-float64(v)))
			res.MaskMin = min(res.MaskMin, float64(c.m[l][j]))
			res.MaskMax = max(res.MaskMax, float64(c.m[l][j]))
			n++
		}
	}
	res.MaskDensity = dens / float64(n)
	rc := &res.Config
	rc.Batch, rc.Lambda0, rc.LayerWise, rc.Steps, rc.AdaMergingSteps = cfg.Batch, cfg.Lambda0, cfg.LayerWise, cfg.Steps, cfg.AdaMergingSteps
	rc.LR, rc.InnerLR, rc.AdaMergingLR, rc.Temperature, rc.Seed = cfg.LR, cfg.InnerLR, cfg.AdaMergingLR, cfg.Temperature, cfg.Seed
	if method == MethodDAM {
		rc.AdvLR, rc.AdvWeight, rc.FreezeP, rc.CarryLambdaGrad = cfg.AdvLR, cfg.AdvWeight, cfg.FreezePerturbation, cfg.CarryLambdaGrad
	}
	return res, nil
}

func argmax(row []float32) int {
	b := 0
	for j, v := range row {
		if v > row[b] {
			b = j
		}
	}
	return b
}
