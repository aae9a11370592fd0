package attacks

import (
	"context"
	"fmt"
	"math"

	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
)

// DefaultSSIMMin is DUMB's similarity threshold for strength selection:
// a strength qualifies only if the mean SSIM between clean and attacked
// images stays above it (DUMB's code: useGamma=False, threshold 0.4).
const DefaultSSIMMin = 0.4

// StrengthResult is one row of a strength sweep.
type StrengthResult struct {
	Strength  float64 `json:"strength"`
	ASR       float64 `json:"asr"`       // Fooled/Correct; NaN when Correct is 0
	Fooled    int     `json:"fooled"`    // clean-correct images the surrogate gets wrong after the attack
	Correct   int     `json:"correct"`   // images the surrogate classifies correctly when clean
	SSIM      float64 `json:"ssim"`      // mean SSIM(clean, attacked) over all images
	Qualifies bool    `json:"qualifies"` // SSIM > the threshold
}

// SelectStrength is DUMB's parameter selection: for every strength in the
// grid it makes the attack, crafts on the surrogate alone (in batches of
// batch images, seeded as CraftInBatches seeds them), and records
// the attack success rate on the surrogate itself — the fraction of the
// images the surrogate classifies correctly when clean that it
// misclassifies after the attack (DUMB's definition) — and the mean SSIM
// (metrics.MeanSSIM, scikit-image's defaults) between clean and attacked
// images. It returns the strength with the highest ASR among those whose
// mean SSIM is strictly above ssimMin (DefaultSSIMMin in DUMB), ties going
// to the smaller strength, and the whole table in grid order. It is an
// error if no strength qualifies or the surrogate gets no image right.
//
// DUMB measures SSIM with torchmetrics' StructuralSimilarityIndexMeasure
// (11×11 Gaussian window, σ = 1.5) on resized, ImageNet-normalised
// tensors; here it is scikit-image's 7×7 uniform window on the [0,1]
// images the models take.
func SelectStrength(ctx context.Context, mk func(strength float64) (Attack, error), grid []float64, surrogate models.Classifier,
	b Batch, batch int, ssimMin float64) (best float64, table []StrengthResult, err error) {
	if len(grid) == 0 {
		return 0, nil, fmt.Errorf("empty strength grid")
	}
	x, y := b.X, b.Labels
	shape := surrogate.InputShape()
	c, h, w := shapeCHW(shape)
	size := c * h * w
	n := len(y)
	if n == 0 || len(x) != n*size {
		return 0, nil, fmt.Errorf("%d values for %d labels of %v images", len(x), n, shape)
	}
	k := surrogate.NumClasses()
	z := make([]float32, n*k)
	if err := models.LogitsInBatches(surrogate, z, x, batch); err != nil {
		return 0, nil, err
	}
	clean := metrics.Argmax(z, k)
	correct := 0
	for i, p := range clean {
		if p == y[i] {
			correct++
		}
	}
	if correct == 0 {
		return 0, nil, fmt.Errorf("the surrogate classifies none of the %d images correctly: ASR is undefined", n)
	}
	ms := []models.Classifier{surrogate}
	bestIdx := -1
	for _, s := range grid {
		atk, err := mk(s)
		if err != nil {
			return 0, table, fmt.Errorf("strength %v: %w", s, err)
		}
		adv, err := CraftInBatches(ctx, atk, ms, Batch{X: x, Labels: y, Seed: b.Seed}, batch, nil)
		if err != nil {
			return 0, table, fmt.Errorf("strength %v: %w", s, err)
		}
		if err := models.LogitsInBatches(surrogate, z, adv, batch); err != nil {
			return 0, table, fmt.Errorf("strength %v: %w", s, err)
		}
		pred := metrics.Argmax(z, k)
		r := StrengthResult{Strength: s, Correct: correct, SSIM: metrics.MeanSSIM(x, adv, n, c, h, w)}
		for i, p := range pred {
			if clean[i] == y[i] && p != y[i] {
				r.Fooled++
			}
		}
		r.ASR = float64(r.Fooled) / float64(correct)
		r.Qualifies = r.SSIM > ssimMin
		table = append(table, r)
		if r.Qualifies {
			if bestIdx < 0 {
				bestIdx = len(table) - 1
			} else if b := table[bestIdx]; r.ASR > b.ASR || (r.ASR == b.ASR && r.Strength < b.Strength) {
				bestIdx = len(table) - 1
			}
		}
	}
	if bestIdx < 0 {
		return 0, table, fmt.Errorf("no strength keeps the mean SSIM above %v", ssimMin)
	}
	return table[bestIdx].Strength, table, nil
}

