package scenarios

import (
	"bytes"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/report"
)

const compareScenario = `name: compare
seed: 1
limit: 40
batch: 20
sources:
  mnist: mnist:test
models:
  - {name: a, file: "zoo:digits/mnist_lenet_b50", source: mnist, arch: lenet, balance: "50/50"}
  - {name: b, file: "zoo:digits/mnist_lenet_b20", source: mnist, arch: lenet, balance: "20/80"}
  - {name: c, file: "zoo:digits/mnist_mlp_b50", source: mnist, arch: mlp, balance: "50/50"}
budget: {eps: 0.1, steps: 2, alpha: 0.05}
attacks:
  - attack: ifgsm
control: false
compare:
  - {model: a, baseline: [b, c]}
  - {model: b, baseline: a}
`

func TestCompareParse(t *testing.T) {
	f, err := Parse("c.yaml", []byte(compareScenario))
	if err != nil {
		t.Fatal(err)
	}
	if got := comparePairs(f); len(got) != 3 || got[1] != (report.ComparePair{Model: "a", Baseline: "c"}) {
		t.Errorf("pairs %v", got)
	}
	for _, tc := range []struct{ edit, want string }{
		{"  - {model: a, baseline: [a]}", "compared with itself"},
		{"  - {model: a, baseline: z}", `unknown model "z"`},
		{"  - {model: a}", "give a model and its baseline"},
		{"  - {model: a, baseline: []}", "an empty list"},
		{"  - {model: a, baseline: [b, b]}", "asked for twice"},
		{"  - {model: a, baseline: b, colour: red}", `unknown key "colour"`},
	} {
		text := strings.Replace(compareScenario, "  - {model: b, baseline: a}", tc.edit, 1)
		if _, err := Parse("c.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.edit, err, tc.want)
		}
	}
	notBoth := compareScenario + "victims: [a, c]\n"
	if _, err := Parse("c.yaml", []byte(notBoth)); err == nil || !strings.Contains(err.Error(), "never victims of the same cell") {
		t.Errorf("victims without b: %v", err)
	}
	pairs := strings.Replace(compareScenario, "control: false", "control: false\nmatrix: pairs\npairs:\n  - {attacker: c, victims: [a, b]}", 1)
	pairs = strings.Replace(pairs, "[b, c]", "[b]", 1)
	if _, err := Parse("c.yaml", []byte(pairs)); err != nil {
		t.Errorf("pairs with both victims: %v", err)
	}
	if _, err := Parse("c.yaml", []byte(strings.Replace(pairs, "victims: [a, b]", "victims: [a]", 1))); err == nil {
		t.Error("pairs never evaluating b accepted")
	}
}

// outcomes packs per-image correctness as a victim's result.
func victim(name string, clean, adv []bool) report.VictimResult {
	return report.VictimResult{Name: name, Outcomes: &report.Outcomes{N: len(clean), Clean: report.PackBits(clean), Adv: report.PackBits(adv)}}
}

