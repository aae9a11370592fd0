package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/imgio"
	"github.com/advmatrix/advmatrix/internal/progress"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/surrogates"
	"github.com/advmatrix/advmatrix/zoo"
)

// attackFlags are the flags of `advmatrix attack`.
type attackFlags struct {
	surrogateSet                string
	surrogates, victims, params []string
	attack, norm, targeted      string
	targets, fusion, data       string
	saveAdv, grid               string
	eps, alpha, momentum        float64
	steps, limit, batch         int
	gridRows                    int
	seed                        uint64
	shuffle, quantize, asJSON   bool
	selectStrength              bool
	strengths                   string
	ssimMin                     float64
}

// preprocessing is what happens to the data before the models see it.
const preprocessing = "none: images as float32 N×C×H×W in [0,1], any normalisation inside the model"

func attackList() string {
	var b strings.Builder
	width := 0
	specs := attacks.Specs()
	for _, s := range specs {
		width = max(width, len(s.Name))
	}
	for _, s := range specs {
		fmt.Fprintf(&b, "  %-*s  %s", width, s.Name, s.Summary)
		if len(s.Extras) > 0 {
			fmt.Fprintf(&b, " [--param %s]", strings.Join(s.Extras, ", "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func newAttackCmd() *cobra.Command {
	var f attackFlags
	cmd := &cobra.Command{
		Use:   "attack",
		Short: "Craft adversarial examples on surrogates and measure how often they fool victims",
		Long: `attack crafts adversarial examples on the --surrogate models (an ensemble when
several are given) for images of --data, and evaluates them on each --victim.
With no --victim the examples are evaluated on the surrogates themselves
(white-box), and the output says so.

For each victim it reports clean accuracy, adversarial accuracy and the three
attack-success rates the literature mixes up, with their denominators and 95%
intervals: asr_all = 1 − adv_acc over all images; asr_on_correct over the images
the victim gets right when clean; asr_ratio = 1 − adv_acc/clean_acc (not a
proportion: its interval combines 97.5% Wilson bounds of both accuracies). Then
perturbation norms (L∞, L2, L0 counting values with |δ| > 1e-8), mean SSIM,
surrogate forward and gradient evaluations (in images) and times.

Settings not given take the attack's defaults for the image shape (MNIST-scale
for 1-channel images), printed with the results. --param key=value sets an
attack's own settings. Images are crafted --batch at a time (batch b uses seed
+ b); ensemble attacks with per-batch statistics (AdaEA, CWA) depend on it.
--targeted random|least picks the targets before crafting (seeded; least: the
class with the lowest summed surrogate logit on the clean image) and records them.
--quantize also evaluates after rounding to 8 bits, round(x·255)/255.
Nothing is written unless the whole run succeeds.

--select-strength first chooses the attack's strength as DUMB does: on the
first surrogate alone, on the same images, batches and seeds, it crafts with
each strength of DUMB's grid for the attack (ε 0.01, 0.02, …, 0.30 for the
gradient attacks; ε 0.10, 0.15, …, 0.30 for square; the radius, σ or amount
grids of boxblur, gaussnoise and saltpepper; blackbox's box sides scaled to the
image side), or of --strengths a,b,c, and takes the one with the highest
untargeted ASR on the surrogate (over the images it gets right when clean) among
those keeping the mean SSIM above --ssim-min, ties to the smaller. The run then
crafts with it as if given (ε, or the corruption's --param) and evaluates the
victims as usual; the table is printed and recorded as strength_selection. It
does not go with --targeted, nor with the strength given explicitly;
greyscale, invert and splitmerge have no strength. The selection's evaluations
and time are reported apart from the run's.

Attacks:
` + attackList(),
		Example: `  advmatrix attack --attack fgsm --surrogate zoo:lenet-mnist --victim victim.onnx
  advmatrix attack --attack mifgsm --surrogate a.onnx --surrogate b.onnx --victim v.onnx \
      --eps 0.2 --steps 20 --limit 1000 --json > result.json
  advmatrix attack --attack pgd --surrogate a.onnx --targeted random --seed 3 \
      --save-adv adv.npy --grid adv.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAttack(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.surrogates, "surrogate", nil, "surrogate model, an .onnx file or zoo:NAME (repeat for an ensemble; required unless --surrogate-set)")
	fl.StringVar(&f.surrogateSet, "surrogate-set", "", "a Bayesian surrogate set (cSGLD samples, LGV copies): a folder or set.json from the surrogates package, or zoo:digits/csgld_mnist_lenet; attacks with one_per_step use one sample per iteration as the set says")
	fl.StringArrayVar(&f.victims, "victim", nil, "victim model (repeatable; none: evaluate on the surrogates, white-box)")
	fl.StringVar(&f.attack, "attack", "", "attack name (see the list above; required)")
	fl.Float64Var(&f.eps, "eps", 0, "perturbation budget ε (default: the attack's)")
	fl.Float64Var(&f.alpha, "alpha", 0, "step size (default: the attack's)")
	fl.IntVar(&f.steps, "steps", 0, "iterations (default: the attack's)")
	fl.StringVar(&f.norm, "norm", "", "threat model: linf or l2 (default: the attack's)")
	fl.Float64Var(&f.momentum, "momentum", 0, "momentum μ (default: the attack's)")
	fl.StringVar(&f.targeted, "targeted", "none", "targets: none, random, least (least likely) or given (--targets)")
	fl.StringVar(&f.targets, "targets", "", "target classes, integer .npy of length N (implies --targeted given)")
	fl.StringVar(&f.fusion, "fusion", "logits", "how surrogates combine: logits (average logits) or loss (average losses)")
	fl.StringArrayVar(&f.params, "param", nil, "attack-specific setting key=value (repeatable; see the list above)")
	fl.StringVar(&f.data, "data", "mnist:test", "data spec (see advmatrix --help)")
	fl.IntVar(&f.limit, "limit", 500, "attack the first N images (0: all)")
	fl.BoolVar(&f.shuffle, "shuffle", false, "take a seeded random sample instead of the first N images")
	fl.Uint64Var(&f.seed, "seed", 0, "seed for the attack's randomness, --shuffle and random targets")
	fl.IntVar(&f.batch, "batch", 128, "images crafted together (and per evaluation pass)")
	fl.BoolVar(&f.quantize, "quantize", false, "also evaluate on images rounded to 8 bits, round(x·255)/255")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON (schema "+report.SchemaVersion+")")
	fl.StringVar(&f.saveAdv, "save-adv", "", "write the float adversarial images to this .npy (float32 N×C×H×W)")
	fl.StringVar(&f.grid, "grid", "", "write a PNG of clean | adversarial | amplified difference rows")
	fl.IntVar(&f.gridRows, "grid-rows", 8, "images in the --grid PNG")
	fl.BoolVar(&f.selectStrength, "select-strength", false, "choose the strength first, DUMB's way, on the first surrogate (see above)")
	fl.StringVar(&f.strengths, "strengths", "", "strengths for --select-strength, comma-separated (default: DUMB's grid for the attack)")
	fl.Float64Var(&f.ssimMin, "ssim-min", attacks.DefaultSSIMMin, "--select-strength keeps strengths whose mean SSIM is above this")
	return cmd
}

// attackParams turns the flags into attacks.Params, marking what was given.
func attackParams(cmd *cobra.Command, f *attackFlags) (attacks.Params, error) {
	fl := cmd.Flags()
	p := attacks.Params{Set: map[string]bool{}, Extra: map[string]float64{}, Seed: f.seed}
	if fl.Changed("eps") {
		if math.IsNaN(f.eps) || math.IsInf(f.eps, 0) || f.eps < 0 {
			return p, fmt.Errorf("--eps %v must be a finite number >= 0", f.eps)
		}
		p.Eps, p.Set["eps"] = f.eps, true
	}
	if fl.Changed("alpha") {
		if math.IsNaN(f.alpha) || math.IsInf(f.alpha, 0) || f.alpha < 0 {
			return p, fmt.Errorf("--alpha %v must be a finite number >= 0", f.alpha)
		}
		p.Alpha, p.Set["alpha"] = f.alpha, true
	}
	if fl.Changed("steps") {
		if f.steps < 1 {
			return p, fmt.Errorf("--steps %d must be at least 1", f.steps)
		}
		p.Steps, p.Set["steps"] = f.steps, true
	}
	if fl.Changed("norm") {
		n, err := attacks.ParseNorm(f.norm)
		if err != nil {
			return p, fmt.Errorf("--norm: %w", err)
		}
		p.Norm, p.Set["norm"] = n, true
	}
	if fl.Changed("momentum") {
		if math.IsNaN(f.momentum) || math.IsInf(f.momentum, 0) || f.momentum < 0 {
			return p, fmt.Errorf("--momentum %v must be a finite number >= 0", f.momentum)
		}
		p.Momentum, p.Set["momentum"] = f.momentum, true
	}
	switch f.fusion {
	case "logits":
		p.Fusion = attacks.FuseLogits
	case "loss":
		p.Fusion = attacks.FuseLoss
	default:
		return p, fmt.Errorf("--fusion %q: want logits or loss", f.fusion)
	}
	for _, kv := range f.params {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return p, fmt.Errorf("--param %q: want key=value", kv)
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return p, fmt.Errorf("--param %q: %q is not a finite number", kv, v)
		}
		if _, dup := p.Extra[k]; dup {
			return p, fmt.Errorf("--param %s given twice", k)
		}
		p.Extra[k], p.Set[k] = x, true
	}
	return p, nil
}

// targetMode reads --targeted and --targets.
func targetMode(cmd *cobra.Command, f *attackFlags) (string, error) {
	mode := strings.ToLower(f.targeted)
	switch mode {
	case "none", "given", "random", "least":
	default:
		return "", fmt.Errorf("--targeted %q: want none, random, least or given", f.targeted)
	}
	if f.targets != "" {
		if cmd.Flags().Changed("targeted") && mode != "given" {
			return "", fmt.Errorf("--targets goes with --targeted given, not %s", mode)
		}
		mode = "given"
	}
	if mode == "given" && f.targets == "" {
		return "", fmt.Errorf("--targeted given needs --targets T.npy")
	}
	return mode, nil
}

type loaded struct {
	m   *models.Model
	ref report.ModelRef
}

func openModels(flag string, specs []string) ([]loaded, error) {
	var out []loaded
	for _, s := range specs {
		m, ref, err := openModel(s)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		out = append(out, loaded{m, ref})
	}
	return out, nil
}

func runAttack(cmd *cobra.Command, f *attackFlags) error {
	start := time.Now()
	// Cheap checks first: nothing is loaded for a usage error.
	if f.attack == "" {
		return fmt.Errorf("--attack is required (one of: %s)", attackNames())
	}
	spec, err := attacks.Lookup(f.attack)
	if err != nil {
		return err
	}
	onePerStep := false
	if f.surrogateSet != "" {
		files, one, err := resolveSurrogateSet(f.surrogateSet)
		if err != nil {
			return err
		}
		f.surrogates = append(f.surrogates, files...)
		onePerStep = one
	}
	if len(f.surrogates) == 0 {
		return fmt.Errorf("give at least one --surrogate model (or --surrogate-set)")
	}
	if f.batch <= 0 {
		return fmt.Errorf("--batch %d must be positive", f.batch)
	}
	if f.limit < 0 {
		return fmt.Errorf("--limit %d is negative", f.limit)
	}
	if f.gridRows <= 0 {
		return fmt.Errorf("--grid-rows %d must be positive", f.gridRows)
	}
	for _, out := range []string{f.saveAdv, f.grid} {
		if err := checkOutputDir(out); err != nil {
			return err
		}
	}
	user, err := attackParams(cmd, f)
	if err != nil {
		return err
	}
	if onePerStep && !user.Has("one_per_step") {
		// The set's own sampling mode, where the attack supports it.
		for _, e := range spec.Extras {
			if e == "one_per_step" {
				if user.Extra == nil {
					user.Extra = map[string]float64{}
				}
				user.Extra["one_per_step"] = 1
			}
		}
	}
	if err := spec.CheckExtras(user); err != nil {
		return err
	}
	mode, err := targetMode(cmd, f)
	if err != nil {
		return err
	}
	if mode != "none" {
		user.Target = attacks.TargetGiven // targets are resolved here
	}
	plan, err := planStrength(cmd, f, spec, user, mode)
	if err != nil {
		return err
	}

	surr, err := openModels("surrogate", f.surrogates)
	if err != nil {
		return err
	}
	shape, k := surr[0].m.InputShape(), surr[0].m.NumClasses()
	victims, whiteBox := surr, false
	if len(f.victims) == 0 {
		whiteBox = true
	} else if victims, err = openModels("victim", f.victims); err != nil {
		return err
	}
	for i, l := range surr {
		if err := sameModelKind(l, surr[0], fmt.Sprintf("surrogate %d (%s)", i, l.ref.Path)); err != nil {
			return err
		}
	}
	for i, l := range victims {
		if err := sameModelKind(l, surr[0], fmt.Sprintf("victim %d (%s)", i, l.ref.Path)); err != nil {
			return err
		}
	}

	if plan != nil {
		if err := plan.prepare(spec, shape); err != nil {
			return err
		}
	}

	params := spec.Complete(user, shape)
	if params.Eps < 0 || math.IsNaN(params.Eps) {
		return fmt.Errorf("eps %v must be >= 0", params.Eps)
	}
	probe, err := spec.New(params)
	if err != nil {
		return err
	}

	d, dref, err := openData(f.data, shape, f.limit, f.shuffle, f.seed)
	if err != nil {
		return err
	}
	if d.Labels == nil {
		return fmt.Errorf("data %s has no labels; attack needs them", f.data)
	}
	if d.Classes > k {
		return fmt.Errorf("data %s has %d classes, the models output %d logits", f.data, d.Classes, k)
	}
	n := d.Len()
	size := d.Shape[0] * d.Shape[1] * d.Shape[2]
	x := make([]float32, n*size)
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	d.Batch(all, x)
	labels := d.Labels

	counted := make([]*attacks.Counted, len(surr))
	cls := make([]models.Classifier, len(surr))
	for i, l := range surr {
		counted[i] = attacks.Count(l.m)
		cls[i] = counted[i].Classifier()
	}

	var selection *report.StrengthSelection
	if plan != nil {
		chosen, rec, err := plan.run(surr[0], x, labels, f.batch, f.seed)
		if err != nil {
			return err
		}
		selection = rec
		// Craft with the chosen strength as if it had been given.
		if plan.key == "eps" {
			user.Eps = chosen
		} else {
			user.Extra[plan.key] = chosen
		}
		user.Set[plan.key] = true
		params = spec.Complete(user, shape)
		if probe, err = spec.New(params); err != nil {
			return err
		}
	}

	res := report.AttackResult{
		Schema: report.SchemaVersion, ToolVersion: version.String(), StartedAt: start.UTC().Format(time.RFC3339),
		Attack: spec.Name, Summary: spec.Summary, Norm: params.Norm.String(), Eps: params.Eps, Targeted: mode, Seed: f.seed,
		BatchSize: f.batch, WhiteBox: whiteBox, Data: dref, N: n, Preprocessing: preprocessing, Quantize: f.quantize,
		ASRRatioInterval: metrics.RatioInterval, L0Threshold: metrics.L0Threshold,
		Params: report.AttackParams{Eps: params.Eps, Alpha: params.Alpha, Steps: params.Steps, Norm: params.Norm.String(),
			Momentum: params.Momentum, Targeted: mode, Fusion: params.Fusion.String(), Seed: params.Seed, Extra: params.Extra},
		StrengthSelection: selection,
	}
	// The gradient family fills settings a preset leaves at zero (FGSM's one
	// step of size ε): record what runs.
	if c, ok := probe.(*attacks.Config); ok && params.Steps == 0 {
		res.Params.Steps = c.Steps
		if !user.Has("alpha") {
			res.Params.Alpha = c.Alpha
		}
	}
	for name := range user.Set {
		res.Params.Given = append(res.Params.Given, name)
	}
	sort.Strings(res.Params.Given)
	if res.Params.Given == nil {
		res.Params.Given = []string{}
	}
	for _, l := range surr {
		res.Surrogates = append(res.Surrogates, l.ref)
	}

	t0 := time.Now()
	var targets []int
	switch mode {
	case "given":
		var file provenance.File
		if targets, file, err = readTargets(f.targets, n, k); err != nil {
			return err
		}
		res.TargetsFile = &file
	case "random":
		targets = randomTargets(labels, k, f.seed)
	case "least":
		if targets, err = leastLikely(cls, x, n, k, f.batch); err != nil {
			return err
		}
	}
	res.Targets = targets

	adv := make([]float32, len(x))
	bar := progress.New("attack "+spec.Name, n)
	for b, i := 0, 0; i < n; b, i = b+1, i+f.batch {
		j := min(n, i+f.batch)
		p := params
		p.Seed = f.seed + uint64(b)
		if targets != nil {
			p.Targets = targets[i:j]
		}
		a, err := spec.New(p)
		if err != nil {
			return err
		}
		out, err := a.Craft(cls, x[i*size:j*size], labels[i:j])
		if err != nil {
			return fmt.Errorf("%s on images %d-%d: %w", spec.Name, i, j-1, err)
		}
		if len(out) != (j-i)*size {
			return fmt.Errorf("internal error: %s returned %d values for %d images", spec.Name, len(out), j-i)
		}
		copy(adv[i*size:], out)
		bar.Add(j - i)
	}
	bar.Done()
	res.AttackSeconds = time.Since(t0).Seconds()
	for _, c := range counted {
		res.SurrogateForwardEvals += c.Forwards()
		res.SurrogateGradEvals += c.Grads()
		res.ModelSeconds += c.Seconds()
	}
	res.GradEvalsPerSecond = float64(res.SurrogateGradEvals) / max(res.AttackSeconds, 1e-9)
	for i, v := range adv {
		if math.IsNaN(float64(v)) || v < 0 || v > 1 {
			return fmt.Errorf("internal error: %s produced value %v at %d, outside [0,1]", spec.Name, v, i)
		}
	}

	t1 := time.Now()
	C, H, W := d.Shape[0], d.Shape[1], d.Shape[2]
	if res.Perturbation, err = metrics.PerturbationOf(x, adv, n); err != nil {
		return err
	}
	res.MeanSSIM = metrics.MeanSSIM(x, adv, n, C, H, W)
	var xq, advq []float32
	if f.quantize {
		xq, advq = metrics.Quantize8(x), metrics.Quantize8(adv)
		pq, err := metrics.PerturbationOf(xq, advq, n)
		if err != nil {
			return err
		}
		sq := metrics.MeanSSIM(xq, advq, n, C, H, W)
		res.PerturbationQuantized, res.MeanSSIMQuantized = &pq, &sq
	}
	for _, v := range victims {
		vr := report.VictimResult{Model: v.ref, Surrogate: isSurrogate(v.ref, res.Surrogates)}
		if vr.Scores, err = scoreVictim(v.m, x, adv, labels, targets, f.batch); err != nil {
			return fmt.Errorf("victim %s: %w", v.ref.Path, err)
		}
		if f.quantize {
			q, err := scoreVictim(v.m, xq, advq, labels, targets, f.batch)
			if err != nil {
				return fmt.Errorf("victim %s: %w", v.ref.Path, err)
			}
			vr.Quantized = &q
		}
		res.Victims = append(res.Victims, vr)
	}
	res.EvalSeconds = time.Since(t1).Seconds()

	// Outputs: encoded in memory, then committed together.
	var outs []pendingFile
	if f.saveAdv != "" {
		var buf bytes.Buffer
		if err := npy.Write(&buf, npy.NewFloat32([]int{n, C, H, W}, adv)); err != nil {
			return err
		}
		outs = append(outs, pendingFile{f.saveAdv, buf.Bytes()})
	}
	if f.grid != "" {
		g := imgio.Grid{C: C, H: H, W: W, Max: f.gridRows}
		b, err := g.PNG(x, adv)
		if err != nil {
			return err
		}
		outs = append(outs, pendingFile{f.grid, b})
	}
	if err := writeFilesAtomic(outs); err != nil {
		return err
	}
	res.WallSeconds = time.Since(start).Seconds()
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	return printAttack(cmd, &res, f)
}

func attackNames() string {
	var names []string
	for _, s := range attacks.Specs() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// sameModelKind checks that a model takes the same images and outputs the
// same number of classes as the first surrogate.
func sameModelKind(l, ref loaded, what string) error {
	if !slices.Equal(l.m.InputShape(), ref.m.InputShape()) {
		return fmt.Errorf("%s takes %s images, surrogate 0 (%s) takes %s", what, shapeString(l.m.InputShape()), ref.ref.Path, shapeString(ref.m.InputShape()))
	}
	if l.m.NumClasses() != ref.m.NumClasses() {
		return fmt.Errorf("%s outputs %d classes, surrogate 0 (%s) outputs %d", what, l.m.NumClasses(), ref.ref.Path, ref.m.NumClasses())
	}
	return nil
}

func isSurrogate(v report.ModelRef, surr []report.ModelRef) bool {
	for _, s := range surr {
		if s.SHA256 == v.SHA256 {
			return true
		}
	}
	return false
}

// readTargets reads n target classes in [0, k) from an integer .npy.
func readTargets(path string, n, k int) ([]int, provenance.File, error) {
	file, err := hashFile(path)
	if err != nil {
		return nil, file, fmt.Errorf("--targets: %w", err)
	}
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, file, fmt.Errorf("--targets: %w", err)
	}
	t, err := a.Ints()
	if err != nil {
		return nil, file, fmt.Errorf("--targets %s: %w", path, err)
	}
	if len(a.Shape) != 1 || len(t) != n {
		return nil, file, fmt.Errorf("--targets %s has shape %v; %d images are attacked, so it must have shape [%d]", path, a.Shape, n, n)
	}
	for i, v := range t {
		if v < 0 || v >= k {
			return nil, file, fmt.Errorf("--targets %s: target %d of image %d is outside [0, %d)", path, v, i, k)
		}
	}
	return t, file, nil
}

// randomTargets draws, for each image, a class other than its label.
func randomTargets(labels []int, k int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x74617267)) // "targ"
	t := make([]int, len(labels))
	for i, y := range labels {
		t[i] = (y + 1 + rng.IntN(max(k-1, 1))) % k
	}
	return t
}

// leastLikely picks for each image the class with the lowest summed
// surrogate logit (the first on ties).
func leastLikely(ms []models.Classifier, x []float32, n, k, batch int) ([]int, error) {
	size := len(x) / n
	t := make([]int, n)
	for i := 0; i < n; i += batch {
		j := min(n, i+batch)
		sum := make([]float32, (j-i)*k)
		z := make([]float32, (j-i)*k)
		for _, m := range ms {
			if err := m.Logits(z, x[i*size:j*size]); err != nil {
				return nil, err
			}
			for q, v := range z {
				sum[q] += v
			}
		}
		for r := 0; r < j-i; r++ {
			row := sum[r*k : (r+1)*k]
			for c := range row {
				if row[c] < row[t[i+r]] {
					t[i+r] = c
				}
			}
		}
	}
	return t, nil
}

// scoreVictim runs a victim on clean and adversarial images in batches.
func scoreVictim(m *models.Model, x, adv []float32, labels, targets []int, batch int) (metrics.Scores, error) {
	n, k := len(labels), m.NumClasses()
	size := len(x) / n
	zc, za := make([]float32, n*k), make([]float32, n*k)
	for i := 0; i < n; i += batch {
		j := min(n, i+batch)
		if err := m.Logits(zc[i*k:j*k], x[i*size:j*size]); err != nil {
			return metrics.Scores{}, err
		}
		if err := m.Logits(za[i*k:j*k], adv[i*size:j*size]); err != nil {
			return metrics.Scores{}, err
		}
	}
	return metrics.ScoreVictim(zc, za, labels, targets, k)
}

func printAttack(cmd *cobra.Command, r *report.AttackResult, f *attackFlags) error {
	w := cmd.OutOrStdout()
	p := r.Params
	fmt.Fprintf(w, "attack      %s — %s\n", r.Attack, r.Summary)
	fmt.Fprintf(w, "params      eps=%g alpha=%g steps=%d norm=%s momentum=%g fusion=%s targeted=%s seed=%d batch=%d\n",
		p.Eps, p.Alpha, p.Steps, p.Norm, p.Momentum, p.Fusion, p.Targeted, p.Seed, r.BatchSize)
	if len(p.Extra) > 0 {
		var keys []string
		for key := range p.Extra {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		var kv []string
		for _, key := range keys {
			kv = append(kv, fmt.Sprintf("%s=%g", key, p.Extra[key]))
		}
		fmt.Fprintf(w, "extra       %s\n", strings.Join(kv, " "))
	}
	given := "none (all defaults for " + shapeString(r.Data.Shape[:]) + " images)"
	if len(p.Given) > 0 {
		names := append([]string(nil), p.Given...)
		for i, name := range names {
			if r.StrengthSelection != nil && name == r.StrengthSelection.Param {
				names[i] += " (chosen by --select-strength)"
			}
		}
		given = strings.Join(names, ", ") + "; the rest are defaults for " + shapeString(r.Data.Shape[:]) + " images"
	}
	fmt.Fprintf(w, "given       %s\n", given)
	for i, s := range r.Surrogates {
		fmt.Fprintf(w, "surrogate %d %s (sha256 %.12s)\n", i, s.Path, s.SHA256)
	}
	if r.WhiteBox {
		fmt.Fprintf(w, "victims     none given: white-box, evaluated on the surrogates\n")
	}
	fmt.Fprintf(w, "data        %s (%d images of %s, %s)\n", r.Data.Spec, r.N, shapeString(r.Data.Shape[:]), r.Data.Sample)
	if r.StrengthSelection != nil {
		if err := printSelection(w, r.StrengthSelection); err != nil {
			return err
		}
	}
	for _, v := range r.Victims {
		title := "victim " + v.Model.Path
		if v.Surrogate {
			title += " (a surrogate: white-box)"
		}
		fmt.Fprintf(w, "\n%s\n", title)
		t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
		header := []any{"", "float", "count", "95% CI"}
		if v.Quantized != nil {
			header = append(header, "uint8", "count", "95% CI")
		}
		t.Header(header...)
		rows := []struct {
			name string
			get  func(s *metrics.Scores) []string
		}{
			{"clean accuracy", func(s *metrics.Scores) []string { return rateCells(s.CleanAccuracy) }},
			{"adv accuracy", func(s *metrics.Scores) []string { return rateCells(s.AdvAccuracy) }},
			{"ASR all", func(s *metrics.Scores) []string { return rateCells(s.ASRAll) }},
			{"ASR on correct", func(s *metrics.Scores) []string { return rateCells(s.ASROnCorrect) }},
			{"ASR ratio", func(s *metrics.Scores) []string { return ratioCells(s.ASRRatio) }},
		}
		if v.TargetedSuccess != nil {
			rows = append(rows, struct {
				name string
				get  func(s *metrics.Scores) []string
			}{"targeted success", func(s *metrics.Scores) []string { return rateCells(*s.TargetedSuccess) }})
		}
		for _, row := range rows {
			cells := append([]any{row.name}, anys(row.get(&v.Scores))...)
			if v.Quantized != nil {
				cells = append(cells, anys(row.get(v.Quantized))...)
			}
			if err := t.Append(cells...); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	pt := r.Perturbation
	fmt.Fprintf(w, "\nperturbation L∞ mean %.4g max %.4g · L2 mean %.4g max %.4g · L0 mean %.1f max %.0f of %d values\n",
		pt.Linf.Mean, pt.Linf.Max, pt.L2.Mean, pt.L2.Max, pt.L0.Mean, pt.L0.Max, pt.Values)
	fmt.Fprintf(w, "SSIM         mean %.4f", r.MeanSSIM)
	if r.MeanSSIMQuantized != nil {
		fmt.Fprintf(w, " (uint8: %.4f)", *r.MeanSSIMQuantized)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "evaluations  surrogates: %d forward, %d gradient (images); %.0f gradient evaluations/s\n",
		r.SurrogateForwardEvals, r.SurrogateGradEvals, r.GradEvalsPerSecond)
	fmt.Fprintf(w, "time         attack %.2f s (%.2f s in the surrogates), evaluation %.2f s, wall %.2f s\n",
		r.AttackSeconds, r.ModelSeconds, r.EvalSeconds, r.WallSeconds)
	if f.saveAdv != "" {
		fmt.Fprintf(w, "wrote        %s\n", f.saveAdv)
	}
	if f.grid != "" {
		fmt.Fprintf(w, "wrote        %s\n", f.grid)
	}
	return nil
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func rateCells(r metrics.Rate) []string {
	if r.Den == 0 {
		return []string{"–", "0/0", "–"}
	}
	return []string{pct(r.Value), fmt.Sprintf("%d/%d", r.Num, r.Den), pct(r.Lo95) + "–" + pct(r.Hi95)}
}

func ratioCells(r metrics.Ratio) []string {
	if !r.Defined {
		return []string{"undefined", fmt.Sprintf("%d/%d", r.Num, r.Den), "–"}
	}
	return []string{pct(r.Value), fmt.Sprintf("%d/%d", r.Num, r.Den), pct(r.Lo95) + "–" + pct(r.Hi95)}
}

// resolveSurrogateSet turns a surrogate set into model specs and says
// whether the set is meant to be attacked one sample per iteration.
func resolveSurrogateSet(spec string) ([]string, bool, error) {
	if name, ok := strings.CutPrefix(spec, "zoo:"); ok {
		var files []string
		for _, n := range zoo.Names() {
			if strings.HasPrefix(n, strings.TrimSuffix(name, "/")+"/") {
				files = append(files, "zoo:"+n)
			}
		}
		if len(files) == 0 {
			return nil, false, fmt.Errorf("--surrogate-set: no embedded set %q", spec)
		}
		return files, true, nil // the embedded set is cSGLD's
	}
	set, _, err := surrogates.LoadSet(spec)
	if err != nil {
		return nil, false, fmt.Errorf("--surrogate-set: %w", err)
	}
	return set.Files, set.Mode == surrogates.OnePerStep, nil
}
