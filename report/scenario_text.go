package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// caseMeaning says what each DUMB case compares.
var caseMeaning = map[string]string{
	"C1": "same data, balance, architecture", "C2": "other balance", "C3": "other architecture",
	"C4": "other balance and architecture", "C5": "other data", "C6": "other data and balance",
	"C7": "other data and architecture", "C8": "all three differ", "C1-white-box": "the attacker itself",
}

// summaryRows are the per-case table's rows: attack, ε, case, meaning,
// pairs, mean ± sd, excess, pooled with interval, pairs at noise level.
func summaryRows(r *ScenarioResult) (header []string, rows [][]string) {
	header = []string{"attack", "ε", "case", "", "pairs", "ASR on correct (mean ± sd)", "excess over noise", "pooled (95% CI)", "≈ noise"}
	for _, s := range r.Summary {
		excess := "–"
		if s.MeanExcess != nil {
			excess = fmt.Sprintf("%+.1f pts", 100**s.MeanExcess)
		}
		eps := epsString(s.Eps)
		if s.StrengthSelected {
			eps = "selected"
		}
		rows = append(rows, []string{s.Attack, eps, s.Case, caseMeaning[s.Case], strconv.Itoa(s.Pairs),
			fmt.Sprintf("%.1f%% ± %.1f", 100*s.MeanASR, 100*s.SDASR), excess,
			fmt.Sprintf("%s (%s–%s)", pct(s.Pooled.Value), pct(s.Pooled.Lo95), pct(s.Pooled.Hi95)),
			fmt.Sprintf("%d/%d", s.NoiseLevelPairs, s.Pairs)})
	}
	return header, rows
}

func epsString(e float64) string {
	if e == 0 {
		return "–"
	}
	return strconv.FormatFloat(e, 'g', 4, 64)
}

// WriteScenarioText renders a scenario run for a terminal: what ran, the
// per-case table, and the warnings.
func WriteScenarioText(w io.Writer, r *ScenarioResult) error {
	fmt.Fprintf(w, "scenario   %s (sha256 %.12s)", r.Scenario.Name, r.Scenario.SHA256)
	if r.Shard != nil {
		fmt.Fprintf(w, ", shard %d/%d", r.Shard.Index, r.Shard.Count)
	}
	fmt.Fprintf(w, "\ncells      %d of %d planned · %d models · matrix %s · seed %d · %d images per source\n",
		len(r.Cells), r.CellsPlanned, len(r.Models), r.Matrix, r.Seed, r.Limit)
	header, rows := summaryRows(r)
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
	fmt.Fprintln(w, "ASR on correct: of the images a victim gets right, the share the attack's images fool. Excess: minus the")
	fmt.Fprintln(w, "share seeded random noise of the same size fools (paired, same images); ≈ noise: pairs whose excess interval contains 0.")
	if err := WriteComparisonsText(w, r.Comparisons); err != nil {
		return err
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

// WriteScenarioMarkdown renders a scenario run as Markdown fit for a pull
// request comment: the per-case table, the cells where the attack did best
// and the provenance in brief.
func WriteScenarioMarkdown(w io.Writer, r *ScenarioResult) error {
	fmt.Fprintf(w, "## advmatrix: %s\n\n", r.Scenario.Name)
	if r.Scenario.Description != "" {
		fmt.Fprintf(w, "%s\n\n", r.Scenario.Description)
	}
	fmt.Fprintf(w, "%d cells of %d planned, %d models, matrix `%s`, seed %d, %d images per source; tool %s; scenario sha256 `%.12s`.\n\n",
		len(r.Cells), r.CellsPlanned, len(r.Models), r.Matrix, r.Seed, r.Limit, r.ToolVersion, r.Scenario.SHA256)
	header, rows := summaryRows(r)
	fmt.Fprintf(w, "### Transfer by DUMB case\n\n")
	writeMarkdownTable(w, header, rows)
	fmt.Fprintf(w, "\nASR on correct: of the images a victim classifies correctly, the share the adversarial images fool. "+
		"Excess: that share minus the share that seeded random noise of the same size fools, on the same images; "+
		"≈ noise counts pairs whose 95%% interval for the excess contains 0.\n\n")
	WriteComparisonsMarkdown(w, r.Comparisons)
	worst := worstPairs(r, 10)
	if len(worst) > 0 {
		fmt.Fprintf(w, "### Highest transfer (black-box pairs)\n\n")
		writeMarkdownTable(w, []string{"attack", "ε", "attacker", "victim", "case", "ASR on correct", "excess over noise"}, worst)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\n> warning: %s\n", warn)
	}
	return nil
}

// worstPairs are the black-box pairs with the highest ASR on correct.
func worstPairs(r *ScenarioResult, n int) [][]string {
	type pair struct {
		c *Cell
		v *VictimResult
	}
	var ps []pair
	for i := range r.Cells {
		c := &r.Cells[i]
		for j := range c.Result.Victims {
			if v := &c.Result.Victims[j]; !v.WhiteBox && v.ASROnCorrect.Den > 0 {
				ps = append(ps, pair{c, v})
			}
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].v.ASROnCorrect.Value > ps[j].v.ASROnCorrect.Value })
	var rows [][]string
	for _, p := range ps[:min(n, len(ps))] {
		excess := "–"
		if e := p.v.Excess; e != nil && e.N > 0 {
			excess = fmt.Sprintf("%+.1f pts (%+.1f…%+.1f)", 100*e.Value, 100*e.Lo95, 100*e.Hi95)
		}
		rows = append(rows, []string{p.c.Attack, epsString(p.c.Eps), p.c.Attacker, p.v.Name, p.v.Case,
			fmt.Sprintf("%s (%d/%d)", pct(p.v.ASROnCorrect.Value), p.v.ASROnCorrect.Num, p.v.ASROnCorrect.Den), excess})
	}
	return rows
}

func writeMarkdownTable(w io.Writer, header []string, rows [][]string) {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintf(w, "| %s |\n|", strings.Join(mapStrings(header, esc), " | "))
	for range header {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(mapStrings(row, esc), " | "))
	}
}

func mapStrings(s []string, f func(string) string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}
