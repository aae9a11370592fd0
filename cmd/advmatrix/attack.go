package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/internal/imgio"
	"github.com/advmatrix/advmatrix/internal/progress"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
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

// attackList describes every attack for --help: its summary, its
// defaults for MNIST-size (1-channel) and other images, and its own
// settings with their defaults.
func attackList() string {
	var b strings.Builder
	for _, s := range attacks.Specs() {
		fmt.Fprintf(&b, "  %s — %s\n", s.Name, s.Summary)
		digits, natural := s.Defaults([]int{1, 28, 28}), s.Defaults([]int{3, 32, 32})
		if core := coreDefaults(digits); core != "" {
			fmt.Fprintf(&b, "      defaults: %s (1-channel images); %s (others)\n", core, coreDefaults(natural))
		}
		if len(s.Extras) > 0 {
			var kv []string
			for _, q := range s.Extras {
				if v, ok := digits.Extra[q.Name]; ok {
					kv = append(kv, fmt.Sprintf("%s=%g", q.Name, v))
				} else {
					kv = append(kv, q.Name)
				}
			}
			fmt.Fprintf(&b, "      --param %s\n", strings.Join(kv, " "))
		}
	}
	return b.String()
}

// coreDefaults lists the shared settings an attack sets.
func coreDefaults(p attacks.Params) string {
	var kv []string
	if p.Eps > 0 {
		kv = append(kv, fmt.Sprintf("eps=%.4g", p.Eps))
	}
	if p.Alpha > 0 {
		kv = append(kv, fmt.Sprintf("alpha=%.4g", p.Alpha))
	}
	if p.Steps > 0 {
		kv = append(kv, fmt.Sprintf("steps=%d", p.Steps))
	}
	if p.Momentum > 0 {
		kv = append(kv, fmt.Sprintf("momentum=%g", p.Momentum))
	}
	return strings.Join(kv, " ")
}

