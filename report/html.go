package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/advmatrix/advmatrix/metrics"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

//go:embed html.tmpl
var htmlTemplateText string

var htmlTemplate = template.Must(template.New("report").Parse(htmlTemplateText))

// WriteScenarioHTML renders a scenario run as one self-contained HTML page:
// no scripts, no fonts, style sheets or images from elsewhere (a Content
// Security Policy in the page forbids fetching anything), the plots inline
// SVG drawn with gonum.org/v1/plot. The page holds the per-case summary
// with bar charts (pooled ASR on correct of the attack and of the noise
// control, with 95% Wilson intervals), one transfer-matrix heat map per
// attack and ε, ASR-vs-ε curves with 95% bands for attacks run at several
// ε, the pairs the attacks transferred to best, the provenance (tool,
// scenario, data and model sha256s, seeds, every attack line's parameters)
// and the warnings.
func WriteScenarioHTML(w io.Writer, r *ScenarioResult) error {
	pg, err := buildHTMLPage(r)
	if err != nil {
		return err
	}
	return htmlTemplate.Execute(w, pg)
}

// htmlPage is what html.tmpl renders.
type htmlPage struct {
	R        *ScenarioResult
	Facts    []keyValue
	Warnings []string

	SummaryHeader []string
	SummaryRows   [][]string
	Cases         []keyValue // DUMB case → meaning, for the cases present

	Bars     []htmlFigure
	Heatmaps []htmlFigure
	Curves   []htmlFigure
	// CurvesNote says why there are no curves, when there are none.
	CurvesNote string

	WorstHeader []string
	Worst       [][]string

	// Compare is the Δ-robustness of compare: pairs, pooled over
	// attackers; empty without any.
	Compare htmlTable

	Run     []keyValue
	Sources []htmlSource
	Models  []PoolModel
	// Attacks has a column per attack line and a row per setting.
	Attacks htmlTable
}

type htmlTable struct {
	Header []string
	Rows   [][]string
}

type keyValue struct{ Key, Value string }

// htmlFigure is one plot: its kind (heatmap, curve, bars) for tests and
// styling, a caption and the inline SVG, and for heat maps the numbers as
// a table.
type htmlFigure struct {
	ID, Kind, Title, Caption string
	SVG                      template.HTML
	// Wide figures take the page's width; the others share rows.
	Wide        bool
	TableHeader []string
	Table       [][]string
}

type htmlSource struct {
	Name, Spec, Shape, Sample string
	N                         int
	Seed                      uint64
	Files                     []keyValue // path → sha256
}

// htmlAttackLine is one attack line of the scenario with its parameters
// over all its cells (a setting that differs between cells lists its
// values).
type htmlAttackLine struct {
	Name, Attack, Summary string
	Cells                 int
	Params                []keyValue
}

