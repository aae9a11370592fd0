package scenarios

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/report"
)

// Preprocessing is what happens to the data before the models see it.
const Preprocessing = "none: images as float32 N×C×H×W in [0,1], any normalisation inside the model"

// Cell is one attack cell — craft adversarial examples on the surrogates,
// evaluate them on every victim, score — the one code path behind
// `advmatrix attack`, the scenario runner and the defenses' evaluations.
//
// Fill the fields, call Check (cheap: it reads no data), set Data, then
// Run.
type Cell struct {
	Attack attacks.Spec
	// Params are the settings the user gave (Params.Set marks which); the
	// attack's defaults for the image shape fill the rest.
	Params attacks.Params
	// Targeting chooses the targets: none, given (Targets, read from
	// TargetsFile when Targets is nil), random or least likely.
	Targeting   attacks.TargetMode
	Targets     []int
	TargetsFile string

	Surrogates []Model
	// Victims are evaluated on the adversarial examples; none evaluates
	// them on the surrogates themselves (white-box).
	Victims []Model
	Data    Data

	// Seed seeds the attack (batch b with attacks.BatchSeed(Seed, b)) and
	// random targets.
	Seed uint64
	// Batch is the number of images crafted together and per evaluation
	// pass; batch-coupled attacks (AdaEA's and CWA's per-batch statistics)
	// depend on it.
	Batch int
	// Quantize also evaluates after rounding to 8 bits.
	Quantize bool
	// Strength, when not nil, selects the attack's strength first.
	Strength *StrengthPlan
	// Progress, when not nil, is told how many images are crafted so far
	// out of how many.
	Progress func(done, total int)

	params attacks.Params // complete, after Check
	probe  attacks.Attack
}

// Outcome is what a cell produced: the results and the images.
type Outcome struct {
	Result report.AttackResult
	// Clean and Adv are the n attacked images before and after, N×C×H×W.
	Clean, Adv []float32
	Shape      [3]int
}

// Check validates the cell before any data is read: every surrogate and
// victim takes the first surrogate's images and outputs its number of
// classes, the strength selection can run, and the attack can be made
// from its parameters.
func (c *Cell) Check() error {
	if len(c.Surrogates) == 0 {
		return fmt.Errorf("a cell needs at least one surrogate")
	}
	if c.Batch <= 0 {
		return fmt.Errorf("batch %d must be positive", c.Batch)
	}
	ref := c.Surrogates[0]
	for i, m := range c.Surrogates {
		if err := sameKind(m, ref, fmt.Sprintf("surrogate %d (%s)", i, m.Ref.Path)); err != nil {
			return err
		}
	}
	for i, m := range c.Victims {
		if err := sameKind(m, ref, fmt.Sprintf("victim %d (%s)", i, m.Ref.Path)); err != nil {
			return err
		}
	}
	for _, m := range append(append([]Model(nil), c.Surrogates...), c.Victims...) {
		if f, ok := m.Classifier.(interface{ FixedBatch() int }); ok && f.FixedBatch() > 0 && f.FixedBatch() != c.Batch {
			return fmt.Errorf("%s takes batches of exactly %d images (its batch axis is fixed): run with --batch %d and a --limit that is a multiple of it, or re-export it with a dynamic batch axis",
				m.Ref.Path, f.FixedBatch(), f.FixedBatch())
		}
	}
	shape := ref.InputShape()
	if c.Strength != nil {
		if err := c.Strength.prepare(c.Attack, c.Params, shape); err != nil {
			return err
		}
	}
	return c.complete(c.Params, shape)
}

// complete merges the user's settings with the attack's defaults and
// makes the attack.
func (c *Cell) complete(user attacks.Params, shape []int) error {
	p := c.Attack.Complete(user, shape)
	if p.Eps < 0 || math.IsNaN(p.Eps) {
		return fmt.Errorf("eps %v must be >= 0", p.Eps)
	}
	a, err := c.Attack.New(p)
	if err != nil {
		return err
	}
	c.params, c.probe = p, a
	return nil
}

// sameKind checks that a model takes the same images and outputs the same
// number of classes as the reference surrogate.
func sameKind(m, ref Model, what string) error {
	if !slices.Equal(m.InputShape(), ref.InputShape()) {
		return fmt.Errorf("%s takes %s images, surrogate 0 (%s) takes %s", what, shapeString(m.InputShape()), ref.Ref.Path, shapeString(ref.InputShape()))
	}
	if m.NumClasses() != ref.NumClasses() {
		return fmt.Errorf("%s outputs %d classes, surrogate 0 (%s) outputs %d", what, m.NumClasses(), ref.Ref.Path, ref.NumClasses())
	}
	return nil
}

