package report

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/advmatrix/advmatrix/internal/safeio"
	"github.com/advmatrix/advmatrix/internal/yamlstrict"
	"github.com/advmatrix/advmatrix/metrics"
)

// Policy is a gate policy file: rules a scenario's results must satisfy
// for a release to pass. docs/gate.md explains the statistics.
type Policy struct {
	// Judge is how limits are compared with a measured rate by default:
	// "bound" (the 95% interval must lie beyond the limit for a rule to
	// fail — a max rule fails when the lower bound exceeds it) or
	// "estimate" (the rate itself). Default "bound".
	Judge string `yaml:"judge"`
	Rules []Rule `yaml:"rules"`
}

// Rule is one requirement.
type Rule struct {
	Name string `yaml:"name"`
	// Metric is asr_all, asr_on_correct, asr_ratio, clean_accuracy,
	// adv_accuracy or excess (asr_on_correct minus the noise control's).
	Metric string `yaml:"metric"`
	Where  Where  `yaml:"where"`
	// Max and Min are limits on the metric (one or both).
	Max *float64 `yaml:"max"`
	Min *float64 `yaml:"min"`
	// Per is what the limit applies to: "pair" (every matching attacker ×
	// victim pair, the default), "case" (each DUMB case's pairs pooled),
	// "victim" (each victim's pairs pooled) or "all" (every matching pair
	// pooled).
	Per string `yaml:"per"`
	// Judge overrides the policy's judge for this rule.
	Judge string `yaml:"judge"`
	// Regression, instead of limits, tests the metric (adv_accuracy or
	// clean_accuracy) of every matching victim against --baseline with an
	// exact McNemar test on the same images: the rule fails when a victim
	// got significantly worse (p < Alpha).
	Regression *Regression `yaml:"regression"`
	Line       int         `yaml:"-"`
}

// Regression is a baseline comparison's significance level.
type Regression struct {
	Alpha float64 `yaml:"alpha"`
}

// Where filters pairs; every key given must match. Lists match any of
// their values.
type Where struct {
	Case      Strings   `yaml:"case"`
	Attack    Strings   `yaml:"attack"`
	Victim    Strings   `yaml:"victim"`
	Surrogate Strings   `yaml:"surrogate"`
	Eps       []float64 `yaml:"eps"`
	// Tag matches pairs whose victim carries one of the tags.
	Tag Strings `yaml:"tag"`
	// WhiteBox, when given, keeps only white-box pairs (true) or only
	// black-box ones (false).
	WhiteBox *bool `yaml:"white_box"`
}

// Strings is one string or a list of strings.
type Strings []string

// UnmarshalStrict implements yamlstrict.Unmarshaler.
func (s *Strings) UnmarshalStrict(d *yamlstrict.Decoder, n *yaml.Node, path string) error {
	var v []string
	if n.Kind == yaml.ScalarNode {
		v = []string{n.Value}
	} else if err := d.Decode(n, reflectValueOf(&v), path); err != nil {
		return err
	}
	*s = v
	return nil
}

var metricNames = []string{"asr_all", "asr_on_correct", "asr_ratio", "clean_accuracy", "adv_accuracy", "excess"}