func newAttackCmd() *cobra.Command {
	var f attackFlags
	cmd := &cobra.Command{
		Use:   "attack",
		Short: "Craft adversarial examples on surrogates and measure how often they fool victims",
		Long:  attackHelp(),
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
	p := attacks.Params{Set: map[string]bool{}, Extra: map[string]float64{}}
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
func targetMode(cmd *cobra.Command, f *attackFlags) (attacks.TargetMode, error) {
	mode, err := attacks.ParseTargetMode(f.targeted)
	if err != nil {
		return 0, fmt.Errorf("--%w", err)
	}
	if f.targets != "" {
		if cmd.Flags().Changed("targeted") && mode != attacks.TargetGiven {
			return 0, fmt.Errorf("--targets goes with --targeted given, not %s", mode)
		}
		mode = attacks.TargetGiven
	}
	if mode == attacks.TargetGiven && f.targets == "" {
		return 0, fmt.Errorf("--targeted given needs --targets T.npy")
	}
	return mode, nil
}

// runAttack is one cell: flags in, scenarios.Cell run, outputs written,
// results rendered.
func runAttack(cmd *cobra.Command, f *attackFlags) error {
	start := time.Now()
	cell, err := attackCell(cmd, f)
	if err != nil {
		return err
	}
	data, err := scenarios.OpenData(f.data, cell.Surrogates[0].InputShape(), f.limit, f.shuffle, f.seed)
	if err != nil {
		return err
	}
	cell.Data = data
	if err := checkAttackOutputs(f, data); err != nil {
		return err
	}
	bar := progress.New("attack "+cell.Attack.Name, data.Len())
	cell.Progress = func(done, _ int) { bar.Set(done) }
	out, err := cell.Run(cmd.Context())
	bar.Done()
	if err != nil {
		return attackError(err, f)
	}
	if err := writeAttackOutputs(out, f); err != nil {
		return err
	}
	res := &out.Result
	res.WallSeconds = time.Since(start).Seconds()
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	w := cmd.OutOrStdout()
	if err := report.WriteAttackText(w, res); err != nil {
		return err
	}
	for _, path := range []string{f.saveAdv, f.grid} {
		if path != "" {
			fmt.Fprintf(w, "wrote        %s\n", path)
		}
	}
	return nil
}

// attackCell checks the flags (cheap checks first: nothing is loaded for
// a usage error), opens the models and checks the cell.
func attackCell(cmd *cobra.Command, f *attackFlags) (*scenarios.Cell, error) {
	if f.attack == "" {
		return nil, fmt.Errorf("--attack is required (one of: %s)", attackNames())
	}
	spec, err := attacks.Lookup(f.attack)
	if err != nil {
		return nil, err
	}
	onePerStep := false
	if f.surrogateSet != "" {
		files, one, err := scenarios.OpenSurrogateSet(f.surrogateSet)
		if err != nil {
			return nil, fmt.Errorf("--surrogate-set: %w", err)
		}
		f.surrogates = append(f.surrogates, files...)
		onePerStep = one
	}
	if err := checkAttackFlags(f); err != nil {
		return nil, err
	}
	user, err := attackParams(cmd, f)
	if err != nil {
		return nil, err
	}
	if _, ok := spec.Param("one_per_step"); ok && onePerStep && !user.Has("one_per_step") {
		user.Extra["one_per_step"] = 1 // the set's own sampling mode
	}
	if err := spec.Check(user); err != nil {
		return nil, err
	}
	if err := spec.CheckSurrogates(len(f.surrogates)); err != nil {
		return nil, err
	}
	mode, err := targetMode(cmd, f)
	if err != nil {
		return nil, err
	}
	plan, err := strengthPlan(cmd, f, spec, user, mode)
	if err != nil {
		return nil, err
	}
	cell := &scenarios.Cell{Attack: spec, Params: user, Targeting: mode, TargetsFile: f.targets,
		Seed: f.seed, Batch: f.batch, Quantize: f.quantize, Strength: plan}
	if cell.Surrogates, err = openModels("surrogate", f.surrogates); err != nil {
		return nil, err
	}
	if cell.Victims, err = openModels("victim", f.victims); err != nil {
		return nil, err
	}
	if err := cell.Check(); err != nil {
		if plan != nil && strings.HasPrefix(err.Error(), plan.Key+"=") {
			return nil, fmt.Errorf("%s: %w", strengthFlag(plan), err)
		}
		return nil, err
	}
	return cell, nil
}

// checkAttackFlags checks the flags that need nothing loaded.
func checkAttackFlags(f *attackFlags) error {
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
	return nil
}

// attackError names the flags behind a cell's failure.
func attackError(err error, f *attackFlags) error {
	var ns *scenarios.NoStrengthError
	switch {
	case errors.As(err, &ns):
		return fmt.Errorf("--select-strength: no strength keeps the mean SSIM on surrogate 0 above --ssim-min %g; the best SSIM seen is %.4f (%s=%g); try smaller --strengths or a lower --ssim-min",
			ns.SSIMMin, ns.BestSSIM, ns.Key, ns.At)
	case errors.Is(err, attacks.ErrInternal):
		return &exitError{code: exitInternal, err: err}
	case strings.HasPrefix(err.Error(), "targets: "):
		return fmt.Errorf("--%w", err)
	}
	return err
}

// writeAttackOutputs writes --save-adv and --grid together, or neither.
func writeAttackOutputs(out *scenarios.Outcome, f *attackFlags) error {
	C, H, W := out.Shape[0], out.Shape[1], out.Shape[2]
	n := out.Result.N
	var outs []pendingFile
	if f.saveAdv != "" {
		var buf bytes.Buffer
		if err := npy.Write(&buf, npy.NewFloat32([]int{n, C, H, W}, out.Adv)); err != nil {
			return err
		}
		outs = append(outs, pendingFile{f.saveAdv, buf.Bytes()})
	}
	if f.grid != "" {
		g := imgio.Grid{C: C, H: H, W: W, Max: f.gridRows}
		b, err := g.PNG(out.Clean, out.Adv)
		if err != nil {
			return err
		}
		outs = append(outs, pendingFile{f.grid, b})
	}
	return writeFilesAtomic(outs)
}

func openModels(flag string, specs []string) ([]scenarios.Model, error) {
	var out []scenarios.Model
	for _, s := range specs {
		m, err := scenarios.OpenModel(s)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func attackNames() string {
	var names []string
	for _, s := range attacks.Specs() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// attackHelp is the long help of `advmatrix attack`.
func attackHelp() string {
	return `attack crafts adversarial examples on the --surrogate models (an ensemble when
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
attack's own settings. Images are crafted --batch at a time, each batch with a
seed hashed from --seed and its index (results record the rule); ensemble
attacks with per-batch statistics (AdaEA, CWA) depend on the batch size.
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
` + attackList()
}

// checkAttackOutputs refuses outputs that collide with each other or with
// an input (a model, the targets, a data file): a run must never overwrite
// what it reads.
func checkAttackOutputs(f *attackFlags, data scenarios.Data) error {
	var outs []string
	for _, o := range []string{f.saveAdv, f.grid} {
		if o != "" {
			outs = append(outs, o)
		}
	}
	if len(outs) == 0 {
		return nil
	}
	inputs := append(append([]string(nil), f.surrogates...), f.victims...)
	if f.targets != "" {
		inputs = append(inputs, f.targets)
	}
	for _, s := range data.Ref.Sources {
		inputs = append(inputs, s.Path)
	}
	return atomicfile.CheckOutputs(outs, inputs)
}
