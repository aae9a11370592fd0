package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/provenance"
)

// htmlFixture is a scenario result made up for the HTML tests: n models
// over two sources, three architectures and two class balances, attacked
// by every model (so an n×n matrix per attack and ε, with white-box
// diagonals and every DUMB case) with an I-FGSM line at each of eps and a
// noise line whose strength was selected per attacker; one pair had no
// image the victim got right (a grey cell). The rates are made up but
// consistent (pooled summaries, Wilson intervals).
func htmlFixture(n int, eps []float64) *ScenarioResult {
	archs := []string{"mlp", "lenet", "mobilenet"}
	balances := []string{"50/50", "20/80"}
	r := &ScenarioResult{
		Schema: SchemaVersion, Kind: "scenario", ToolVersion: "0.0.0-test", StartedAt: "2026-01-02T03:04:05Z",
		Scenario: ScenarioRef{Name: "fixture <matrix> & curve", Description: `made up for tests; <script>alert("x")</script> must stay text`,
			File: provenance.File{Path: "testdata/fixture.yaml", SHA256: strings.Repeat("ab", 32)}},
		Seed: 7, Limit: 100, Sample: "first", Batch: 64, Matrix: "dumb", Control: true,
		Warnings: []string{"cell 3: a <b>made-up</b> warning & its ampersand"},
	}
	for i, s := range []string{"mnist", "syndigits"} {
		r.Sources = append(r.Sources, SourceRef{Name: s, Data: DataRef{Spec: s + ":test", N: 100, Shape: [3]int{1, 28, 28}, Limit: 100, Sample: "first",
			Sources: []provenance.File{{Path: fmt.Sprintf("embedded:%s.gz", s), SHA256: strings.Repeat(fmt.Sprintf("%x", i+1), 64)}}}})
	}
	for i := range n {
		src := r.Sources[i%2].Name
		m := PoolModel{Name: fmt.Sprintf("%s_%s_b%d", src, archs[(i/2)%3], 50-10*(i/6)), Source: src, Arch: archs[(i/2)%3], Balance: balances[(i/6)%2]}
		m.Path = "zoo:" + m.Name
		m.SHA256 = fmt.Sprintf("%064x", i+1)
		m.Opset, m.Parameters, m.Classes, m.InputShape = 13, 1000*(i+1), 10, []int{1, 1, 28, 28}
		r.Models = append(r.Models, m)
	}
	dumbCase := func(a, v PoolModel) string {
		c := 1
		if a.Balance != v.Balance {
			c++
		}
		if a.Arch != v.Arch {
			c += 2
		}
		if a.Source != v.Source {
			c += 4
		}
		return fmt.Sprintf("C%d", c)
	}
	type line struct {
		name, attack string
		eps          float64
		selected     bool
	}
	var lines []line
	for _, e := range eps {
		lines = append(lines, line{"ifgsm", "ifgsm", e, false})
	}
	lines = append(lines, line{"noise", "gaussnoise", 0, true})
	for li, l := range lines {
		for ai, a := range r.Models {
			c := Cell{Index: len(r.Cells), Key: fmt.Sprintf("%064x", 1000+len(r.Cells)), Attacker: a.Name, Source: a.Source, Arch: a.Arch, Balance: a.Balance,
				Attack: l.name, Eps: l.eps, Budget: Budget{Norm: "linf", Eps: l.eps, Steps: 10, Alpha: 0.01}}
			c.Result = AttackResult{Schema: SchemaVersion, Attack: l.attack, Summary: "made-up " + l.attack, Norm: "linf", Eps: l.eps, Seed: 7,
				BatchSeedRule: "test", BatchSize: 64, N: 100,
				Params: AttackParams{Eps: l.eps, Alpha: 0.01, Steps: 10, Norm: "linf", Targeted: "none", Fusion: "logits", Seed: 7,
					Extra: map[string]float64{"di_prob": 0}, Given: []string{"eps"}}}
			if l.selected {
				sigma := 0.05 * float64(1+ai%3)
				c.Result.Params.Extra = map[string]float64{"sigma": sigma}
				c.Result.StrengthSelection = &StrengthSelection{Param: "sigma", SSIMMin: 0.4, Grid: []float64{0.05, 0.1, 0.15}, Chosen: sigma}
			}
			for vi, v := range r.Models {
				vr := VictimResult{Name: v.Name, Case: dumbCase(a, v), WhiteBox: ai == vi}
				vr.Model.Path, vr.Model.SHA256 = v.Path, v.SHA256
				correct := 90 - (ai+vi)%7
				if li == 0 && ai == 1 && vi == 0 {
					correct = 0
				}
				// Fooled share grows with ε, is highest white-box and
				// lower across data sources.
				p := 0.15 + 0.3*float64(li)/float64(len(lines))
				if vr.WhiteBox {
					p = 0.9
				} else if a.Source != v.Source {
					p *= 0.6
				}
				p += 0.02 * float64((ai*7+vi*3)%5)
				fooled := int(math.Round(p * float64(correct)))
				ctl := min(fooled, int(math.Round(0.08*float64(correct))))
				vr.CleanAccuracy = metrics.NewRate(correct, 100)
				vr.AdvAccuracy = metrics.NewRate(correct-fooled, 100)
				vr.ASRAll = metrics.NewRate(100-correct+fooled, 100)
				vr.ASROnCorrect = metrics.NewRate(fooled, correct)
				cs := metrics.Scores{CleanAccuracy: vr.CleanAccuracy, ASROnCorrect: metrics.NewRate(ctl, correct)}
				vr.Control = &cs
				if correct > 0 {
					d := float64(fooled-ctl) / float64(correct)
					vr.Excess = &metrics.PairedDiff{N: correct, Both: ctl, FirstOnly: fooled - ctl, Value: d, Lo95: d - 0.08, Hi95: min(1, d+0.08)}
					vr.NoiseLevel = vr.Excess.Lo95 <= 0
				}
				c.Result.Victims = append(c.Result.Victims, vr)
			}
			r.Cells = append(r.Cells, c)
		}
	}
	r.CellsPlanned = len(r.Cells)
	summarizeFixture(r)
	return r
}