// ReadPolicy reads and checks a policy file.
func ReadPolicy(path string) (*Policy, error) {
	b, err := safeio.ReadFile(path, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return ParsePolicy(path, b)
}

// ParsePolicy decodes and checks a policy: every key known, metrics and
// limits valid, names unique. Errors name the file and line.
func ParsePolicy(file string, data []byte) (*Policy, error) {
	var p Policy
	if err := yamlstrict.Decode(file, data, &p); err != nil {
		return nil, err
	}
	at := func(line int, format string, args ...any) error {
		return &yamlstrict.FileError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if p.Judge != "" && p.Judge != "bound" && p.Judge != "estimate" {
		return nil, at(0, "judge %q: want bound or estimate", p.Judge)
	}
	if len(p.Rules) == 0 {
		return nil, at(0, "no rules")
	}
	names := map[string]bool{}
	for i, r := range p.Rules {
		what := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Name == "":
			return nil, at(r.Line, "%s has no name", what)
		case names[r.Name]:
			return nil, at(r.Line, "rule name %q is used twice", r.Name)
		case !slices.Contains(metricNames, r.Metric):
			return nil, at(r.Line, "rule %q: metric %q: want one of %s", r.Name, r.Metric, strings.Join(metricNames, ", "))
		case r.Judge != "" && r.Judge != "bound" && r.Judge != "estimate":
			return nil, at(r.Line, "rule %q: judge %q: want bound or estimate", r.Name, r.Judge)
		case r.Per != "" && !slices.Contains([]string{"pair", "case", "victim", "all"}, r.Per):
			return nil, at(r.Line, "rule %q: per %q: want pair, case, victim or all", r.Name, r.Per)
		}
		if r.Regression != nil {
			switch {
			case r.Max != nil || r.Min != nil:
				return nil, at(r.Line, "rule %q: a regression rule has no max or min", r.Name)
			case r.Metric != "adv_accuracy" && r.Metric != "clean_accuracy":
				return nil, at(r.Line, "rule %q: regressions are tested on adv_accuracy or clean_accuracy (paired per image), not %s", r.Name, r.Metric)
			case !(r.Regression.Alpha > 0 && r.Regression.Alpha < 1):
				return nil, at(r.Line, "rule %q: regression.alpha %v must be in (0, 1)", r.Name, r.Regression.Alpha)
			}
		} else {
			lo, hi := 0.0, 1.0
			if r.Metric == "excess" || r.Metric == "asr_ratio" {
				lo = -1
			}
			switch {
			case r.Max == nil && r.Min == nil:
				return nil, at(r.Line, "rule %q needs max, min or regression", r.Name)
			case r.Max != nil && (*r.Max < lo || *r.Max > hi):
				return nil, at(r.Line, "rule %q: max %v is outside %v…%v", r.Name, *r.Max, lo, hi)
			case r.Min != nil && (*r.Min < lo || *r.Min > hi):
				return nil, at(r.Line, "rule %q: min %v is outside %v…%v", r.Name, *r.Min, lo, hi)
			}
		}
		for _, c := range r.Where.Case {
			if !slices.Contains([]string{"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"}, c) {
				return nil, at(r.Line, "rule %q: case %q: want C1 … C8 (white-box pairs: white_box: true)", r.Name, c)
			}
		}
		names[r.Name] = true
	}
	return &p, nil
}

// Pair is one attacker × victim result a rule looks at.
type Pair struct {
	Cell   *Cell
	Victim *VictimResult
	Tags   []string
}

// Label names a pair for people.
func (p Pair) Label() string {
	s := fmt.Sprintf("%s ε %s: %s → %s (%s)", p.Cell.Attack, epsString(p.Cell.Eps), p.Cell.Attacker, p.Victim.Name, p.Victim.Case)
	if p.Victim.WhiteBox {
		s += " white-box"
	}
	return s
}

// Pairs lists every attacker × victim result of a scenario run.
func (r *ScenarioResult) Pairs() []Pair {
	tags := map[string][]string{}
	for _, m := range r.Models {
		tags[m.Name] = m.Tags
	}
	var out []Pair
	for i := range r.Cells {
		c := &r.Cells[i]
		for j := range c.Result.Victims {
			v := &c.Result.Victims[j]
			out = append(out, Pair{Cell: c, Victim: v, Tags: tags[v.Name]})
		}
	}
	return out
}

func (w Where) match(p Pair) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	if !in(w.Case, p.Victim.Case) || !in(w.Attack, p.Cell.Attack) || !in(w.Victim, p.Victim.Name) || !in(w.Surrogate, p.Cell.Attacker) {
		return false
	}
	if len(w.Eps) > 0 && !slices.ContainsFunc(w.Eps, func(e float64) bool { return math.Abs(e-p.Cell.Eps) < 1e-9 }) {
		return false
	}
	if len(w.Tag) > 0 && !slices.ContainsFunc(w.Tag, func(t string) bool { return slices.Contains(p.Tags, t) }) {
		return false
	}
	if w.WhiteBox != nil && *w.WhiteBox != p.Victim.WhiteBox {
		return false
	}
	return true
}

