package report

import (
	"fmt"
	"io"

	"github.com/advmatrix/advmatrix/metrics"
)

// Backdoor is a model's response to a backdoor trigger on labelled test
// images (the ASR of backdoor attacks, BadNets and DAM's tables):
// ASR is the fraction of triggered images of the non-target classes
// predicted as the target. Target-class images are left out of its
// denominator — they would count as successes without any backdoor.
type Backdoor struct {
	Trigger string `json:"trigger"`
	Target  int    `json:"target"`
	// NonTarget is the denominator, Excluded the target-class images left
	// out.
	NonTarget int `json:"non_target_images"`
	Excluded  int `json:"target_images_excluded"`
	// ASR: triggered non-target images predicted as Target.
	ASR metrics.Rate `json:"asr"`
	// CleanTargetRate: the same images without the trigger predicted as
	// Target — what ASR is without any backdoor effect. Effect is ASR
	// minus it, paired on the images (Newcombe's interval), with the
	// exact McNemar p-value.
	CleanTargetRate metrics.Rate       `json:"clean_target_rate"`
	Effect          metrics.PairedDiff `json:"effect"`
	EffectP         float64            `json:"effect_p_value"`
	// TriggeredAccuracy is the accuracy on the triggered non-target images.
	TriggeredAccuracy metrics.Rate `json:"triggered_accuracy"`
}

// NewBackdoor scores a backdoor from the predictions on the triggered
// (trig) and clean (clean) images, their labels and the target class.
func NewBackdoor(trigger string, target int, trig, clean, labels []int) (*Backdoor, error) {
	if len(trig) != len(labels) || len(clean) != len(labels) {
		return nil, fmt.Errorf("backdoor: %d triggered and %d clean predictions for %d labels", len(trig), len(clean), len(labels))
	}
	b := &Backdoor{Trigger: trigger, Target: target}
	var hit, base, ok []bool
	nHit, nBase, nOK := 0, 0, 0
	for i, y := range labels {
		if y == target {
			b.Excluded++
			continue
		}
		b.NonTarget++
		hit = append(hit, trig[i] == target)
		base = append(base, clean[i] == target)
		ok = append(ok, trig[i] == y)
		if trig[i] == target {
			nHit++
		}
		if clean[i] == target {
			nBase++
		}
		if trig[i] == y {
			nOK++
		}
	}
	b.ASR = metrics.NewRate(nHit, b.NonTarget)
	b.CleanTargetRate = metrics.NewRate(nBase, b.NonTarget)
	b.TriggeredAccuracy = metrics.NewRate(nOK, b.NonTarget)
	var err error
	if b.Effect, err = metrics.NewPairedDiff(hit, base, nil); err != nil {
		return nil, err
	}
	b.EffectP = metrics.McNemar(b.Effect.FirstOnly, b.Effect.SecondOnly)
	return b, nil
}

// WriteBackdoorText renders a backdoor evaluation for people, a few
// aligned lines after eval's accuracy.
func WriteBackdoorText(w io.Writer, b *Backdoor) error {
	r := b.ASR
	fmt.Fprintf(w, "trigger   %s (target class %d; %d non-target images, %d target-class images excluded)\n",
		b.Trigger, b.Target, b.NonTarget, b.Excluded)
	fmt.Fprintf(w, "backdoor  ASR %s (%d/%d, 95%% CI %s–%s): triggered non-target images predicted as %d\n",
		pct(r.Value), r.Num, r.Den, pct(r.Lo95), pct(r.Hi95), b.Target)
	c := b.CleanTargetRate
	_, err := fmt.Fprintf(w, "          without the trigger %s predicted as %d; effect %+.2f pp (95%% CI %+.2f to %+.2f, McNemar p = %.3g); triggered accuracy %s\n",
		pct(c.Value), b.Target, 100*b.Effect.Value, 100*b.Effect.Lo95, 100*b.Effect.Hi95, b.EffectP, pct(b.TriggeredAccuracy.Value))
	return err
}