// summarizeFixture fills in Summary and Matrices as the scenario runner
// does (scenarios.Summarize), in miniature.
func summarizeFixture(r *ScenarioResult) {
	for _, g := range cellGroups(r) {
		byCase := map[string][]*VictimResult{}
		m := TransferMatrix{Attack: g.attack, Eps: g.eps}
		for _, c := range g.cells {
			m.Attackers = append(m.Attackers, c.Attacker)
			var asr, ex []*float64
			var cases []string
			for j := range c.Result.Victims {
				v := &c.Result.Victims[j]
				if len(m.Attackers) == 1 {
					m.Victims = append(m.Victims, v.Name)
				}
				byCase[caseName(v)] = append(byCase[caseName(v)], v)
				var a, e *float64
				if v.ASROnCorrect.Den > 0 {
					x := v.ASROnCorrect.Value
					a = &x
				}
				if v.Excess != nil {
					y := v.Excess.Value
					e = &y
				}
				cs := v.Case
				if v.WhiteBox {
					cs += "*"
				}
				asr, ex, cases = append(asr, a), append(ex, e), append(cases, cs)
			}
			m.ASR, m.Excess, m.Cases = append(m.ASR, asr), append(m.Excess, ex), append(m.Cases, cases)
		}
		r.Matrices = append(r.Matrices, m)
		for _, name := range caseOrder {
			vs := byCase[name]
			if len(vs) == 0 {
				continue
			}
			s := CaseSummary{Attack: g.attack, Eps: g.eps, StrengthSelected: g.selected, Case: name, Pairs: len(vs)}
			var num, den, k int
			var sum, exSum float64
			for _, v := range vs {
				num += v.ASROnCorrect.Num
				den += v.ASROnCorrect.Den
				if v.ASROnCorrect.Den > 0 {
					sum += v.ASROnCorrect.Value
					k++
				}
				if v.Excess != nil {
					exSum += v.Excess.Value
				}
				if v.NoiseLevel {
					s.NoiseLevelPairs++
				}
			}
			s.MeanASR = sum / float64(max(k, 1))
			s.Pooled = metrics.NewRate(num, den)
			me := exSum / float64(len(vs))
			s.MeanExcess = &me
			r.Summary = append(r.Summary, s)
		}
	}
}