// GateResult is a policy's verdict on a results file.
type GateResult struct {
	Policy   string        `json:"policy"`
	Results  string        `json:"results"`
	Baseline string        `json:"baseline,omitempty"`
	Passed   bool          `json:"passed"`
	Rules    []RuleVerdict `json:"rules"`
}

// RuleVerdict is one rule's outcome over the groups it checks.
type RuleVerdict struct {
	Name   string  `json:"name"`
	Metric string  `json:"metric"`
	Limit  string  `json:"limit"` // in words
	Judge  string  `json:"judge"`
	Passed bool    `json:"passed"`
	Groups []Check `json:"groups"`
	// Note explains an empty match or a refused comparison.
	Note string `json:"note,omitempty"`
}

// Check is one group (a pair, a case, a victim, all) of a rule.
type Check struct {
	Group    string  `json:"group"`
	Pairs    int     `json:"pairs"`
	Value    float64 `json:"value"`
	Lo95     float64 `json:"lo95"`
	Hi95     float64 `json:"hi95"`
	Num      int     `json:"num,omitempty"`
	Den      int     `json:"den,omitempty"`
	Passed   bool    `json:"passed"`
	Detail   string  `json:"detail,omitempty"`
	PValue   float64 `json:"p_value,omitempty"`
	Worse    int     `json:"worse,omitempty"`    // regressions: images right in the baseline, wrong now
	Better   int     `json:"better,omitempty"`   // regressions: images wrong in the baseline, right now
	Compared int     `json:"compared,omitempty"` // regressions: images compared
}

// Gate judges results by a policy; baseline (nil without --baseline) is
// the results regression rules compare with.
func Gate(p *Policy, res, baseline *ScenarioResult) (*GateResult, error) {
	g := &GateResult{Passed: true}
	pairs := res.Pairs()
	for _, r := range p.Rules {
		judge := r.Judge
		if judge == "" {
			judge = p.Judge
		}
		if judge == "" {
			judge = "bound"
		}
		var matched []Pair
		for _, pr := range pairs {
			if r.Where.match(pr) {
				matched = append(matched, pr)
			}
		}
		var v RuleVerdict
		var err error
		if r.Regression != nil {
			if baseline == nil {
				return nil, fmt.Errorf("rule %q tests regressions: give --baseline OLD.json", r.Name)
			}
			v, err = regressionVerdict(r, matched, baseline)
		} else {
			v, err = limitVerdict(r, judge, matched)
		}
		if err != nil {
			return nil, err
		}
		g.Passed = g.Passed && v.Passed
		g.Rules = append(g.Rules, v)
	}
	return g, nil
}

// limitVerdict checks a max/min rule on every group of matching pairs.
func limitVerdict(r Rule, judge string, matched []Pair) (RuleVerdict, error) {
	v := RuleVerdict{Name: r.Name, Metric: r.Metric, Judge: judge, Passed: true, Limit: limitWords(r)}
	if len(matched) == 0 {
		v.Note = "no pair matches the rule's where: nothing to check (a typo in a name?)"
		return v, nil
	}
	groups, order := groupPairs(r.Per, matched)
	for _, key := range order {
		c, err := measure(r.Metric, groups[key])
		if err != nil {
			return v, fmt.Errorf("rule %q: %w", r.Name, err)
		}
		c.Group = key
		c.Passed = true
		lo, hi := c.Value, c.Value
		if judge == "bound" {
			lo, hi = c.Lo95, c.Hi95
		}
		if r.Max != nil && lo > *r.Max {
			c.Passed = false
			c.Detail = fmt.Sprintf("%s %s > max %s", r.Metric, describe(c, judge, "lower"), pctOrNum(*r.Max))
		}
		if r.Min != nil && hi < *r.Min {
			c.Passed = false
			c.Detail = fmt.Sprintf("%s %s < min %s", r.Metric, describe(c, judge, "upper"), pctOrNum(*r.Min))
		}
		v.Passed = v.Passed && c.Passed
		v.Groups = append(v.Groups, c)
	}
	return v, nil
}

func describe(c Check, judge, bound string) string {
	s := fmt.Sprintf("%s (95%% CI %s–%s)", pctOrNum(c.Value), pctOrNum(c.Lo95), pctOrNum(c.Hi95))
	if judge == "bound" {
		s += ", its " + bound + " bound"
	}
	return s
}