func buildHTMLPage(r *ScenarioResult) (*htmlPage, error) {
	pg := &htmlPage{R: r, Warnings: r.Warnings}
	shard := ""
	if r.Shard != nil {
		shard = fmt.Sprintf(" · shard %d/%d", r.Shard.Index, r.Shard.Count)
	}
	pg.Facts = []keyValue{
		{"cells", fmt.Sprintf("%d of %d planned%s", len(r.Cells), r.CellsPlanned, shard)},
		{"models", strconv.Itoa(len(r.Models))},
		{"matrix", r.Matrix},
		{"images per source", strconv.Itoa(r.Limit)},
		{"seed", strconv.FormatUint(r.Seed, 10)},
		{"noise control", yesNo(r.Control)},
		{"tool", r.ToolVersion},
		{"started", r.StartedAt},
	}
	pg.SummaryHeader, pg.SummaryRows = summaryRows(r)
	seen := map[string]bool{}
	for _, s := range r.Summary {
		seen[s.Case] = true
	}
	for _, c := range caseOrder {
		if seen[c] {
			pg.Cases = append(pg.Cases, keyValue{c, caseMeaning[c]})
		}
	}

	groups := cellGroups(r)
	for gi, g := range groups {
		f, err := barsFigure(r, g, gi)
		if err != nil {
			return nil, err
		}
		if f != nil {
			pg.Bars = append(pg.Bars, *f)
		}
	}
	for i := range r.Matrices {
		f, err := heatmapFigure(r, &r.Matrices[i], i)
		if err != nil {
			return nil, err
		}
		pg.Heatmaps = append(pg.Heatmaps, f)
	}
	curves, err := curveFigures(r)
	if err != nil {
		return nil, err
	}
	pg.Curves = curves
	if len(curves) == 0 {
		pg.CurvesNote = "No attack in this scenario ran at more than one ε; give an attack line a list of ε values (eps: [0.05, 0.1, 0.2]) for curves."
	}

	pg.WorstHeader = []string{"attack", "ε", "attacker", "victim", "case", "ASR on correct", "excess over noise"}
	pg.Worst = worstPairs(r, 15)
	pg.Compare.Header, pg.Compare.Rows = comparisonRows(r.Comparisons)

	pg.Run = runProvenance(r)
	for _, s := range r.Sources {
		src := htmlSource{Name: s.Name, Spec: s.Data.Spec, N: s.Data.N, Sample: s.Data.Sample, Seed: s.Data.Seed,
			Shape: fmt.Sprintf("%d×%d×%d", s.Data.Shape[0], s.Data.Shape[1], s.Data.Shape[2])}
		for _, f := range s.Data.Sources {
			src.Files = append(src.Files, keyValue{f.Path, f.SHA256})
		}
		pg.Sources = append(pg.Sources, src)
	}
	pg.Models = r.Models
	pg.Attacks = attackTable(attackLines(r))
	return pg, nil
}

var caseOrder = []string{"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C1-white-box"}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// cellGroup is the cells of one attack line at one ε (the cells of a
// transfer matrix and of a block of the per-case summary).
type cellGroup struct {
	attack   string
	eps      float64
	selected bool
	cells    []*Cell
}

func (g cellGroup) epsLabel() string {
	if g.selected {
		return "selected strength"
	}
	return "ε = " + epsString(g.eps)
}

func cellGroups(r *ScenarioResult) []cellGroup {
	var gs []cellGroup
	idx := map[[2]string]int{}
	for i := range r.Cells {
		c := &r.Cells[i]
		k := [2]string{c.Attack, strconv.FormatFloat(c.Eps, 'g', -1, 64)}
		j, ok := idx[k]
		if !ok {
			j = len(gs)
			idx[k] = j
			gs = append(gs, cellGroup{attack: c.Attack, eps: c.Eps, selected: c.Result.StrengthSelection != nil})
		}
		gs[j].cells = append(gs[j].cells, c)
	}
	return gs
}

func caseName(v *VictimResult) string {
	if v.WhiteBox {
		return "C1-white-box"
	}
	return v.Case
}

func shortCase(c string) string {
	if c == "C1-white-box" {
		return "C1 white-box"
	}
	return c
}

// barsFigure is the per-case bar chart of one attack at one ε: the
// summary's pooled rate and the noise control's, pooled over the same
// pairs, each with its Wilson interval.
func barsFigure(r *ScenarioResult, g cellGroup, gi int) (*htmlFigure, error) {
	type acc struct{ num, den, cnum, cden int }
	ctl := map[string]*acc{}
	for _, c := range g.cells {
		for j := range c.Result.Victims {
			v := &c.Result.Victims[j]
			a := ctl[caseName(v)]
			if a == nil {
				a = &acc{}
				ctl[caseName(v)] = a
			}
			if v.Control != nil {
				a.cnum += v.Control.ASROnCorrect.Num
				a.cden += v.Control.ASROnCorrect.Den
			}
		}
	}
	var bars []caseBar
	for i := range r.Summary {
		s := &r.Summary[i]
		if s.Attack != g.attack || s.Eps != g.eps {
			continue
		}
		b := caseBar{label: shortCase(s.Case), meanExcess: s.MeanExcess}
		if s.Pooled.Den > 0 {
			b.attack = &rateBar{s.Pooled.Value, s.Pooled.Lo95, s.Pooled.Hi95}
		}
		if a := ctl[s.Case]; a != nil && a.cden > 0 {
			cr := metrics.NewRate(a.cnum, a.cden)
			b.control = &rateBar{cr.Value, cr.Lo95, cr.Hi95}
		}
		bars = append(bars, b)
	}
	if len(bars) == 0 {
		return nil, nil
	}
	title := fmt.Sprintf("%s, %s: transfer by DUMB case", g.attack, g.epsLabel())
	svg, err := barsSVG(title, bars)
	if err != nil {
		return nil, err
	}
	hasExcess := false
	for _, b := range bars {
		hasExcess = hasExcess || b.meanExcess != nil
	}
	caption := "Bars: ASR on correct pooled over the case's attacker/victim pairs, with its 95% Wilson interval (the pairs share adversarial images, so the interval is narrower than a study-level one)."
	if hasExcess {
		caption += " Grey: the same victims on seeded random noise of the same size. Numbers above the bars: the mean over pairs of the attack's excess over noise, in percentage points."
	}
	return &htmlFigure{ID: fmt.Sprintf("bars-%d", gi), Kind: "bars", Title: title, Caption: caption, SVG: svg}, nil
}

