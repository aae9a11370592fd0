package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/advmatrix/advmatrix/metrics"
)

// WriteAttackText renders an attack's results for people: the settings,
// one table per victim (float and, with quantization, 8-bit columns),
// perturbation, SSIM, evaluations and times.
func WriteAttackText(w io.Writer, r *AttackResult) error {
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
		if err := writeSelection(w, r.StrengthSelection); err != nil {
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
		header := []any{"", "rate", "count", "95% CI"}
		if v.Quantized != nil {
			header = append(header, "rate (8-bit)", "count", "95% CI")
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

// writeSelection prints the strength table of --select-strength.
func writeSelection(w io.Writer, s *StrengthSelection) error {
	source := fmt.Sprintf("DUMB's grid of %d", len(s.Grid))
	if s.GridGiven {
		source = fmt.Sprintf("--strengths, %d", len(s.Grid))
	}
	fmt.Fprintf(w, "strength    %s=%g chosen by --select-strength on %s (%s): highest ASR with mean SSIM > %g\n",
		s.Param, s.Chosen, s.Surrogate.Path, source, s.SSIMMin)
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header(s.Param, "ASR", "fooled", "SSIM", "> "+strconv.FormatFloat(s.SSIMMin, 'g', -1, 64), "")
	for _, r := range s.Table {
		q, mark := "no", ""
		if r.Qualifies {
			q = "yes"
		}
		if r.Strength == s.Chosen {
			mark = "chosen"
		}
		if err := t.Append(strconv.FormatFloat(r.Strength, 'g', -1, 64), pct(r.ASR), fmt.Sprintf("%d/%d", r.Fooled, r.Correct),
			fmt.Sprintf("%.4f", r.SSIM), q, mark); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintf(w, "            selection: %d forward, %d gradient evaluations (images), %.2f s, not counted below\n",
		s.SurrogateForwardEvals, s.SurrogateGradEvals, s.Seconds)
	return nil
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "×")
}