func pctOrNum(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

func limitWords(r Rule) string {
	var parts []string
	if r.Min != nil {
		parts = append(parts, "≥ "+pctOrNum(*r.Min))
	}
	if r.Max != nil {
		parts = append(parts, "≤ "+pctOrNum(*r.Max))
	}
	per := r.Per
	if per == "" {
		per = "pair"
	}
	return fmt.Sprintf("%s %s per %s", r.Metric, strings.Join(parts, " and "), per)
}

// groupPairs splits pairs by the rule's per.
func groupPairs(per string, pairs []Pair) (map[string][]Pair, []string) {
	groups := map[string][]Pair{}
	var order []string
	for _, p := range pairs {
		var key string
		switch per {
		case "case":
			key = fmt.Sprintf("%s ε %s %s", p.Cell.Attack, epsString(p.Cell.Eps), p.Victim.Case)
			if p.Victim.WhiteBox {
				key += " white-box"
			}
		case "victim":
			key = p.Victim.Name
		case "all":
			key = "all matching pairs"
		default:
			key = p.Label()
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], p)
	}
	return groups, order
}

// measure pools a metric over pairs: rates by their counts (with a Wilson
// interval), asr_ratio by its counts, excess by its paired counts.
func measure(metric string, pairs []Pair) (Check, error) {
	c := Check{Pairs: len(pairs)}
	switch metric {
	case "asr_ratio":
		var a, cc, n int
		for _, p := range pairs {
			s := p.Victim.Scores
			a += s.AdvAccuracy.Num
			cc += s.CleanAccuracy.Num
			n += s.CleanAccuracy.Den
		}
		r := metrics.NewRatio(a, cc, n)
		if !r.Defined {
			return c, fmt.Errorf("asr_ratio is undefined (no image classified correctly) for %s", pairs[0].Label())
		}
		c.Value, c.Lo95, c.Hi95, c.Num, c.Den = r.Value, max(-1, r.Lo95), r.Hi95, r.Num, r.Den
	case "excess":
		var first, second, both, n int
		for _, p := range pairs {
			e := p.Victim.Excess
			if e == nil {
				return c, fmt.Errorf("%s has no noise control (the scenario ran with control: false)", p.Label())
			}
			first += e.FirstOnly
			second += e.SecondOnly
			both += e.Both
			n += e.N
		}
		d, err := pairedFromCounts(both, first, second, n)
		if err != nil {
			return c, err
		}
		c.Value, c.Lo95, c.Hi95, c.Num, c.Den = d.Value, d.Lo95, d.Hi95, first-second, n
	default:
		var num, den int
		for _, p := range pairs {
			r := rateOf(metric, &p.Victim.Scores)
			num += r.Num
			den += r.Den
		}
		r := metrics.NewRate(num, den)
		c.Value, c.Lo95, c.Hi95, c.Num, c.Den = r.Value, r.Lo95, r.Hi95, num, den
	}
	return c, nil
}

func rateOf(metric string, s *metrics.Scores) metrics.Rate {
	switch metric {
	case "asr_all":
		return s.ASRAll
	case "asr_on_correct":
		return s.ASROnCorrect
	case "clean_accuracy":
		return s.CleanAccuracy
	}
	return s.AdvAccuracy
}

// pairedFromCounts rebuilds a paired difference from pooled counts.
func pairedFromCounts(both, first, second, n int) (metrics.PairedDiff, error) {
	neither := n - both - first - second
	if neither < 0 {
		return metrics.PairedDiff{}, fmt.Errorf("inconsistent paired counts")
	}
	a := make([]bool, n)
	b := make([]bool, n)
	i := 0
	for range both {
		a[i], b[i] = true, true
		i++
	}
	for range first {
		a[i] = true
		i++
	}
	for range second {
		b[i] = true
		i++
	}
	return metrics.NewPairedDiff(a, b, nil)
}

