package scenarios

import (
	_ "embed"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/internal/safeio"
	"github.com/advmatrix/advmatrix/internal/yamlstrict"
)

// FileError is a problem in a scenario file: the file, the line and what
// is wrong there.
type FileError = yamlstrict.FileError

// File is a scenario file as written: who attacks whom, with what, on
// which images. docs/scenarios.md documents every key; Parse checks them.
type File struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Seed seeds every cell's attack, targets, noise control and, with
	// Sample "seeded", the images.
	Seed uint64 `yaml:"seed"`
	// Limit is the number of test images attacked per source (0: all).
	Limit int `yaml:"limit"`
	// Sample is "first" (the first Limit images, the default) or "seeded".
	Sample string `yaml:"sample"`
	// Batch is the number of images crafted together (default 128).
	Batch int `yaml:"batch"`
	// Sources name the data: a source's test split is what its attackers'
	// images come from.
	Sources map[string]string `yaml:"sources"`
	Models  []ModelEntry      `yaml:"models"`
	// Surrogates are attackers made of several models: ensembles of pool
	// models, or Bayesian surrogate sets.
	Surrogates []SurrogateEntry `yaml:"surrogates"`
	// Budget is shared by every gradient attack unless a line overrides it,
	// so that attacks are compared at the same ε, steps and step size.
	Budget  Budget        `yaml:"budget"`
	Attacks []AttackEntry `yaml:"attacks"`
	// Matrix is "dumb" (every attacker × every victim, each pair labelled
	// with its DUMB case) or "pairs" (the Pairs listed).
	Matrix    string      `yaml:"matrix"`
	Attackers []string    `yaml:"attackers"`
	Victims   []string    `yaml:"victims"`
	Pairs     []PairEntry `yaml:"pairs"`
	// Control evaluates every victim on seeded random-sign noise of the
	// attack's norm and ε as well (default true), so that a transfer rate
	// can be told apart from noise fragility.
	Control *bool `yaml:"control"`
	// Compare asks for victims to be compared with baselines — a merged
	// model with its constituents, a pruned one with its original — on
	// the same adversarial examples (Δ-robustness).
	Compare []CompareEntry `yaml:"compare"`
}

// ModelEntry is one model of the pool.
type ModelEntry struct {
	Name string `yaml:"name"`
	// File is an ONNX file (relative to the scenario file) or zoo:NAME.
	File string `yaml:"file"`
	// Source names the source the model was trained on; Arch and Balance
	// are free labels compared for the DUMB case.
	Source  string   `yaml:"source"`
	Arch    string   `yaml:"arch"`
	Balance string   `yaml:"balance"`
	Tags    []string `yaml:"tags"`
	Line    int      `yaml:"-"`
}

// SurrogateEntry is an attacker made of several models.
type SurrogateEntry struct {
	Name string `yaml:"name"`
	// Members are pool models attacked as an ensemble (the attack's
	// fusion, or an ensemble attack such as adaea or mi-cwa).
	Members []string `yaml:"members"`
	// Set is a Bayesian surrogate set (a folder or set.json written by
	// advmatrix, or zoo:NAME), attacked one member per step when the set
	// says so.
	Set string `yaml:"set"`
	// Source, Arch and Balance default to the members' when they agree.
	Source  string   `yaml:"source"`
	Arch    string   `yaml:"arch"`
	Balance string   `yaml:"balance"`
	Tags    []string `yaml:"tags"`
	Line    int      `yaml:"-"`
}

// Budget is a perturbation budget.
type Budget struct {
	Eps   *float64 `yaml:"eps"`
	Alpha *float64 `yaml:"alpha"`
	Steps *int     `yaml:"steps"`
}

