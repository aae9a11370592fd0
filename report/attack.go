package report

import (
	"fmt"
	"math"
)

// AttackResult is what `advmatrix attack` reports: one attack crafted on a
// set of surrogates and evaluated on each victim.
//
// Units and conventions:
//   - Rates (Rate) are proportions with num/den and a 95% Wilson interval.
//   - Evaluation counts are in images: a gradient step on a batch of 128
//     images with 2 surrogates counts 256 gradient evaluations (and 256
//     forward evaluations, since a gradient needs a forward pass).
//   - Perturbation statistics are over the n float adversarial images
//     (Perturbation); with Quantize they are repeated for the quantized
//     images.
type AttackResult struct {
	Schema      string `json:"schema"`
	ToolVersion string `json:"tool_version"`
	StartedAt   string `json:"started_at"`

	Attack  string `json:"attack"`
	Summary string `json:"summary,omitempty"`
	// Norm, Eps, Targeted and Seed repeat the most-used Params for gates.
	Norm     string  `json:"norm"`
	Eps      float64 `json:"eps"`
	Targeted string  `json:"targeted"` // none, given, random or least
	// Seed seeds the sample (--shuffle), random targets and the attack;
	// images are crafted in batches of BatchSize and batch b (from 0) gets
	// the attack seed Seed+b.
	Seed   uint64       `json:"seed"`
	Params AttackParams `json:"params"`
	// BatchSize is the number of images crafted together; batch-coupled
	// attacks (AdaEA's and CWA's per-batch statistics) depend on it.
	BatchSize int `json:"batch_size"`
	// Targets are the target classes, one per image, when targeted
	// (resolved before crafting for random and least-likely targets).
	Targets     []int `json:"targets,omitempty"`
	TargetsFile *File `json:"targets_file,omitempty"`

	Surrogates []ModelRef `json:"surrogates"`
	// WhiteBox is set when no victim was given and the examples were
	// evaluated on the surrogates themselves.
	WhiteBox bool    `json:"white_box"`
	Data     DataRef `json:"data"`
	N        int     `json:"n"`
	// Preprocessing describes what happens to the data's images before the
	// models see them.
	Preprocessing string `json:"preprocessing"`
	// Quantize is set when the adversarial (and clean) images are also
	// evaluated after rounding to 8 bits, round(x·255)/255.
	Quantize bool `json:"quantize"`

	Victims []VictimResult `json:"victims"`

	Perturbation          Perturbation  `json:"perturbation"`
	MeanSSIM              float64       `json:"mean_ssim"`
	PerturbationQuantized *Perturbation `json:"perturbation_quantized,omitempty"`
	MeanSSIMQuantized     *float64      `json:"mean_ssim_quantized,omitempty"`

	// SurrogateForwardEvals and SurrogateGradEvals are summed over the
	// surrogates, in images, for crafting (target selection included).
	SurrogateForwardEvals int64 `json:"surrogate_forward_evals"`
	SurrogateGradEvals    int64 `json:"surrogate_grad_evals"`
	// GradEvalsPerSecond is SurrogateGradEvals / AttackSeconds.
	GradEvalsPerSecond float64 `json:"grad_evals_per_second"`
	// ModelSeconds is the time spent inside the surrogates' Logits, Grad and
	// Forward calls while crafting; back-propagation through a held pass
	// (fused-logit ensembles of the gradient family) is not included.
	ModelSeconds  float64 `json:"model_seconds"`
	AttackSeconds float64 `json:"attack_seconds"`
	EvalSeconds   float64 `json:"eval_seconds"`
	WallSeconds   float64 `json:"wall_seconds"`

	// ASRRatioInterval names how asr_ratio's interval is computed (see
	// Ratio).
	ASRRatioInterval string `json:"asr_ratio_interval"`
	// L0Threshold is the |δ| above which a value counts as changed in L0.
	L0Threshold float64 `json:"l0_threshold"`

	// StrengthSelection, with --select-strength, records how the attack's
	// strength was chosen before crafting.
	StrengthSelection *StrengthSelection `json:"strength_selection,omitempty"`
}

// StrengthSelection is DUMB's strength selection (attacks.SelectStrength)
// as run by `advmatrix attack --select-strength`: every strength of Grid is
// crafted on Surrogate alone, on the same images and with the same settings
// and seeds as the run, and Chosen is the one with the highest ASR on the
// surrogate among those whose mean SSIM is strictly above SSIMMin (ties to
// the smaller strength). The run then crafts with Chosen as if it had been
// given (so Param appears in params.given).
type StrengthSelection struct {
	Surrogate ModelRef `json:"surrogate"`
	// Param is the setting the strength sets: "eps", or a corruption's
	// "radius", "sigma", "size" or "amount".
	Param   string  `json:"param"`
	SSIMMin float64 `json:"ssim_min"`
	// Grid is the strengths tried, in order; GridGiven is set when they
	// came from --strengths rather than DUMB's grid for the attack.
	Grid      []float64     `json:"grid"`
	GridGiven bool          `json:"grid_given"`
	Chosen    float64       `json:"chosen"`
	Table     []StrengthRow `json:"table"`
	// SurrogateForwardEvals and SurrogateGradEvals count, in images, what
	// the selection asked of the surrogate; they are not included in the
	// run's surrogate_forward_evals and surrogate_grad_evals. Seconds is
	// the selection's wall time (not in attack_seconds).
	SurrogateForwardEvals int64   `json:"surrogate_forward_evals"`
	SurrogateGradEvals    int64   `json:"surrogate_grad_evals"`
	Seconds               float64 `json:"seconds"`
}