// regressionVerdict compares every matching victim with the baseline on
// the same images, cell by cell, with McNemar's exact test.
func regressionVerdict(r Rule, matched []Pair, baseline *ScenarioResult) (RuleVerdict, error) {
	v := RuleVerdict{Name: r.Name, Metric: r.Metric, Judge: "mcnemar", Passed: true,
		Limit: fmt.Sprintf("%s no worse than the baseline (exact McNemar, α = %g)", r.Metric, r.Regression.Alpha)}
	if len(matched) == 0 {
		v.Note = "no pair matches the rule's where: nothing to check"
		return v, nil
	}
	type cellID struct {
		attacker, attack string
		eps              float64
	}
	base := map[cellID]*Cell{}
	for i := range baseline.Cells {
		c := &baseline.Cells[i]
		base[cellID{c.Attacker, c.Attack, c.Eps}] = c
	}
	for _, p := range matched {
		bc := base[cellID{p.Cell.Attacker, p.Cell.Attack, p.Cell.Eps}]
		if bc == nil {
			return v, fmt.Errorf("rule %q: the baseline has no cell %s ε %s on %s", r.Name, p.Cell.Attack, epsString(p.Cell.Eps), p.Cell.Attacker)
		}
		if bc.ExamplesSHA256 == "" || bc.ExamplesSHA256 != p.Cell.ExamplesSHA256 {
			return v, fmt.Errorf("rule %q: %s ε %s on %s: the baseline's adversarial examples are not these (examples sha256 %.12s vs %.12s); "+
				"a paired test is only valid on the same examples — rerun the baseline with the same attackers, data, settings and advmatrix version",
				r.Name, p.Cell.Attack, epsString(p.Cell.Eps), p.Cell.Attacker, bc.ExamplesSHA256, p.Cell.ExamplesSHA256)
		}
		var bv *VictimResult
		for j := range bc.Result.Victims {
			if bc.Result.Victims[j].Name == p.Victim.Name {
				bv = &bc.Result.Victims[j]
			}
		}
		if bv == nil {
			return v, fmt.Errorf("rule %q: the baseline has no victim %s in %s", r.Name, p.Victim.Name, p.Label())
		}
		nowBits, err := outcomeBits(r.Metric, p.Victim)()
		if err != nil {
			return v, fmt.Errorf("rule %q: %s: %w", r.Name, p.Label(), err)
		}
		thenBits, err := outcomeBits(r.Metric, bv)()
		if err != nil {
			return v, fmt.Errorf("rule %q: baseline %s: %w", r.Name, p.Label(), err)
		}
		c := Check{Group: p.Label(), Pairs: 1, Compared: len(nowBits), Passed: true}
		for i := range nowBits {
			switch {
			case thenBits[i] && !nowBits[i]:
				c.Worse++
			case !thenBits[i] && nowBits[i]:
				c.Better++
			}
		}
		c.PValue = metrics.McNemar(c.Worse, c.Better)
		c.Value = float64(c.Better-c.Worse) / float64(max(len(nowBits), 1))
		c.Detail = fmt.Sprintf("%s model %.12s vs baseline %.12s: %d images worse, %d better, p = %.3g", r.Metric, p.Victim.Model.SHA256, bv.Model.SHA256, c.Worse, c.Better, c.PValue)
		if c.Worse > c.Better && c.PValue < r.Regression.Alpha {
			c.Passed = false
		}
		v.Passed = v.Passed && c.Passed
		v.Groups = append(v.Groups, c)
	}
	return v, nil
}

// outcomeBits returns a reader of a victim's per-image correctness for a
// metric.
func outcomeBits(metric string, v *VictimResult) func() ([]bool, error) {
	return func() ([]bool, error) {
		if v.Outcomes == nil {
			return nil, fmt.Errorf("no per-image outcomes in the results")
		}
		if metric == "clean_accuracy" {
			return UnpackBits(v.Outcomes.Clean, v.Outcomes.N)
		}
		return UnpackBits(v.Outcomes.Adv, v.Outcomes.N)
	}
}

// Failures lists the failing groups of a verdict, worst first.
func (g *GateResult) Failures() []string {
	var out []string
	for _, r := range g.Rules {
		var fs []Check
		for _, c := range r.Groups {
			if !c.Passed {
				fs = append(fs, c)
			}
		}
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Value > fs[j].Value })
		for _, c := range fs {
			out = append(out, fmt.Sprintf("%s: %s: %s", r.Name, c.Group, c.Detail))
		}
	}
	return out
}

// reflectValueOf is the settable value p points to.
func reflectValueOf(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