// heatmapFigure is a transfer matrix as a heat map with its numbers as a
// table.
func heatmapFigure(r *ScenarioResult, m *TransferMatrix, mi int) (htmlFigure, error) {
	if err := checkMatrix(m); err != nil {
		return htmlFigure{}, err
	}
	label := "ε = " + epsString(m.Eps)
	victims := map[[2]string]*VictimResult{}
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Attack != m.Attack || c.Eps != m.Eps {
			continue
		}
		if c.Result.StrengthSelection != nil {
			label = "selected strength"
		}
		for j := range c.Result.Victims {
			v := &c.Result.Victims[j]
			victims[[2]string{c.Attacker, v.Name}] = v
		}
	}
	title := fmt.Sprintf("%s, %s: ASR on correct, attacker × victim", m.Attack, label)
	svg, width, err := heatmapSVG(m, title)
	if err != nil {
		return htmlFigure{}, err
	}
	f := htmlFigure{ID: fmt.Sprintf("matrix-%d", mi), Kind: "heatmap", Title: title, SVG: svg, Wide: width > vg.Points(520),
		Caption: fmt.Sprintf("%d attackers × %d victims. Each cell: ASR on correct in %% (colour on a fixed 0–100%% scale) and the pair's DUMB case; "+
			"outlined cells marked * are white-box (the attacker is the victim); grey cells were not run or the victim got no image right.",
			len(m.Attackers), len(m.Victims)),
		TableHeader: []string{"attacker", "victim", "case", "ASR on correct (95% CI)", "noise control", "excess over noise (95% CI)"},
	}
	if label == "selected strength" {
		f.Caption += " Each attacker's strength was selected on the attacker itself (DUMB's SSIM-bounded selection); the strengths are listed under Provenance, Attacks."
	}
	for i, a := range m.Attackers {
		for j, vn := range m.Victims {
			v := victims[[2]string{a, vn}]
			if v == nil {
				continue
			}
			row := []string{a, vn, m.Cases[i][j], rateString(v.ASROnCorrect), "–", "–"}
			if v.Control != nil {
				row[4] = rateString(v.Control.ASROnCorrect)
			}
			if e := v.Excess; e != nil && e.N > 0 {
				row[5] = fmt.Sprintf("%+.1f pts (%+.1f…%+.1f)", 100*e.Value, 100*e.Lo95, 100*e.Hi95)
				if v.NoiseLevel {
					row[5] += " ≈ noise"
				}
			}
			f.Table = append(f.Table, row)
		}
	}
	return f, nil
}

// checkMatrix reports a matrix whose tables do not match its attackers and
// victims (a hand-edited or truncated results file).
func checkMatrix(m *TransferMatrix) error {
	rows, cols := len(m.Attackers), len(m.Victims)
	bad := len(m.ASR) != rows || len(m.Cases) != rows || (m.Excess != nil && len(m.Excess) != rows)
	for i := 0; !bad && i < rows; i++ {
		bad = len(m.ASR[i]) != cols || len(m.Cases[i]) != cols || (m.Excess != nil && len(m.Excess[i]) != cols)
	}
	if bad {
		return fmt.Errorf("report: transfer matrix %s at ε %g: asr_on_correct, cases or excess do not have %d rows of %d (attackers × victims)", m.Attack, m.Eps, rows, cols)
	}
	return nil
}