// StrengthRow is one strength of a selection, measured on the surrogate.
type StrengthRow struct {
	Strength float64 `json:"strength"`
	// ASR = Fooled/Correct: of the Correct images the surrogate classifies
	// correctly when clean, the Fooled ones it misclassifies after the
	// attack (DUMB's definition).
	ASR     float64 `json:"asr"`
	Fooled  int     `json:"fooled"`
	Correct int     `json:"correct"`
	// SSIM is the mean SSIM(clean, attacked) over all images.
	SSIM      float64 `json:"ssim"`
	Qualifies bool    `json:"qualifies"` // SSIM > SSIMMin
}

// AttackParams are the attack's settings after defaults were filled in.
type AttackParams struct {
	Eps      float64            `json:"eps"`
	Alpha    float64            `json:"alpha"`
	Steps    int                `json:"steps"`
	Norm     string             `json:"norm"`
	Momentum float64            `json:"momentum"`
	Targeted string             `json:"targeted"`
	Fusion   string             `json:"fusion"`
	Seed     uint64             `json:"seed"`
	Extra    map[string]float64 `json:"extra"`
	// Given lists the settings the user gave explicitly; the rest are the
	// attack's defaults for this image shape.
	Given []string `json:"given"`
}

// VictimResult is one victim's evaluation. The embedded Scores are on the
// float adversarial images; Quantized, when asked for, on the 8-bit ones.
type VictimResult struct {
	Model ModelRef `json:"model"`
	// Surrogate is set when the victim is one of the surrogates.
	Surrogate bool `json:"surrogate"`
	Scores
	Quantized *Scores `json:"quantized,omitempty"`
}

// Scores are a victim's results on one set of clean and adversarial images.
type Scores struct {
	// CleanAccuracy counts images classified correctly when clean, over n.
	CleanAccuracy Rate `json:"clean_accuracy"`
	// AdvAccuracy counts adversarial images classified correctly, over n.
	AdvAccuracy Rate `json:"adv_accuracy"`
	// ASRAll = 1 − adv_acc: adversarial images misclassified, over n
	// (TransferAttack, CWA).
	ASRAll Rate `json:"asr_all"`
	// ASROnCorrect: of the images the victim gets right when clean, those
	// it gets wrong when adversarial (DUMB, Gubri et al.).
	ASROnCorrect Rate `json:"asr_on_correct"`
	// ASRRatio = 1 − adv_acc/clean_acc (AdaEA).
	ASRRatio Ratio `json:"asr_ratio"`
	// TargetedSuccess, when targeted: adversarial images classified as
	// their target, over n.
	TargetedSuccess *Rate `json:"targeted_success,omitempty"`
	// FlipsOnCorrect breaks ASROnCorrect down by true class.
	FlipsOnCorrect []ClassRate `json:"flips_on_correct"`
}

// Ratio is asr_ratio = 1 − adv_acc/clean_acc = (C − A)/C, where C and A
// count the images classified correctly clean and adversarial. It is not a
// binomial proportion: an image the victim gets wrong clean may become
// right under attack, so A is not a subset of C and the value can be
// negative. Num = C − A and Den = C.
//
// Its interval propagates Wilson bounds ("bonferroni-wilson"): with
// [aLo, aHi] and [cLo, cHi] the Wilson intervals of A/n and C/n at
// z = 2.2414 (97.5% each, so both hold together with probability at least
// 95% by Bonferroni), Lo95 = 1 − aHi/cLo and Hi95 = 1 − aLo/cHi (at most 1).
// It is conservative: it ignores the positive pairing of clean and
// adversarial correctness, which would narrow it. With C = 0 the ratio is
// undefined: Defined is false and the numbers are zero; with cLo = 0
// (impossible when C > 0) Lo95 would be −∞ and is reported as −1e308.
type Ratio struct {
	Num     int     `json:"num"`
	Den     int     `json:"den"`
	Defined bool    `json:"defined"`
	Value   float64 `json:"value"`
	Lo95    float64 `json:"lo95"`
	Hi95    float64 `json:"hi95"`
}

// RatioInterval names Ratio's interval method in results.
const RatioInterval = "bonferroni-wilson: 1 - hi(adv_acc)/lo(clean_acc) .. 1 - lo(adv_acc)/hi(clean_acc), each Wilson at 97.5%"

// zBonferroni is the normal quantile for two-sided 97.5% intervals.
const zBonferroni = 2.241402727604947

