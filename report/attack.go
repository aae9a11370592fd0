package report

import (
	"encoding/base64"
	"fmt"

	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/provenance"
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
	// images are crafted in batches of BatchSize, each with a seed derived
	// from Seed as BatchSeedRule says.
	Seed          uint64       `json:"seed"`
	BatchSeedRule string       `json:"batch_seed_rule"`
	Params        AttackParams `json:"params"`
	// BatchSize is the number of images crafted together; batch-coupled
	// attacks (AdaEA's and CWA's per-batch statistics) depend on it.
	BatchSize int `json:"batch_size"`
	// Targets are the target classes, one per image, when targeted
	// (resolved before crafting for random and least-likely targets).
	Targets     []int            `json:"targets,omitempty"`
	TargetsFile *provenance.File `json:"targets_file,omitempty"`

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

	Perturbation          metrics.Perturbation  `json:"perturbation"`
	MeanSSIM              float64               `json:"mean_ssim"`
	PerturbationQuantized *metrics.Perturbation `json:"perturbation_quantized,omitempty"`
	MeanSSIMQuantized     *float64              `json:"mean_ssim_quantized,omitempty"`

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

	// AttackStats are the attack's own diagnostics, when it has any:
	// AdaEA's mean DRF-masked fraction of pixels and zero-gradient count,
	// CWA's zero-gradient and zero-displacement counts.
	AttackStats map[string]float64 `json:"attack_stats,omitempty"`

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
	Eps      float64 `json:"eps"`
	Alpha    float64 `json:"alpha"`
	Steps    int     `json:"steps"`
	Norm     string  `json:"norm"`
	Momentum float64 `json:"momentum"`
	Targeted string  `json:"targeted"`
	Fusion   string  `json:"fusion"`
	Seed     uint64  `json:"seed"`
	// Extra holds the attack's own settings, every one with the value it
	// ran with (defaults included).
	Extra map[string]float64 `json:"extra"`
	// Derived holds values the attack computes from its settings
	// (R-FGSM's gradient step ε − α).
	Derived map[string]float64 `json:"derived,omitempty"`
	// Given lists the settings the user gave explicitly; the rest are the
	// attack's defaults for this image shape.
	Given []string `json:"given"`
}

// VictimResult is one victim's evaluation. The embedded Scores are on the
// float adversarial images; Quantized, when asked for, on the 8-bit ones.
type VictimResult struct {
	// Name is the victim's name in a scenario's pool.
	Name  string   `json:"name,omitempty"`
	Model ModelRef `json:"model"`
	// Surrogate is set when the victim is one of the surrogates.
	Surrogate bool `json:"surrogate"`
	metrics.Scores
	Quantized *metrics.Scores `json:"quantized,omitempty"`

	// In scenario runs: Case is the DUMB case of the attacker and this
	// victim ("C1"…"C8"); WhiteBox is set when the victim is the attacker
	// itself.
	Case     string `json:"case,omitempty"`
	WhiteBox bool   `json:"white_box,omitempty"`
	// Control is the victim on seeded random-sign noise of the attack's
	// norm and ε (the same images), and Excess the attack's ASR on correct
	// minus the control's, over the same images, with a paired interval
	// (Newcombe's method 10). NoiseLevel says when the excess is not
	// distinguishable from noise (its interval contains 0).
	Control    *metrics.Scores     `json:"control,omitempty"`
	Excess     *metrics.PairedDiff `json:"excess,omitempty"`
	NoiseLevel bool                `json:"noise_level,omitempty"`
	// Outcomes are the per-image results, so that a later gate can test
	// paired differences on them.
	Outcomes *Outcomes `json:"outcomes,omitempty"`
}

// Outcomes are per-image results as bit strings (bit i of byte i/8, least
// significant first), base64-encoded: whether the victim classified image
// i correctly when clean, after the attack and under the noise control.
type Outcomes struct {
	N       int    `json:"n"`
	Clean   string `json:"clean_correct"`
	Adv     string `json:"adv_correct"`
	Control string `json:"control_correct,omitempty"`
}

// PackBits encodes a bit string as Outcomes stores it.
func PackBits(bits []bool) string {
	b := make([]byte, (len(bits)+7)/8)
	for i, v := range bits {
		if v {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return base64.StdEncoding.EncodeToString(b)
}

// UnpackBits decodes n bits stored by PackBits.
func UnpackBits(s string, n int) ([]bool, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("outcome bits: %w", err)
	}
	if len(b) != (n+7)/8 {
		return nil, fmt.Errorf("outcome bits: %d bytes for %d images", len(b), n)
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = b[i/8]&(1<<(i%8)) != 0
	}
	return out, nil
}