func rateString(r metrics.Rate) string {
	if r.Den == 0 {
		return "– (0/0)"
	}
	return fmt.Sprintf("%.1f%% (%.1f–%.1f), %d/%d", 100*r.Value, 100*r.Lo95, 100*r.Hi95, r.Num, r.Den)
}

// curveFigures are, for every attack line run at two or more ε, the
// pooled ASR on correct per DUMB case against ε with 95% Wilson bands,
// and, when the line has at most maxPairCurves attacker/victim pairs,
// each pair's ASR on correct against ε with its Wilson band. Both carry
// the noise control pooled over the black-box pairs as a dashed grey
// reference.
func curveFigures(r *ScenarioResult) ([]htmlFigure, error) {
	const maxPairCurves = 10
	type point struct {
		eps  float64
		rate metrics.Rate
	}
	var lines []string
	epsOf := map[string]map[float64]bool{}
	for _, g := range cellGroups(r) {
		if g.selected {
			continue
		}
		if epsOf[g.attack] == nil {
			epsOf[g.attack] = map[float64]bool{}
			lines = append(lines, g.attack)
		}
		epsOf[g.attack][g.eps] = true
	}
	var figs []htmlFigure
	for _, line := range lines {
		if len(epsOf[line]) < 2 {
			continue
		}
		xLabel := "ε"
		// Per case, from the summary.
		byCase := map[string][]point{}
		for _, s := range r.Summary {
			if s.Attack == line && !s.StrengthSelected && s.Pooled.Den > 0 {
				byCase[s.Case] = append(byCase[s.Case], point{s.Eps, s.Pooled})
			}
		}
		// Per pair and the noise control, from the cells.
		type acc struct{ num, den int }
		ctl := map[float64]*acc{}
		byPair, pairControl := map[string][]point{}, map[string][]point{}
		var pairs []string
		for i := range r.Cells {
			c := &r.Cells[i]
			if c.Attack != line || c.Result.StrengthSelection != nil {
				continue
			}
			xLabel = "ε (" + normName(c.Budget.Norm) + ")"
			for j := range c.Result.Victims {
				v := &c.Result.Victims[j]
				key := c.Attacker + " → " + v.Name
				if _, ok := byPair[key]; !ok {
					pairs = append(pairs, key)
				}
				if v.ASROnCorrect.Den > 0 {
					byPair[key] = append(byPair[key], point{c.Eps, v.ASROnCorrect})
				} else if byPair[key] == nil {
					byPair[key] = []point{}
				}
				if v.Control != nil && v.Control.ASROnCorrect.Den > 0 {
					pairControl[key] = append(pairControl[key], point{c.Eps, v.Control.ASROnCorrect})
				}
				if v.Control != nil && !v.WhiteBox {
					a := ctl[c.Eps]
					if a == nil {
						a = &acc{}
						ctl[c.Eps] = a
					}
					a.num += v.Control.ASROnCorrect.Num
					a.den += v.Control.ASROnCorrect.Den
				}
			}
		}
		toSeries := func(name string, pts []point, col colorIndex) series {
			sort.Slice(pts, func(i, j int) bool { return pts[i].eps < pts[j].eps })
			s := series{name: name, color: col.color, glyph: col.glyph}
			for _, p := range pts {
				s.x = append(s.x, p.eps)
				s.y = append(s.y, 100*p.rate.Value)
				s.lo = append(s.lo, 100*p.rate.Lo95)
				s.hi = append(s.hi, 100*p.rate.Hi95)
			}
			return s
		}
		var control []point
		for e, a := range ctl {
			if a.den > 0 {
				control = append(control, point{e, metrics.NewRate(a.num, a.den)})
			}
		}
		var ss []series
		for i, c := range caseOrder {
			if pts := byCase[c]; len(pts) > 0 {
				s := toSeries(shortCase(c)+" · "+caseMeaning[c], pts, colorIndex{caseColors[c], glyphShapes[i%len(glyphShapes)]})
				s.dashed = c == "C1-white-box"
				ss = append(ss, s)
			}
		}
		if len(control) > 0 {
			s := toSeries("noise control (black-box pairs pooled)", control, colorIndex{mutedColor, nil})
			s.dashed, s.noBand, s.thinLine = true, true, true
			ss = append(ss, s)
		}
		title := fmt.Sprintf("%s: ASR on correct vs ε, by DUMB case", line)
		svg, err := curveSVG(title, xLabel, ss, nil)
		if err != nil {
			return nil, err
		}
		figs = append(figs, htmlFigure{ID: fmt.Sprintf("curve-%d", len(figs)), Kind: "curve", Title: title, SVG: svg,
			Caption: "Lines: ASR on correct pooled over each case's attacker/victim pairs at each ε; bands: its 95% Wilson interval. " +
				"Dashed grey: the same victims on random noise of the same size, black-box pairs pooled."})
		if len(pairs) <= maxPairCurves {
			ss = nil
			hasControl := false
			for i, k := range pairs {
				if len(byPair[k]) == 0 {
					continue
				}
				col := colorIndex{seriesColors[i%len(seriesColors)], glyphShapes[i%len(glyphShapes)]}
				ss = append(ss, toSeries(k, byPair[k], col))
				if len(pairControl[k]) > 0 {
					s := toSeries("", pairControl[k], colorIndex{col.color, nil})
					s.dashed, s.noBand, s.thinLine = true, true, true
					ss = append(ss, s)
					hasControl = true
				}
			}
			var extra []legendItem
			if hasControl {
				extra = append(extra, legendItem{"dashed, same colour: the pair's noise control", []plot.Thumbnailer{dashedThumb()}})
			}
			title := fmt.Sprintf("%s: ASR on correct vs ε, by attacker → victim", line)
			svg, err := curveSVG(title, xLabel, ss, extra)
			if err != nil {
				return nil, err
			}
			figs = append(figs, htmlFigure{ID: fmt.Sprintf("curve-%d", len(figs)), Kind: "curve", Title: title, SVG: svg,
				Caption: "Lines: each pair's ASR on correct; bands: its 95% Wilson interval. Dashed, in the pair's colour: the victim on random noise of the same size, on the same images."})
		}
	}
	return figs, nil
}