// Run crafts, evaluates and scores the cell. Check must have succeeded.
func (c *Cell) Run(ctx context.Context) (*Outcome, error) {
	start := time.Now()
	out, err := c.Craft(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.scoreVictims(ctx, out); err != nil {
		return nil, err
	}
	out.Result.WallSeconds = time.Since(start).Seconds()
	return out, nil
}

// Craft crafts the cell's adversarial examples and measures them (norms,
// SSIM), leaving the victims to the caller: Run scores the cell's own, the
// scenario runner scores and caches them one by one.
func (c *Cell) Craft(ctx context.Context) (*Outcome, error) {
	start := time.Now()
	if c.probe == nil {
		return nil, fmt.Errorf("%w: Cell.Run before Check", attacks.ErrInternal)
	}
	d := c.Data
	k := c.Surrogates[0].NumClasses()
	if d.Dataset == nil {
		return nil, fmt.Errorf("%w: Cell.Run without data", attacks.ErrInternal)
	}
	if d.Labels == nil {
		return nil, fmt.Errorf("data %s has no labels; an attack needs them", d.Ref.Spec)
	}
	if d.Classes > k {
		return nil, fmt.Errorf("data %s has %d classes, the models output %d logits", d.Ref.Spec, d.Classes, k)
	}
	n := d.Len()
	x := d.Images()
	labels := d.Labels

	counted := make([]*attacks.Counted, len(c.Surrogates))
	cls := make([]models.Classifier, len(c.Surrogates))
	for i, m := range c.Surrogates {
		counted[i] = attacks.Count(m.Classifier)
		cls[i] = counted[i].Classifier()
	}

	user := c.Params
	var selection *report.StrengthSelection
	if c.Strength != nil {
		chosen, rec, err := c.Strength.run(ctx, c.Attack, user, c.Surrogates[0], attacks.Batch{X: x, Labels: labels, Seed: c.Seed}, c.Batch)
		if err != nil {
			return nil, err
		}
		selection = rec
		// Craft with the chosen strength as if it had been given.
		user = c.Strength.selection(user)
		if c.Strength.Key == "eps" {
			user.Eps = chosen
		} else {
			user.Extra = maps(user.Extra)
			user.Extra[c.Strength.Key] = chosen
		}
		if err := c.complete(user, c.Surrogates[0].InputShape()); err != nil {
			return nil, err
		}
	}
	params := c.params

	res := report.AttackResult{
		Schema: report.SchemaVersion, ToolVersion: version.String(), StartedAt: start.UTC().Format(time.RFC3339),
		Attack: c.Attack.Name, Summary: c.Attack.Summary, Norm: params.Norm.String(), Eps: params.Eps, Targeted: c.Targeting.String(), Seed: c.Seed,
		BatchSize: c.Batch, WhiteBox: len(c.Victims) == 0, Data: d.Ref, N: n, Preprocessing: Preprocessing, Quantize: c.Quantize,
		ASRRatioInterval: metrics.RatioInterval, L0Threshold: metrics.L0Threshold,
		Params: report.AttackParams{Eps: params.Eps, Alpha: params.Alpha, Steps: params.Steps, Norm: params.Norm.String(),
			Momentum: params.Momentum, Targeted: c.Targeting.String(), Fusion: params.Fusion.String(), Seed: c.Seed, Extra: params.Extra,
			Derived: c.Attack.Recorded(params)},
		BatchSeedRule:     attacks.BatchSeedRule,
		StrengthSelection: selection,
	}
	// The gradient family fills settings a preset leaves at zero (FGSM's one
	// step of size ε): record what runs.
	if g, ok := c.probe.(*attacks.Config); ok && params.Steps == 0 {
		res.Params.Steps = g.Steps
		if !user.Has("alpha") {
			res.Params.Alpha = g.Alpha
		}
	}
	res.Params.Given = []string{}
	for name := range user.Set {
		res.Params.Given = append(res.Params.Given, name)
	}
	sort.Strings(res.Params.Given)
	for _, m := range c.Surrogates {
		res.Surrogates = append(res.Surrogates, m.Ref)
	}

	t0 := time.Now()
	targets, err := c.targets(ctx, cls, x, labels, k, &res)
	if err != nil {
		return nil, err
	}
	if targets != nil {
		if err := attacks.CheckTargets(targets, labels, k); err != nil {
			return nil, fmt.Errorf("targets: %w", err)
		}
	}
	res.Targets = targets

	var done int
	progress := func(m int) {
		done += m
		if c.Progress != nil {
			c.Progress(done, n)
		}
	}
	adv, stats, err := attacks.CraftInBatchesStats(ctx, c.probe, cls, attacks.Batch{X: x, Labels: labels, Targets: targets, Seed: c.Seed}, c.Batch, progress)
	if err != nil {
		return nil, fmt.Errorf("%s on %w", c.Attack.Name, err)
	}
	res.AttackSeconds = time.Since(t0).Seconds()
	res.AttackStats = stats
	for _, m := range counted {
		res.SurrogateForwardEvals += m.Forwards()
		res.SurrogateGradEvals += m.Grads()
		res.ModelSeconds += m.Seconds()
	}
	res.GradEvalsPerSecond = float64(res.SurrogateGradEvals) / max(res.AttackSeconds, 1e-9)
	for i, v := range adv {
		if math.IsNaN(float64(v)) || v < 0 || v > 1 {
			return nil, fmt.Errorf("%w: %s produced value %v at %d, outside [0,1]", attacks.ErrInternal, c.Attack.Name, v, i)
		}
	}

	out := &Outcome{Result: res, Clean: x, Adv: adv, Shape: d.Shape}
	if err := c.measure(out); err != nil {
		return nil, err
	}
	out.Result.WallSeconds = time.Since(start).Seconds()
	return out, nil
}

// targets resolves the cell's targets before crafting.
func (c *Cell) targets(ctx context.Context, cls []models.Classifier, x []float32, labels []int, k int, res *report.AttackResult) ([]int, error) {
	n := len(labels)
	switch c.Targeting {
	case attacks.TargetGiven:
		if c.Targets != nil {
			if len(c.Targets) != n {
				return nil, fmt.Errorf("%d targets for %d images", len(c.Targets), n)
			}
			return c.Targets, nil
		}
		t, file, err := ReadTargets(c.TargetsFile, n, k)
		if err != nil {
			return nil, fmt.Errorf("targets: %w", err)
		}
		res.TargetsFile = &file
		return t, nil
	case attacks.TargetRandom:
		return attacks.RandomTargets(labels, k, c.Seed), nil
	case attacks.TargetLeast:
		return attacks.LeastLikelyTargets(ctx, cls, x, labels, c.Batch)
	}
	return nil, nil
}

// measure fills in the perturbation's norms and SSIM (also after 8-bit
// rounding with Quantize).
func (c *Cell) measure(out *Outcome) error {
	res, x, adv := &out.Result, out.Clean, out.Adv
	n := res.N
	C, H, W := out.Shape[0], out.Shape[1], out.Shape[2]
	var err error
	if res.Perturbation, err = metrics.PerturbationOf(x, adv, n); err != nil {
		return err
	}
	res.MeanSSIM = metrics.MeanSSIM(x, adv, n, C, H, W)
	if c.Quantize {
		xq, advq := metrics.Quantize8(x), metrics.Quantize8(adv)
		pq, err := metrics.PerturbationOf(xq, advq, n)
		if err != nil {
			return err
		}
		sq := metrics.MeanSSIM(xq, advq, n, C, H, W)
		res.PerturbationQuantized, res.MeanSSIMQuantized = &pq, &sq
	}
	return nil
}

// scoreVictims evaluates every victim (the surrogates when there are none)
// on the clean and adversarial images.
func (c *Cell) scoreVictims(ctx context.Context, out *Outcome) error {
	t1 := time.Now()
	res, x, adv := &out.Result, out.Clean, out.Adv
	labels, targets := c.Data.Labels, res.Targets
	victims := c.Victims
	if len(victims) == 0 {
		victims = c.Surrogates
	}
	var xq, advq []float32
	if c.Quantize {
		xq, advq = metrics.Quantize8(x), metrics.Quantize8(adv)
	}
	for _, v := range victims {
		if err := ctx.Err(); err != nil {
			return err
		}
		vr := report.VictimResult{Model: v.Ref, Surrogate: isSurrogate(v.Ref, res.Surrogates)}
		var err error
		if vr.Scores, err = Score(v, x, adv, labels, targets, c.Batch); err != nil {
			return fmt.Errorf("victim %s: %w", v.Ref.Path, err)
		}
		if c.Quantize {
			q, err := Score(v, xq, advq, labels, targets, c.Batch)
			if err != nil {
				return fmt.Errorf("victim %s: %w", v.Ref.Path, err)
			}
			vr.Quantized = &q
		}
		res.Victims = append(res.Victims, vr)
	}
	res.EvalSeconds = time.Since(t1).Seconds()
	return nil
}

// Score runs a classifier on clean and adversarial images, batch images at
// a time, and scores it (metrics.ScoreVictim).
func Score(m models.Classifier, x, adv []float32, labels, targets []int, batch int) (metrics.Scores, error) {
	n, k := len(labels), m.NumClasses()
	zc, za := make([]float32, n*k), make([]float32, n*k)
	if err := models.LogitsInBatches(m, zc, x, batch); err != nil {
		return metrics.Scores{}, err
	}
	if err := models.LogitsInBatches(m, za, adv, batch); err != nil {
		return metrics.Scores{}, err
	}
	if err := models.CheckFinite("logits", zc); err != nil {
		return metrics.Scores{}, err
	}
	if err := models.CheckFinite("logits on the adversarial images", za); err != nil {
		return metrics.Scores{}, err
	}
	return metrics.ScoreVictim(zc, za, labels, targets, k)
}

func isSurrogate(v report.ModelRef, surr []report.ModelRef) bool {
	for _, s := range surr {
		if s.SHA256 == v.SHA256 {
			return true
		}
	}
	return false
}

func maps(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func shapeString(s []int) string {
	out := ""
	for i, d := range s {
		if i > 0 {
			out += "×"
		}
		out += fmt.Sprint(d)
	}
	return out
}
