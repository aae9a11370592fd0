package metrics

import (
	"fmt"
	"math"
)

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
// (impossible when C > 0) Lo95 would be −∞. Lo95 is never below 1 − n/C,
// the ratio when every image is right under attack.
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
	// The ratio cannot go below 1 − n/C (every image right under attack).
	r.Lo95 = max(r.Lo95, min(1-float64(n)/float64(c), r.Value))
	return r
}

// ScoreVictim scores a victim from its logits on the n clean and the n
// adversarial images (n×classes each, row-major), the true labels and,
// when targeted, the targets (nil otherwise). Predictions are the first
// largest logit. Zero denominators give zero rates (Den = 0) and an
// undefined ratio.
func ScoreVictim(clean, adv []float32, labels, targets []int, classes int) (Scores, error) {
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