// AttackEntry is one attack line. A list of eps runs one cell per value:
// a curve.
type AttackEntry struct {
	Attack string   `yaml:"attack"`
	Label  string   `yaml:"name"`
	Eps    Floats   `yaml:"eps"`
	Alpha  *float64 `yaml:"alpha"`
	Steps  *int     `yaml:"steps"`
	// Momentum, Norm, Fusion and Targeted as `advmatrix attack` takes them.
	Momentum *float64          `yaml:"momentum"`
	Norm     string            `yaml:"norm"`
	Fusion   string            `yaml:"fusion"`
	Targeted string            `yaml:"targeted"`
	Params   map[string]string `yaml:"params"`
	// SelectStrength chooses the strength first, DUMB's way, on each
	// attacker (its first member).
	SelectStrength *StrengthEntry `yaml:"select_strength"`
	Line           int            `yaml:"-"`
}

// StrengthEntry is `select_strength: true` or a mapping with a grid and
// the SSIM floor.
type StrengthEntry struct {
	Grid    []float64 `yaml:"grid"`
	SSIMMin *float64  `yaml:"ssim_min"`
	Line    int       `yaml:"-"`
}

// UnmarshalStrict implements yamlstrict.Unmarshaler.
func (s *StrengthEntry) UnmarshalStrict(d *yamlstrict.Decoder, n *yaml.Node, path string) error {
	if n.Kind == yaml.ScalarNode {
		if n.Tag != "!!bool" {
			return d.Fail(n, "%s: want true, false or a mapping with grid and ssim_min", path)
		}
		if n.Value != "true" {
			return d.Fail(n, "%s: false is the same as leaving it out; remove the line", path)
		}
		s.Line = n.Line
		return nil
	}
	type plain StrengthEntry
	var p plain
	if err := d.DecodeStruct(n, reflectValue(&p), path); err != nil {
		return err
	}
	*s = StrengthEntry(p)
	return nil
}

// Floats is one number or a list of numbers.
type Floats []float64

// UnmarshalStrict implements yamlstrict.Unmarshaler.
func (f *Floats) UnmarshalStrict(d *yamlstrict.Decoder, n *yaml.Node, path string) error {
	var vals []float64
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			return d.Fail(n, "%s: an empty list", path)
		}
		if err := d.Decode(n, reflectValue(&vals), path); err != nil {
			return err
		}
	} else {
		var v float64
		if err := d.Decode(n, reflectValue(&v), path); err != nil {
			return err
		}
		vals = []float64{v}
	}
	*f = vals
	return nil
}

// PairEntry is an attacker and its victims, for matrix: pairs.
type PairEntry struct {
	Attacker string   `yaml:"attacker"`
	Victims  []string `yaml:"victims"`
	Line     int      `yaml:"-"`
}

//go:embed default.yaml
var defaultScenario []byte

// DefaultName is how the embedded default scenario is named in errors and
// results.
const DefaultName = "embedded:default.yaml"

// Default returns the embedded default scenario: the embedded digits zoo
// (both sources, every embedded architecture and balance) as attackers
// and victims, I-FGSM and a DUMB corruption with SSIM-bounded strength.
func Default() ([]byte, string) { return defaultScenario, DefaultName }

// MaxFileBytes bounds a scenario or policy file.
const MaxFileBytes = 16 << 20