func renderHTML(t testing.TB, r *ScenarioResult) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteScenarioHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// externalRef finds attributes and style rules that would make a browser
// fetch something: any src, a non-fragment href, CSS url() or @import.
var (
	attrRef   = regexp.MustCompile(`(?i)\s(src|srcset|href|xlink:href|action|formaction|poster|background|data)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
	cssImport = regexp.MustCompile(`(?i)url\(|@import`)
	netURL    = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9]`)
)

// checkSelfContained fails when the page refers to anything outside it.
func checkSelfContained(t *testing.T, page []byte) {
	t.Helper()
	s := string(page)
	for _, m := range attrRef.FindAllStringSubmatch(s, -1) {
		val := strings.Trim(m[2], `"'`)
		switch {
		case strings.EqualFold(m[1], "href") && strings.HasPrefix(val, "#"):
		case strings.EqualFold(m[1], "xlink:href") && strings.HasPrefix(val, "data:image/png;base64,"):
		default:
			t.Errorf("page refers outside itself: %s=%.80q", m[1], val)
		}
	}
	if loc := cssImport.FindStringIndex(s); loc != nil {
		t.Errorf("page loads through CSS: %.80q", s[loc[0]:])
	}
	for _, tag := range []string{"<script", "<link", "<iframe", "<object", "<embed", "<img", "<base"} {
		if strings.Contains(strings.ToLower(s), tag) {
			t.Errorf("page has a %s> element", tag)
		}
	}
	// Outside of text, no http(s) URL at all (the scenario's own texts may
	// mention one, escaped, but the fixture does not).
	if loc := netURL.FindStringIndex(s); loc != nil {
		t.Errorf("page holds a network URL: %.80q", s[max(0, loc[0]-40):])
	}
}

// checkWellFormed parses the page as XML (the template and gonum's SVG are
// written so that it is): every element closed and properly nested, every
// attribute quoted, every entity known.
func checkWellFormed(t *testing.T, page []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	var stack []string
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page is not well-formed: %v (open: %v)", err, stack)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			} else if len(stack) == 0 {
				t.Fatalf("second root element <%s>", e.Name.Local)
			}
			stack = append(stack, e.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root != "html" || len(stack) != 0 {
		t.Fatalf("root <%s>, unclosed %v", root, stack)
	}
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) {
		t.Error("page does not start with <!DOCTYPE html>")
	}
}

// figures returns the page's <figure> elements of a kind, each as text.
func figures(page []byte, kind string) []string {
	s := string(page)
	var out []string
	mark := `data-kind="` + kind + `"`
	for {
		i := strings.Index(s, mark)
		if i < 0 {
			return out
		}
		j := strings.Index(s[i:], "</figure>")
		out = append(out, s[i:i+j])
		s = s[i+j:]
	}
}

