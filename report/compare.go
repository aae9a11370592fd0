package report

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/advmatrix/advmatrix/metrics"
)

// ComparePair asks for a victim to be compared with a baseline victim —
// a merged model with each of its constituents, a pruned model with its
// original — on the same adversarial examples (a scenario's compare:).
type ComparePair struct {
	Model    string `json:"model"`
	Baseline string `json:"baseline"`
}

// Comparison is a model against its baseline for one attack at one ε,
// on one attacker's adversarial examples, or (Attacker "") pooled over the
// attackers that attacked both.
//
// The paired difference is taken on the images both victims classify
// correctly when clean, so that it compares asr_on_correct on the same
// examples: Delta = (fooled_model − fooled_baseline)/N over those N
// images, with Newcombe's paired interval, and DeltaP the exact McNemar
// test of the images only one of the two is fooled by. The pooled row
// counts every (attacker, image) pair as one item; since every attacker
// starts from the same clean images those items are not independent and
// its p-value is optimistic — the per-attacker rows are exact.
type Comparison struct {
	Model            string  `json:"model"`
	Baseline         string  `json:"baseline"`
	Attack           string  `json:"attack"`
	Eps              float64 `json:"eps"`
	StrengthSelected bool    `json:"strength_selected,omitempty"`
	Attacker         string  `json:"attacker,omitempty"`
	Attackers        int     `json:"attackers"`
	// ModelASR and BaselineASR are each victim's asr_on_correct over the
	// images it classifies correctly (pooled over attackers in the pooled
	// row).
	ModelASR    metrics.Rate       `json:"model_asr_on_correct"`
	BaselineASR metrics.Rate       `json:"baseline_asr_on_correct"`
	Delta       metrics.PairedDiff `json:"delta_asr_on_correct"`
	DeltaP      float64            `json:"delta_p_value"`
	// CleanDelta is clean accuracy, model minus baseline, paired on all
	// the images, with its McNemar p-value.
	CleanDelta metrics.PairedDiff `json:"delta_clean_accuracy"`
	CleanP     float64            `json:"delta_clean_p_value"`
}

// WriteComparisonsText renders the pooled comparisons of a scenario run
// as a table; nothing when there are none.
func WriteComparisonsText(w io.Writer, cs []Comparison) error {
	header, rows := comparisonRows(cs)
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nΔ-robustness: each model against its baseline on the same adversarial examples (pooled over attackers)")
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header(anys(header)...)
	for _, row := range rows {
		if err := t.Append(anys(row)...); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Δ ASR: asr_on_correct of the model minus the baseline's on the images both get right when clean, paired")
	fmt.Fprintln(w, "(Newcombe 95% CI; exact McNemar p; pooled over attackers, whose per-attacker rows are in results.json).")
	return nil
}

// WriteComparisonsMarkdown is WriteComparisonsText as Markdown.
func WriteComparisonsMarkdown(w io.Writer, cs []Comparison) {
	header, rows := comparisonRows(cs)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Δ-robustness against baselines\n\n")
	writeMarkdownTable(w, header, rows)
	fmt.Fprintf(w, "\nΔ ASR: asr_on_correct of the model minus the baseline's, on the same adversarial examples and the images both "+
		"classify correctly when clean (Newcombe's paired 95%% interval, exact McNemar p), pooled over attackers.\n")
}

func comparisonRows(cs []Comparison) (header []string, rows [][]string) {
	header = []string{"model", "baseline", "attack", "ε", "attackers", "ASR model", "ASR baseline", "Δ ASR (95% CI)", "p", "Δ clean acc (95% CI)"}
	for _, c := range cs {
		if c.Attacker != "" {
			continue
		}
		eps := epsString(c.Eps)
		if c.StrengthSelected {
			eps = "selected"
		}
		rows = append(rows, []string{c.Model, c.Baseline, c.Attack, eps, fmt.Sprint(c.Attackers),
			pct(c.ModelASR.Value), pct(c.BaselineASR.Value),
			fmt.Sprintf("%+.2f pp (%+.2f, %+.2f)", 100*c.Delta.Value, 100*c.Delta.Lo95, 100*c.Delta.Hi95), pValue(c.DeltaP),
			fmt.Sprintf("%+.2f pp (%+.2f, %+.2f)", 100*c.CleanDelta.Value, 100*c.CleanDelta.Lo95, 100*c.CleanDelta.Hi95)})
	}
	return header, rows
}

func pValue(p float64) string {
	if p < 1e-4 {
		return "<1e-4"
	}
	return fmt.Sprintf("%.3g", p)
}