// ReadFile reads and parses a scenario file.
func ReadFile(path string) (*File, error) {
	b, err := safeio.ReadFile(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return Parse(path, b)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]*$`)

// Parse decodes and checks a scenario: every key known, every value of its
// type and range, every name unique and every reference defined. Errors
// name the file, the line and the key.
func Parse(file string, data []byte) (*File, error) {
	var f File
	if err := yamlstrict.Decode(file, data, &f); err != nil {
		return nil, err
	}
	if err := f.check(file); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *File) check(file string) error {
	errAt := func(line int, format string, args ...any) error {
		return &FileError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if f.Limit < 0 {
		return errAt(0, "limit %d is negative", f.Limit)
	}
	if f.Batch < 0 || f.Batch > 1<<16 {
		return errAt(0, "batch %d must be between 1 and %d", f.Batch, 1<<16)
	}
	switch f.Sample {
	case "", "first", "seeded":
	default:
		return errAt(0, "sample %q: want first or seeded", f.Sample)
	}
	if len(f.Sources) == 0 {
		return errAt(0, "no sources: name at least one data source (sources: {mnist: mnist:test})")
	}
	for name := range f.Sources {
		if !nameRE.MatchString(name) {
			return errAt(0, "source name %q: use letters, digits and _ . + -", name)
		}
	}
	if len(f.Models) == 0 {
		return errAt(0, "empty model pool: list at least one model under models:")
	}
	names := map[string]string{} // name → what it is
	for i, m := range f.Models {
		what := fmt.Sprintf("models[%d]", i)
		switch {
		case m.Name == "":
			return errAt(m.Line, "%s has no name", what)
		case !nameRE.MatchString(m.Name):
			return errAt(m.Line, "%s: name %q: use letters, digits and _ . + -", what, m.Name)
		case names[m.Name] != "":
			return errAt(m.Line, "%s: the name %q is used twice", what, m.Name)
		case m.File == "":
			return errAt(m.Line, "model %s has no file", m.Name)
		case m.Source == "":
			return errAt(m.Line, "model %s has no source (the data it was trained on, one of: %s)", m.Name, strings.Join(keys(f.Sources), ", "))
		case f.Sources[m.Source] == "":
			return errAt(m.Line, "model %s: unknown source %q (known: %s)", m.Name, m.Source, strings.Join(keys(f.Sources), ", "))
		}
		names[m.Name] = "model"
	}
	for i, s := range f.Surrogates {
		what := fmt.Sprintf("surrogates[%d]", i)
		switch {
		case s.Name == "":
			return errAt(s.Line, "%s has no name", what)
		case !nameRE.MatchString(s.Name):
			return errAt(s.Line, "%s: name %q: use letters, digits and _ . + -", what, s.Name)
		case names[s.Name] != "":
			return errAt(s.Line, "%s: the name %q is used twice", what, s.Name)
		case (len(s.Members) == 0) == (s.Set == ""):
			return errAt(s.Line, "surrogate %s needs members (pool models) or a set, not both", s.Name)
		case s.Source != "" && f.Sources[s.Source] == "":
			return errAt(s.Line, "surrogate %s: unknown source %q (known: %s)", s.Name, s.Source, strings.Join(keys(f.Sources), ", "))
		case s.Set != "" && s.Source == "":
			return errAt(s.Line, "surrogate %s: a set needs a source (the data its members were trained on)", s.Name)
		}
		seen := map[string]bool{}
		for _, m := range s.Members {
			switch {
			case names[m] == "surrogate" || m == s.Name:
				return errAt(s.Line, "surrogate %s: member %q is a surrogate, not a model (surrogates cannot nest)", s.Name, m)
			case names[m] != "model":
				return errAt(s.Line, "surrogate %s: unknown member %q%s", s.Name, m, suggest(m, f.modelNames()))
			case seen[m]:
				return errAt(s.Line, "surrogate %s: member %q is listed twice", s.Name, m)
			}
			seen[m] = true
		}
		names[s.Name] = "surrogate"
	}
	if len(f.Attacks) == 0 {
		return errAt(0, "no attacks: list at least one under attacks:")
	}
	labels := map[string]bool{}
	for i := range f.Attacks {
		if err := f.Attacks[i].check(file, f.Budget); err != nil {
			return err
		}
		l := f.Attacks[i].label()
		if labels[l] {
			return errAt(f.Attacks[i].Line, "attack name %q is used twice (give one of them a name:)", l)
		}
		labels[l] = true
	}
	if err := f.Budget.check(file); err != nil {
		return err
	}
	for _, a := range f.Attackers {
		if names[a] == "" {
			return errAt(0, "attackers: unknown %q%s", a, suggest(a, keysOf(names)))
		}
	}
	for _, v := range f.Victims {
		switch names[v] {
		case "":
			return errAt(0, "victims: unknown model %q%s", v, suggest(v, f.modelNames()))
		case "surrogate":
			return errAt(0, "victims: %q is a surrogate group; victims are single models (write an ensemble to ONNX with advmatrix ensemble to make it one)", v)
		}
	}
	switch f.Matrix {
	case "", "dumb":
		if len(f.Pairs) > 0 {
			return errAt(f.Pairs[0].Line, "pairs are for matrix: pairs, not matrix: dumb")
		}
	case "pairs":
		if len(f.Pairs) == 0 {
			return errAt(0, "matrix: pairs lists no pairs")
		}
		for _, p := range f.Pairs {
			if names[p.Attacker] == "" {
				return errAt(p.Line, "pairs: unknown attacker %q%s", p.Attacker, suggest(p.Attacker, keysOf(names)))
			}
			if len(p.Victims) == 0 {
				return errAt(p.Line, "pairs: attacker %s has no victims", p.Attacker)
			}
			for _, v := range p.Victims {
				if names[v] != "model" {
					return errAt(p.Line, "pairs: unknown victim model %q%s", v, suggest(v, f.modelNames()))
				}
			}
		}
	default:
		return errAt(0, "matrix %q: want dumb or pairs", f.Matrix)
	}
	return f.checkCompare(file, names)
}

func (b Budget) check(file string) error {
	switch {
	case b.Eps != nil && !(*b.Eps >= 0 && *b.Eps <= attacks.MaxEps):
		return &FileError{File: file, Msg: fmt.Sprintf("budget.eps %v must be between 0 and %v", *b.Eps, attacks.MaxEps)}
	case b.Alpha != nil && !(*b.Alpha >= 0 && *b.Alpha <= attacks.MaxEps):
		return &FileError{File: file, Msg: fmt.Sprintf("budget.alpha %v must be between 0 and %v", *b.Alpha, attacks.MaxEps)}
	case b.Steps != nil && (*b.Steps < 1 || *b.Steps > attacks.MaxSteps):
		return &FileError{File: file, Msg: fmt.Sprintf("budget.steps %d must be between 1 and %d", *b.Steps, attacks.MaxSteps)}
	}
	return nil
}

// label is the attack line's name in results.
func (a *AttackEntry) label() string {
	if a.Label != "" {
		return a.Label
	}
	return a.Attack
}

// check validates an attack line against the attack's own parameters.
func (a *AttackEntry) check(file string, budget Budget) error {
	errAt := func(format string, args ...any) error {
		return &FileError{File: file, Line: a.Line, Msg: fmt.Sprintf(format, args...)}
	}
	spec, err := attacks.Lookup(a.Attack)
	if err != nil {
		return errAt("%v", err)
	}
	for _, e := range a.Eps {
		if math.IsNaN(e) || e < 0 || e > attacks.MaxEps {
			return errAt("attack %s: eps %v must be between 0 and %v", a.label(), e, attacks.MaxEps)
		}
	}
	for i, e := range a.Eps {
		if slices.Contains(a.Eps[:i], e) {
			return errAt("attack %s: eps %v is listed twice", a.label(), e)
		}
	}
	if a.SelectStrength != nil {
		if spec.Strength == nil {
			return errAt("attack %s has no strength to select", a.Attack)
		}
		if spec.Strength.Key == "eps" && len(a.Eps) > 0 {
			return errAt("attack %s: select_strength chooses eps; do not give eps as well", a.label())
		}
		if _, given := a.Params[spec.Strength.Key]; given {
			return errAt("attack %s: select_strength chooses %s; do not give it under params as well", a.label(), spec.Strength.Key)
		}
		if s := a.SelectStrength.SSIMMin; s != nil && (math.IsNaN(*s) || *s < -1 || *s >= 1) {
			return errAt("attack %s: select_strength.ssim_min %v must be in [-1, 1)", a.label(), *s)
		}
		if err := spec.CheckSurrogates(1); err != nil {
			return errAt("attack %s: select_strength crafts on one model: %v", a.label(), err)
		}
	}
	if a.Targeted != "" {
		mode, err := attacks.ParseTargetMode(a.Targeted)
		if err != nil {
			return errAt("attack %s: %v", a.label(), err)
		}
		if mode == attacks.TargetGiven {
			return errAt("attack %s: targeted: given needs a file of targets per source; use random or least", a.label())
		}
		if a.SelectStrength != nil && mode != attacks.Untargeted {
			return errAt("attack %s: select_strength measures the untargeted ASR (DUMB's); it does not go with targeted: %s", a.label(), a.Targeted)
		}
	}
	for _, eps := range a.epsValues(budget) {
		if _, err := a.params(spec, eps, budget); err != nil {
			return errAt("attack %s: %v", a.label(), err)
		}
	}
	return nil
}

// epsValues are the ε values the line runs: its own list, the budget's ε
// for a gradient attack, or the attack's default (nil entry: NaN).
func (a *AttackEntry) epsValues(budget Budget) []float64 {
	if len(a.Eps) > 0 {
		return a.Eps
	}
	spec, _ := attacks.Lookup(a.Attack)
	if a.SelectStrength == nil && budget.Eps != nil && spec.Strength != nil && spec.Strength.Key == "eps" {
		return []float64{*budget.Eps}
	}
	return []float64{math.NaN()} // the attack's default (or the selection's choice)
}

// params turns the line into the attack's parameters at one ε (NaN: not
// given), with the scenario's budget filling steps and step size.
func (a *AttackEntry) params(spec attacks.Spec, eps float64, budget Budget) (attacks.Params, error) {
	p := attacks.Params{Set: map[string]bool{}, Extra: map[string]float64{}}
	gradient := spec.Strength != nil && spec.Strength.Key == "eps" && spec.Gradient
	if !math.IsNaN(eps) {
		p.Eps, p.Set["eps"] = eps, true
	}
	if a.Alpha != nil {
		p.Alpha, p.Set["alpha"] = *a.Alpha, true
	} else if budget.Alpha != nil && gradient {
		p.Alpha, p.Set["alpha"] = *budget.Alpha, true
	}
	if a.Steps != nil {
		p.Steps, p.Set["steps"] = *a.Steps, true
	} else if budget.Steps != nil && gradient {
		p.Steps, p.Set["steps"] = *budget.Steps, true
	}
	if a.Momentum != nil {
		p.Momentum, p.Set["momentum"] = *a.Momentum, true
	}
	if a.Norm != "" {
		n, err := attacks.ParseNorm(a.Norm)
		if err != nil {
			return p, err
		}
		p.Norm, p.Set["norm"] = n, true
	}
	switch a.Fusion {
	case "", "logits":
	case "loss":
		p.Fusion = attacks.FuseLoss
	default:
		return p, fmt.Errorf("fusion %q: want logits or loss", a.Fusion)
	}
	for k, v := range a.Params {
		x, err := parseNumber(v)
		if err != nil {
			return p, fmt.Errorf("params.%s: %q is not a finite number", k, v)
		}
		p.Extra[k], p.Set[k] = x, true
	}
	return p, spec.Check(p)
}

func parseNumber(s string) (float64, error) {
	switch strings.TrimSpace(s) {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	}
	var x float64
	_, err := fmt.Sscan(strings.TrimSpace(s), &x)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("not a finite number")
	}
	return x, nil
}

func (f *File) modelNames() []string {
	var out []string
	for _, m := range f.Models {
		out = append(out, m.Name)
	}
	return out
}

func keys(m map[string]string) []string { return keysOf(m) }

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// suggest names the closest known name to a typo, if one is close.
func suggest(name string, known []string) string {
	best, bd := "", 4
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bd {
			best, bd = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

// resolvePath makes a model file relative to the scenario file's folder.
func resolvePath(scenarioFile, p string) string {
	if p == "" || strings.HasPrefix(p, "zoo:") || filepath.IsAbs(p) || strings.HasPrefix(scenarioFile, "embedded:") {
		return p
	}
	return filepath.Join(filepath.Dir(scenarioFile), p)
}

// reflectValue is the settable value p points to.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
