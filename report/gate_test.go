package report

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/metrics"
)

// victim makes a victim result with its ASR on correct fooled/correct over
// n images, and a noise control fooling noise of the same correct images.
func victim(name, cse string, white bool, fooled, correct, n, noise int) VictimResult {
	clean, adv, ctrl := make([]bool, n), make([]bool, n), make([]bool, n)
	for i := 0; i < correct; i++ {
		clean[i] = true
		adv[i] = i >= fooled
		ctrl[i] = i >= noise
	}
	s := Scores(clean, adv)
	ex, _ := metrics.NewPairedDiff(not(adv), not(ctrl), clean)
	return VictimResult{Name: name, Scores: s, Case: cse, WhiteBox: white, Excess: &ex,
		Outcomes: &Outcomes{N: n, Clean: PackBits(clean), Adv: PackBits(adv), Control: PackBits(ctrl)}}
}

func not(b []bool) []bool {
	out := make([]bool, len(b))
	for i, v := range b {
		out[i] = !v
	}
	return out
}

// Scores scores a victim from per-image correctness (label 0, one-hot
// logits).
func Scores(clean, adv []bool) metrics.Scores {
	z := func(ok []bool) []float32 {
		out := make([]float32, 2*len(ok))
		for i, v := range ok {
			if v {
				out[2*i] = 1
			} else {
				out[2*i+1] = 1
			}
		}
		return out
	}
	s, err := metrics.ScoreVictim(z(clean), z(adv), make([]int, len(clean)), nil, 2)
	if err != nil {
		panic(err)
	}
	return s
}

func handResults() *ScenarioResult {
	return &ScenarioResult{Schema: SchemaVersion, Kind: "scenario",
		Models: []PoolModel{{Name: "v1", Tags: []string{"release"}}, {Name: "v2"}},
		Cells: []Cell{
			{Index: 0, Attacker: "a", Attack: "ifgsm", Eps: 0.1, ExamplesSHA256: "e0", Result: AttackResult{Victims: []VictimResult{
				victim("v1", "C3", false, 50, 100, 120, 10), // 50% (40.4–59.6%)
				victim("v2", "C3", false, 58, 100, 120, 55), // 58% (48.2–67.2%)
			}}},
			{Index: 1, Attacker: "b", Attack: "ifgsm", Eps: 0.1, ExamplesSHA256: "e1", Result: AttackResult{Victims: []VictimResult{
				victim("v1", "C7", false, 70, 100, 120, 5), // 70% (60.4–78.1%)
				victim("b", "C1", true, 95, 100, 120, 5),
			}}},
		}}
}

func policy(t *testing.T, text string) *Policy {
	t.Helper()
	p, err := ParsePolicy("p.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGateRules(t *testing.T) {
	res := handResults()
	for _, tc := range []struct {
		name, policy string
		pass         bool
		failing      []string
	}{
		{"max on the bound: only a clear violation fails", "rules: [{name: r, metric: asr_on_correct, max: 0.55, where: {white_box: false}}]",
			false, []string{"b → v1 (C7)"}}, // 58% has a lower bound of 48% < 55%: passes
		{"max on the estimate", "judge: estimate\nrules: [{name: r, metric: asr_on_correct, max: 0.55, where: {white_box: false}}]",
			false, []string{"a → v2 (C3)", "b → v1 (C7)"}},
		{"white-box pairs count unless where excludes them", "rules: [{name: r, metric: asr_on_correct, max: 0.8}]",
			false, []string{"b → b (C1) white-box"}},
		{"per case pools", "rules: [{name: r, metric: asr_on_correct, max: 0.5, per: case, where: {case: C3}}]",
			false, []string{"ifgsm ε 0.1 C3"}}, // 108/200 = 54% (47.1–60.8%): the lower bound is not above 50%... see below
		{"filters by tag", "rules: [{name: r, metric: asr_on_correct, max: 0.55, where: {tag: release, case: C3}}]", true, nil},
		{"min", "rules: [{name: r, metric: clean_accuracy, min: 0.9, per: victim}]", false, []string{"v1", "v2", "b"}},
		{"excess over noise", "rules: [{name: r, metric: excess, max: 0.2, where: {white_box: false}}]",
			false, []string{"a → v1 (C3)", "b → v1 (C7)"}},
		{"nothing matches", "rules: [{name: r, metric: asr_all, max: 0.1, where: {victim: nobody}}]", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Gate(policy(t, tc.policy), res, nil)
			if err != nil {
				t.Fatal(err)
			}
			var failing []string
			for _, c := range g.Rules[0].Groups {
				if !c.Passed {
					failing = append(failing, c.Group)
				}
			}
			if tc.name == "per case pools" {
				// 108/200 = 54%, Wilson 95% 47.1%–60.8%: on the bound it passes.
				if !g.Passed {
					t.Errorf("pooled C3 failed: %+v", g.Rules[0].Groups)
				}
				return
			}
			if g.Passed != tc.pass || len(failing) != len(tc.failing) {
				t.Fatalf("passed %v, failing %v; want %v, %v", g.Passed, failing, tc.pass, tc.failing)
			}
			for i, want := range tc.failing {
				if !strings.Contains(failing[i], want) {
					t.Errorf("failing group %q, want %q", failing[i], want)
				}
			}
		})
	}
}