// StrengthMaker returns a make function for SelectStrength from a
// registered attack: the strength sets the attack's Strength key (ε for
// the gradient family and Square, "radius", "sigma", "size" or "amount"
// for DUMB's corruptions). Other settings come from p merged over the
// attack's defaults for the image shape.
func StrengthMaker(name string, p Params, shape []int) (func(float64) (Attack, error), error) {
	spec, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if spec.Strength == nil {
		return nil, fmt.Errorf("attack %s has no strength to select", spec.Name)
	}
	if err := spec.CheckExtras(p); err != nil {
		return nil, err
	}
	key := spec.Strength.Key
	return func(v float64) (Attack, error) {
		q := p
		q.Set = map[string]bool{key: true}
		for k, given := range p.Set {
			q.Set[k] = given
		}
		if key == "eps" {
			q.Eps = v
		} else {
			q.Extra = map[string]float64{key: v}
			for k, x := range p.Extra {
				if k != key {
					q.Extra[k] = x
				}
			}
		}
		// Complete per strength: defaults derived from ε (CWA's α and
		// reverse step) follow the strength tried.
		return spec.New(spec.Complete(q, shape))
	}, nil
}

// StrengthGrid is DUMB's strength grid for an attack and image shape
// (nil for an attack without a strength).
func StrengthGrid(spec Spec, shape []int) []float64 {
	if spec.Strength == nil {
		return nil
	}
	return spec.Strength.Grid(shape)
}

// grid returns from, from+step, …, to, each rounded to 1e-9 so that
// 0.01·i prints as written.
func grid(from, to, step float64) []float64 {
	var g []float64
	for i := 0; ; i++ {
		v := math.Round((from+float64(i)*step)*1e9) / 1e9
		if v > to+step/2 {
			break
		}
		g = append(g, v)
	}
	return g
}

// EpsGrid is DUMB's ε grid for the gradient attacks: 0.01, 0.02, …, 0.30.
func EpsGrid() []float64 { return grid(0.01, 0.3, 0.01) }

// SquareEpsGrid is DUMB's ε grid for Square: 0.10, 0.15, …, 0.30.
func SquareEpsGrid() []float64 { return grid(0.1, 0.3, 0.05) }

// BoxBlurGrid is DUMB's blur radii: 0.5, 1, …, 10 (step 0.5, DUMB's
// attackGeneration.py). Radii are in pixels and are not rescaled for
// smaller images; on 28×28 inputs the upper end blurs the digit away and
// is normally excluded by the SSIM threshold.
func BoxBlurGrid() []float64 { return grid(0.5, 10, 0.5) }

// GaussNoiseGrid is DUMB's noise grid: 0.005, 0.010, …, 0.100 (step
// 0.005). Here it is the noise σ; DUMB's code passes the value as both
// the mean and the variance of skimage's noise (see GaussNoise).
func GaussNoiseGrid() []float64 { return grid(0.005, 0.1, 0.005) }

// SaltPepperGrid is DUMB's salt-and-pepper amounts: 0.005, 0.010, …, 0.100.
func SaltPepperGrid() []float64 { return grid(0.005, 0.1, 0.005) }

// BlackBoxGrid is DUMB's box sides, 10, 20, …, 200 pixels on its 300×300
// images, scaled proportionally to images of the given side (the smaller
// of H and W): round(s·side/300), at least 1, with duplicates removed. On
// 28×28 images that is 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
// 16, 17, 18, 19 (10 px → 0.93 → 1 … 200 px → 18.7 → 19).
func BlackBoxGrid(side int) []float64 {
	var g []float64
	for _, s := range grid(10, 200, 10) {
		v := math.Max(1, math.Round(s*float64(side)/300))
		if len(g) == 0 || g[len(g)-1] != v {
			g = append(g, v)
		}
	}
	return g
}