// NewRatio computes asr_ratio from the clean-correct count c, the
// adversarial-correct count a and the number of images n.
func NewRatio(a, c, n int) Ratio {
	r := Ratio{Num: c - a, Den: c}
	if c <= 0 || n <= 0 {
		return r
	}
	r.Defined = true
	r.Value = float64(c-a) / float64(c)
	aLo, aHi := Wilson(a, n, zBonferroni)
	cLo, cHi := Wilson(c, n, zBonferroni)
	if cLo > 0 {
		r.Lo95 = 1 - aHi/cLo
	} else {
		r.Lo95 = -math.MaxFloat64
	}
	r.Hi95 = min(1, 1-aLo/cHi)
	return r
}

// EvaluateVictim scores a victim from its logits on the n clean and the n
// adversarial images (n×classes each, row-major), the true labels and,
// when targeted, the targets (nil otherwise). Predictions are the first
// largest logit. Zero denominators give zero rates (Den = 0) and an
// undefined ratio.
func EvaluateVictim(clean, adv []float32, labels, targets []int, classes int) (Scores, error) {
	n := len(labels)
	switch {
	case classes < 1:
		return Scores{}, fmt.Errorf("%d classes", classes)
	case len(clean) != n*classes || len(adv) != n*classes:
		return Scores{}, fmt.Errorf("%d labels of %d classes need %d logits each; have %d clean and %d adversarial", n, classes, n*classes, len(clean), len(adv))
	case targets != nil && len(targets) != n:
		return Scores{}, fmt.Errorf("%d targets for %d images", len(targets), n)
	}
	for i, y := range labels {
		if y < 0 || y >= classes {
			return Scores{}, fmt.Errorf("label %d of image %d is outside [0, %d)", y, i, classes)
		}
	}
	pc, pa := Argmax(clean, classes), Argmax(adv, classes)
	var c, a, flips, hit int
	tot := make([]int, classes)
	flip := make([]int, classes)
	for i, y := range labels {
		if pc[i] == y {
			c++
			tot[y]++
			if pa[i] != y {
				flips++
				flip[y]++
			}
		}
		if pa[i] == y {
			a++
		}
		if targets != nil && pa[i] == targets[i] {
			hit++
		}
	}
	s := Scores{
		CleanAccuracy: NewRate(c, n),
		AdvAccuracy:   NewRate(a, n),
		ASRAll:        NewRate(n-a, n),
		ASROnCorrect:  NewRate(flips, c),
		ASRRatio:      NewRatio(a, c, n),
	}
	if targets != nil {
		r := NewRate(hit, n)
		s.TargetedSuccess = &r
	}
	s.FlipsOnCorrect = make([]ClassRate, classes)
	for k := range s.FlipsOnCorrect {
		s.FlipsOnCorrect[k] = ClassRate{Class: k, Rate: NewRate(flip[k], tot[k])}
	}
	return s, nil
}

// L0Threshold is the |δ| above which a value counts as changed in L0.
const L0Threshold = 1e-8

// Perturbation summarises δ = adv − clean image by image.
type Perturbation struct {
	// Linf is max |δ| per image, L2 is √Σδ² per image, both in pixel units
	// of [0,1]; L0 counts the values (pixels × channels) with
	// |δ| > L0Threshold per image. Mean and max are over images.
	Linf Stat `json:"linf"`
	L2   Stat `json:"l2"`
	L0   Stat `json:"l0"`
	// Values is the number of values per image (C·H·W), L0's maximum.
	Values int `json:"values"`
}

// Stat is a mean and a maximum over images.
type Stat struct {
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// PerturbationOf computes the perturbation statistics of n images of size
// values each. δ is computed in float64 from the float32 values.
func PerturbationOf(clean, adv []float32, n int) (Perturbation, error) {
	if n <= 0 {
		return Perturbation{}, nil
	}
	if len(clean) != len(adv) || len(clean)%n != 0 {
		return Perturbation{}, fmt.Errorf("%d clean and %d adversarial values for %d images", len(clean), len(adv), n)
	}
	size := len(clean) / n
	p := Perturbation{Values: size}
	for i := 0; i < n; i++ {
		var linf, l2, l0 float64
		for j := i * size; j < (i+1)*size; j++ {
			d := math.Abs(float64(adv[j]) - float64(clean[j]))
			linf = max(linf, d)
			l2 += d * d
			if d > L0Threshold {
				l0++
			}
		}
		l2 = math.Sqrt(l2)
		p.Linf.Mean += linf
		p.L2.Mean += l2
		p.L0.Mean += l0
		p.Linf.Max = max(p.Linf.Max, linf)
		p.L2.Max = max(p.L2.Max, l2)
		p.L0.Max = max(p.L0.Max, l0)
	}
	p.Linf.Mean /= float64(n)
	p.L2.Mean /= float64(n)
	p.L0.Mean /= float64(n)
	return p, nil
}

// Quantize8 returns round(x·255)/255 of every value, clamped to [0,1]:
// what the images become when saved as 8-bit PNG. Ties round away from
// zero (math.Round).
func Quantize8(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		q := math.Round(float64(v) * 255)
		out[i] = float32(min(max(q, 0), 255)) / 255 // as datasets scale bytes
	}
	return out
}