func TestScenarioHTML(t *testing.T) {
	r := htmlFixture(18, []float64{0.05, 0.1, 0.2})
	page := renderHTML(t, r)
	checkWellFormed(t, page)
	checkSelfContained(t, page)

	// One heat map per matrix, each an SVG with a filled path and two
	// labels (value, case) per cell; white-box cells marked.
	hms := figures(page, "heatmap")
	if len(hms) != len(r.Matrices) {
		t.Fatalf("%d heat maps for %d matrices", len(hms), len(r.Matrices))
	}
	for i, f := range hms {
		m := r.Matrices[i]
		cells := len(m.Attackers) * len(m.Victims)
		if n := strings.Count(f, "<svg"); n != 1 {
			t.Errorf("heat map %d: %d <svg> elements", i, n)
		}
		if n := strings.Count(f, "<path"); n < cells {
			t.Errorf("heat map %d: %d paths for %d cells", i, n, cells)
		}
		if n := strings.Count(f, ">C1*</text>"); n != len(m.Attackers) {
			t.Errorf("heat map %d: %d white-box cells marked, want %d", i, n, len(m.Attackers))
		}
		for _, c := range []string{">C2</text>", ">C8</text>", ">" + m.Victims[len(m.Victims)-1] + "</text>"} {
			if !strings.Contains(f, c) {
				t.Errorf("heat map %d: no %s", i, c)
			}
		}
	}
	// The pair with no correct image is a grey, dashed cell.
	if !strings.Contains(hms[0], ">–</text>") {
		t.Error("the pair without correct images is not marked")
	}
	// Bars per attack and ε, curves (by case and by pair… only by case
	// with 18 models) for the ε grid.
	if n, want := len(figures(page, "bars")), len(cellGroups(r)); n != want {
		t.Errorf("%d bar charts, want %d", n, want)
	}
	curves := figures(page, "curve")
	if len(curves) != 1 {
		t.Fatalf("%d curve plots, want 1 (by case; too many pairs for pair curves)", len(curves))
	}
	for _, want := range []string{"C1 white-box", "noise control", "ε (L∞)"} {
		if !strings.Contains(curves[0], want) {
			t.Errorf("curve plot has no %q", want)
		}
	}
	s := string(page)
	for _, want := range []string{
		"&lt;script&gt;alert(", "a &lt;b&gt;made-up&lt;/b&gt; warning &amp; its ampersand", // escaped, not markup
		r.Scenario.SHA256, r.Models[17].SHA256, r.Sources[1].Data.Sources[0].SHA256, // provenance
		"0.0.0-test", "selected sigma", "sigma over {0.05, 0.1, 0.15} with mean SSIM &gt; 0.4",
		`http-equiv="Content-Security-Policy"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page has no %q", want)
		}
	}
	// Rendering is deterministic.
	if !bytes.Equal(page, renderHTML(t, r)) {
		t.Error("two renderings differ")
	}
}

// TestScenarioHTMLSmall covers a one-attacker scenario: pair curves, small
// heat maps, no noise control, no warnings.
func TestScenarioHTMLSmall(t *testing.T) {
	r := htmlFixture(3, []float64{0.1, 0.3})
	r.Warnings = nil
	for i := range r.Cells {
		for j := range r.Cells[i].Result.Victims {
			v := &r.Cells[i].Result.Victims[j]
			v.Control, v.Excess, v.NoiseLevel = nil, nil, false
		}
	}
	r.Summary, r.Matrices = nil, nil
	summarizeFixture(r)
	for i := range r.Summary {
		r.Summary[i].MeanExcess = nil
	}
	page := renderHTML(t, r)
	checkWellFormed(t, page)
	checkSelfContained(t, page)
	if n := len(figures(page, "heatmap")); n != 3 {
		t.Errorf("%d heat maps, want 3", n)
	}
	curves := figures(page, "curve")
	if len(curves) != 2 || !strings.Contains(curves[1], "→") {
		t.Errorf("%d curve plots, want by case and by pair", len(curves))
	}
	if strings.Contains(string(page), `id="warnings"`) || strings.Contains(curves[0], "noise control") {
		t.Error("warnings or noise control shown where there are none")
	}
}

// TestScenarioHTMLEmpty: results without cells still render.
func TestScenarioHTMLEmpty(t *testing.T) {
	r := &ScenarioResult{Schema: SchemaVersion, Kind: "scenario", Scenario: ScenarioRef{Name: "empty"}}
	page := renderHTML(t, r)
	checkWellFormed(t, page)
	checkSelfContained(t, page)
	if !strings.Contains(string(page), "No transfer matrices") {
		t.Error("no note for the missing matrices")
	}
}

// TestScenarioHTMLBadMatrix: a matrix whose tables do not fit its names is
// an error, not a panic.
func TestScenarioHTMLBadMatrix(t *testing.T) {
	r := htmlFixture(3, []float64{0.1})
	r.Matrices[0].Cases = r.Matrices[0].Cases[:2]
	err := WriteScenarioHTML(io.Discard, r)
	if err == nil || !strings.Contains(err.Error(), "do not have 3 rows of 3") {
		t.Fatalf("got %v", err)
	}
}