func normName(n string) string {
	switch n {
	case "linf", "":
		return "L∞"
	case "l2":
		return "L2"
	}
	return n
}

func runProvenance(r *ScenarioResult) []keyValue {
	kv := []keyValue{
		{"tool version", r.ToolVersion},
		{"results schema", r.Schema},
		{"started at", r.StartedAt},
		{"scenario", r.Scenario.Name},
		{"scenario file", r.Scenario.Path},
		{"scenario sha256", r.Scenario.SHA256},
		{"seed", strconv.FormatUint(r.Seed, 10)},
		{"images per source", fmt.Sprintf("%d (%s)", r.Limit, r.Sample)},
		{"batch", strconv.Itoa(r.Batch)},
		{"matrix", r.Matrix},
		{"noise control", yesNo(r.Control)},
		{"cells", fmt.Sprintf("%d of %d planned", len(r.Cells), r.CellsPlanned)},
	}
	if r.Shard != nil {
		kv = append(kv, keyValue{"shard", fmt.Sprintf("%d of %d (cells i with i mod %d = %d)", r.Shard.Index, r.Shard.Count, r.Shard.Count, r.Shard.Index)})
	}
	kv = append(kv, keyValue{"wall time", fmt.Sprintf("%.1f s", r.WallSeconds)})
	return kv
}