// Regressions: an exact McNemar test on the same examples' per-image
// outcomes, refused when the examples differ.
func TestGateRegression(t *testing.T) {
	base := handResults()
	cur := handResults()
	// v2 under cell 0 is now fooled on 6 more images it resisted (0 better):
	// p = 2/2⁶ = 0.03125 < 0.05. v1 gets 5 worse: p = 0.0625, not enough.
	cur.Cells[0].Result.Victims[1] = victim("v2", "C3", false, 64, 100, 120, 55)
	cur.Cells[0].Result.Victims[0] = victim("v1", "C3", false, 55, 100, 120, 10)
	p := policy(t, "rules: [{name: reg, metric: adv_accuracy, regression: {alpha: 0.05}, where: {surrogate: a}}]")
	g, err := Gate(p, cur, base)
	if err != nil {
		t.Fatal(err)
	}
	if g.Passed {
		t.Fatal("a significant regression passed")
	}
	for _, c := range g.Rules[0].Groups {
		switch {
		case strings.Contains(c.Group, "v2"):
			if c.Passed || c.Worse != 6 || c.Better != 0 || c.PValue != 0.03125 {
				t.Errorf("v2: %+v", c)
			}
		case strings.Contains(c.Group, "v1"):
			if !c.Passed || c.Worse != 5 || c.PValue != 0.0625 {
				t.Errorf("v1: %+v", c)
			}
		}
	}
	// Other examples: refused.
	cur.Cells[0].ExamplesSHA256 = "other"
	if _, err := Gate(p, cur, base); err == nil || !strings.Contains(err.Error(), "only valid on the same examples") {
		t.Errorf("different examples: %v", err)
	}
	if _, err := Gate(p, cur, nil); err == nil || !strings.Contains(err.Error(), "--baseline") {
		t.Errorf("no baseline: %v", err)
	}
}

func TestPolicyErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"rules: [{name: r, metric: asr, max: 0.1}]", `p.yaml:1: rule "r": metric "asr"`},
		{"rules:\n  - name: r\n    metric: asr_all\n    maxx: 0.1\n", `p.yaml:4: unknown key "maxx" in rules[0]`},
		{"rules: [{name: r, metric: asr_all}]", "needs max, min or regression"},
		{"rules: [{name: r, metric: asr_all, max: 2}]", "outside"},
		{"rules: [{name: r, metric: asr_all, max: 0.1}, {name: r, metric: asr_all, max: 0.2}]", "used twice"},
		{"rules: [{name: r, metric: asr_all, max: 0.1, where: {case: C9}}]", `case "C9"`},
		{"rules: [{name: r, metric: asr_all, max: 0.1, per: image}]", `per "image"`},
		{"rules: [{name: r, metric: asr_all, regression: {alpha: 0.05}}]", "adv_accuracy or clean_accuracy"},
		{"judge: maybe\nrules: [{name: r, metric: asr_all, max: 0.1}]", `judge "maybe"`},
		{"rules: []", "no rules"},
	} {
		if _, err := ParsePolicy("p.yaml", []byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestJUnitRoundTrip(t *testing.T) {
	g, err := Gate(policy(t, "rules: [{name: r, metric: asr_on_correct, max: 0.55, where: {white_box: false}}, {name: s, metric: asr_all, max: 1}]"), handResults(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, g); err != nil {
		t.Fatal(err)
	}
	tests, failures, names, err := ReadJUnit(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if tests != 3+4 || failures != 1 || !strings.HasPrefix(names[0], "r / ifgsm ε 0.1: a → v1") {
		t.Errorf("%d tests, %d failures, names %v", tests, failures, names)
	}
	var ann bytes.Buffer
	WriteGitHubAnnotations(&ann, g)
	if !strings.HasPrefix(ann.String(), "::error title=advmatrix gate: r::") || strings.Count(ann.String(), "::error") != 1 {
		t.Errorf("annotations %q", ann.String())
	}
}

func TestExamplePolicy(t *testing.T) {
	if _, err := ReadPolicy("../examples/gate.yaml"); err != nil {
		t.Fatal(err)
	}
}

// FuzzParsePolicy: arbitrary bytes give a policy or an error, never a
// panic; a parsed policy judges hand-made results without panicking.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("rules: [{name: r, metric: asr_on_correct, max: 0.55, where: {white_box: false}}]"))
	f.Add([]byte("judge: estimate\nrules:\n  - {name: r, metric: excess, max: 0.1, per: case}\n  - {name: s, metric: clean_accuracy, min: 0.9, per: victim, where: {case: [C1, C2], tag: x}}"))
	if b, err := os.ReadFile("../examples/gate.yaml"); err == nil {
		f.Add(b)
	}
	res := handResults()
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy("fuzz.yaml", b)
		if err != nil {
			return
		}
		_, _ = Gate(p, res, res)
	})
}