// A hand-counted comparison: Δ over the images both get right, per
// attacker and pooled; white-box cells left out.
func TestCompareAllCounts(t *testing.T) {
	T, F := true, false
	res := &report.ScenarioResult{Compare: []report.ComparePair{{Model: "m", Baseline: "b"}}}
	res.Cells = []report.Cell{
		{Index: 0, Attacker: "x", Attack: "ifgsm", Eps: 0.1, Result: report.AttackResult{Victims: []report.VictimResult{
			// images:      0  1  2  3  4  5
			victim("m", []bool{T, T, T, T, F, T}, []bool{F, F, T, T, F, T}),
			victim("b", []bool{T, T, T, F, T, T}, []bool{F, T, T, F, T, F}),
		}}},
		{Index: 1, Attacker: "y", Attack: "ifgsm", Eps: 0.1, Result: report.AttackResult{Victims: []report.VictimResult{
			victim("m", []bool{T, T}, []bool{F, F}),
			victim("b", []bool{T, T}, []bool{T, T}),
		}}},
		{Index: 2, Attacker: "m", Attack: "ifgsm", Eps: 0.1, Result: report.AttackResult{Victims: []report.VictimResult{
			func() report.VictimResult { v := victim("m", []bool{T}, []bool{F}); v.WhiteBox = true; return v }(),
			victim("b", []bool{T}, []bool{T}),
		}}},
	}
	cs, err := compareAll(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 || cs[0].Attacker != "" || cs[1].Attacker != "x" || cs[2].Attacker != "y" {
		t.Fatalf("%+v", cs)
	}
	// Cell x: both clean-correct on 0, 1, 2, 5. Fooled m: 0, 1; fooled b:
	// 0, 5. Both 1 (image 0), m only 1 (image 1), b only 1 (image 5).
	x := cs[1]
	if x.Delta.N != 4 || x.Delta.Both != 1 || x.Delta.FirstOnly != 1 || x.Delta.SecondOnly != 1 || x.Delta.Value != 0 || x.DeltaP != 1 {
		t.Errorf("cell x: %+v", x.Delta)
	}
	// Own denominators: m gets 0,1,2,3,5 right and is fooled on 0,1 (2/5);
	// b gets 0,1,2,4,5 right and is fooled on 0,5 (2/5).
	if x.ModelASR.Num != 2 || x.ModelASR.Den != 5 || x.BaselineASR.Num != 2 || x.BaselineASR.Den != 5 {
		t.Errorf("cell x ASRs %+v %+v", x.ModelASR, x.BaselineASR)
	}
	// Clean accuracy: m right and b wrong on 3, the reverse on 4.
	if x.CleanDelta.FirstOnly != 1 || x.CleanDelta.SecondOnly != 1 || x.CleanDelta.N != 6 {
		t.Errorf("cell x clean %+v", x.CleanDelta)
	}
	// Pooled: cell y adds two images fooling m only.
	p := cs[0]
	if p.Attackers != 2 || p.Delta.N != 6 || p.Delta.FirstOnly != 3 || p.Delta.SecondOnly != 1 || p.ModelASR.Num != 4 || p.ModelASR.Den != 7 {
		t.Errorf("pooled %+v", p)
	}
	if p.Delta.Value != 2.0/6 {
		t.Errorf("pooled Δ %v", p.Delta.Value)
	}
	var buf bytes.Buffer
	if err := report.WriteComparisonsText(&buf, cs); err != nil || !strings.Contains(buf.String(), "+33.33 pp") {
		t.Errorf("text %v:\n%s", err, buf.String())
	}
}

// A scenario with compare: runs and reports the comparisons, the same
// after merging shards.
func TestCompareRun(t *testing.T) {
	if testing.Short() {
		t.Skip("crafts on the embedded zoo")
	}
	plan := tinyPlan(t, compareScenario)
	res, err := (&Runner{Plan: plan}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Attackers a, b, c; a–b comparisons come from c's cell only, a–c
	// from b's.
	byPair := map[report.ComparePair][]report.Comparison{}
	for _, c := range res.Comparisons {
		p := report.ComparePair{Model: c.Model, Baseline: c.Baseline}
		byPair[p] = append(byPair[p], c)
	}
	ab := byPair[report.ComparePair{Model: "a", Baseline: "b"}]
	if len(ab) != 2 || ab[0].Attackers != 1 || ab[1].Attacker != "c" || ab[0].Delta != ab[1].Delta {
		t.Fatalf("a vs b: %+v", ab)
	}
	ba := byPair[report.ComparePair{Model: "b", Baseline: "a"}]
	if len(ba) != 2 || ba[0].Delta.FirstOnly != ab[0].Delta.SecondOnly || ba[0].Delta.Value != -ab[0].Delta.Value {
		t.Errorf("b vs a is not a vs b mirrored: %+v", ba)
	}
	parts := make([]*report.ScenarioResult, 2)
	for i := range parts {
		if parts[i], err = (&Runner{Plan: plan, Shard: report.Shard{Index: i, Count: 2}}).Run(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	merged, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Comparisons) != len(res.Comparisons) || merged.Comparisons[0] != res.Comparisons[0] {
		t.Errorf("merged shards compare differently")
	}
}

// Two pool entries with the same file are two victims, named as the
// scenario names them, even when the second is read from the cache the
// first filled; compared, they differ by nothing.
func TestSameFileVictims(t *testing.T) {
	if testing.Short() {
		t.Skip("crafts on the embedded zoo")
	}
	text := strings.Replace(compareScenario, "  - {name: c,", `  - {name: copy, file: "zoo:digits/mnist_lenet_b50", source: mnist, arch: lenet, balance: "50/50"}
  - {name: c,`, 1)
	text = strings.Replace(text, "  - {model: b, baseline: a}", "  - {model: copy, baseline: a}", 1)
	cache, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Runner{Plan: tinyPlan(t, text), Cache: cache}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cells {
		var names []string
		for _, v := range c.Result.Victims {
			names = append(names, v.Name)
			if v.WhiteBox != (v.Name == c.Attacker) {
				t.Errorf("cell %s: victim %s white-box %v", c.Attacker, v.Name, v.WhiteBox)
			}
		}
		if strings.Join(names, ",") != "a,b,copy,c" {
			t.Fatalf("cell %s victims %v", c.Attacker, names)
		}
	}
	found := false
	for _, c := range res.Comparisons {
		if c.Model == "copy" {
			found = true
			if c.Delta.FirstOnly != 0 || c.Delta.SecondOnly != 0 || c.CleanDelta.Value != 0 || c.DeltaP != 1 {
				t.Errorf("a copy differs from its original: %+v", c)
			}
		}
	}
	if !found {
		t.Error("no comparison of the copy")
	}
}