// attackLines lists each attack line's settings over its cells.
func attackLines(r *ScenarioResult) []htmlAttackLine {
	var order []string
	byLine := map[string][]*Cell{}
	for i := range r.Cells {
		c := &r.Cells[i]
		if _, ok := byLine[c.Attack]; !ok {
			order = append(order, c.Attack)
		}
		byLine[c.Attack] = append(byLine[c.Attack], c)
	}
	var out []htmlAttackLine
	for _, name := range order {
		cells := byLine[name]
		first := &cells[0].Result
		l := htmlAttackLine{Name: name, Attack: first.Attack, Summary: first.Summary, Cells: len(cells)}
		vals := map[string][]string{}
		var keys []string
		add := func(k, v string) {
			if _, ok := vals[k]; !ok {
				keys = append(keys, k)
			}
			for _, x := range vals[k] {
				if x == v {
					return
				}
			}
			vals[k] = append(vals[k], v)
		}
		num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
		for _, c := range cells {
			p := &c.Result.Params
			add("norm", normName(p.Norm))
			add("ε", num(p.Eps))
			add("steps", strconv.Itoa(p.Steps))
			add("step size α", num(p.Alpha))
			add("momentum", num(p.Momentum))
			add("targeted", p.Targeted)
			add("ensemble fusion", p.Fusion)
			add("attack seed", strconv.FormatUint(p.Seed, 10))
			add("batch seeds", c.Result.BatchSeedRule)
			add("batch size", strconv.Itoa(c.Result.BatchSize))
			for _, k := range sortedKeys(p.Extra) {
				add(k, num(p.Extra[k]))
			}
			for _, k := range sortedKeys(p.Derived) {
				add(k+" (derived)", num(p.Derived[k]))
			}
			add("given explicitly", strings.Join(p.Given, ", "))
			if s := c.Result.StrengthSelection; s != nil {
				add("strength selection", fmt.Sprintf("%s over %s with mean SSIM > %g", s.Param, joinFloats(s.Grid), s.SSIMMin))
				add("selected "+s.Param, fmt.Sprintf("%s: %g", c.Attacker, s.Chosen))
			}
			if len(c.Members) > 0 {
				add("ensemble "+c.Attacker, strings.Join(c.Members, ", "))
			}
		}
		for _, k := range keys {
			l.Params = append(l.Params, keyValue{k, summarizeValues(vals[k])})
		}
		out = append(out, l)
	}
	return out
}

// attackTable puts the attack lines side by side: a row per setting, "–"
// where a line has no such setting.
func attackTable(lines []htmlAttackLine) htmlTable {
	t := htmlTable{Header: []string{"setting"}}
	var keys []string
	vals := make([]map[string]string, len(lines))
	for i, l := range lines {
		t.Header = append(t.Header, l.Name)
		vals[i] = map[string]string{}
		for _, kv := range l.Params {
			if _, ok := vals[0][kv.Key]; !ok && !contains(keys, kv.Key) {
				keys = append(keys, kv.Key)
			}
			vals[i][kv.Key] = kv.Value
		}
	}
	row := func(k string, f func(l htmlAttackLine) string) {
		r := []string{k}
		for _, l := range lines {
			r = append(r, f(l))
		}
		t.Rows = append(t.Rows, r)
	}
	row("attack", func(l htmlAttackLine) string {
		if l.Summary != "" {
			return l.Attack + ": " + l.Summary
		}
		return l.Attack
	})
	row("cells", func(l htmlAttackLine) string { return strconv.Itoa(l.Cells) })
	for _, k := range keys {
		r := []string{k}
		for i := range lines {
			v, ok := vals[i][k]
			if !ok {
				v = "–"
			}
			r = append(r, v)
		}
		t.Rows = append(t.Rows, r)
	}
	return t
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func joinFloats(fs []float64) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return "{" + strings.Join(s, ", ") + "}"
}

// summarizeValues joins a setting's distinct values, numbers in order.
func summarizeValues(vs []string) string {
	if len(vs) == 1 {
		return vs[0]
	}
	numeric := true
	fs := make([]float64, len(vs))
	for i, v := range vs {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) {
			numeric = false
			break
		}
		fs[i] = f
	}
	if numeric {
		sort.Float64s(fs)
		for i, f := range fs {
			vs[i] = strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return strings.Join(vs, "; ")
}
