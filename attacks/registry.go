package attacks

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// Params are the settings a user gives an attack by name (the CLI's
// flags, a scenario file's fields). Zero values mean "the attack's
// default"; Set records which fields were given explicitly.
type Params struct {
	Eps      float64
	Alpha    float64
	Steps    int
	Norm     Norm
	Momentum float64
	Fusion   Fusion
	// Extra holds method-specific settings by name (for example AdaEA's
	// "beta" and "threshold", CWA's "inner_step" and "reverse_step", DI's
	// "di_prob"); each attack documents and validates its own.
	Extra map[string]float64
	// Set lists the fields given explicitly ("eps", "alpha", "steps",
	// "momentum", "norm", or an Extra key).
	Set map[string]bool
}

// Has reports whether a field was given.
func (p Params) Has(name string) bool { return p.Set[name] }

// ExtraOr returns an Extra setting or a default.
func (p Params) ExtraOr(name string, def float64) float64 {
	if v, ok := p.Extra[name]; ok {
		return v
	}
	return def
}

// Kind is the type of an attack's own parameter.
type Kind int

const (
	Float Kind = iota
	Int        // a whole number
	Bool       // 0 or 1
)

func (k Kind) String() string {
	return [...]string{"number", "whole number", "0 or 1"}[k]
}

// Param declares one of an attack's own settings (an Extra key): its type,
// its inclusive range and its default for an image shape, so that every
// attack validates its settings the same way and results record the
// effective value of each, defaults included.
type Param struct {
	Name     string
	Kind     Kind
	Min, Max float64
	// Default is the value for an image shape; nil when the default
	// follows other settings (CWA's reverse step is ε/15), which the
	// attack's Derive then fills in.
	Default func(shape []int) float64
	Help    string // what it is, for --help and errors
}

// check validates one value of the parameter.
func (q Param) check(v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("%s=%v: the %s must be a finite number", q.Name, v, q.Help)
	case q.Kind == Int && v != math.Trunc(v):
		return fmt.Errorf("%s=%v: the %s must be a whole number", q.Name, v, q.Help)
	case q.Kind == Bool && v != 0 && v != 1:
		return fmt.Errorf("%s=%v: the %s is 0 or 1", q.Name, v, q.Help)
	case v < q.Min || v > q.Max:
		return fmt.Errorf("%s=%v: the %s must be between %v and %v", q.Name, v, q.Help, q.Min, q.Max)
	}
	return nil
}

// fixed is a Default that does not depend on the image shape.
func fixed(v float64) func([]int) float64 { return func([]int) float64 { return v } }

// Bounds on the settings every attack shares: generous for any real use,
// tight enough that a typo cannot ask for a run of years.
const (
	MaxEps      = 1000   // L2 radii of large images can exceed 1; L∞ above 1 changes nothing
	MaxSteps    = 100000 // iterations
	MaxMomentum = 1000
)

// Spec describes an attack that can be made by name.
type Spec struct {
	Name    string
	Summary string  // one line for --help
	Extras  []Param // its own settings
	// Gradient attacks need surrogate gradients; the others only query
	// logits (Square) or look at no model at all (DUMB's corruptions).
	Gradient bool
	// MinSurrogates and MaxSurrogates (0: no limit) bound the number of
	// surrogates it can use: AdaEA compares members with each other,
	// Square queries one model.
	MinSurrogates, MaxSurrogates int
	// Defaults returns the defaults for images of the given shape (C, H, W);
	// they are printed with the results. Register adds every Extra's
	// default.
	Defaults func(shape []int) Params
	// Derive, when set, fills defaults that depend on what the user gave
	// (CWA's α is ε/5 of the ε in use); see Complete.
	Derive func(user, merged Params) Params
	// Record, when set, adds values the attack computes from its settings
	// to the results (R-FGSM's gradient step ε − α).
	Record func(p Params) map[string]float64
	// New makes the attack from complete Params (see Complete).
	New func(p Params) (Attack, error)
	// Strength, when not nil, is the setting DUMB's strength selection
	// tunes and its grid; attacks without one (greyscale, invert,
	// splitmerge) cannot be tuned.
	Strength *Strength
}

// Param looks up one of the attack's own settings.
func (s Spec) Param(name string) (Param, bool) {
	for _, q := range s.Extras {
		if q.Name == name {
			return q, true
		}
	}
	return Param{}, false
}

// ExtraNames lists the attack's own settings.
func (s Spec) ExtraNames() []string {
	out := make([]string, len(s.Extras))
	for i, q := range s.Extras {
		out[i] = q.Name
	}
	return out
}

// Check validates settings before anything runs: the shared ones within
// their bounds, and every Extra known to the attack, of its type and in
// its range.
func (s Spec) Check(p Params) error {
	switch {
	case p.Has("eps") && !(p.Eps >= 0 && p.Eps <= MaxEps):
		return fmt.Errorf("eps %v must be between 0 and %v", p.Eps, MaxEps)
	case p.Has("alpha") && !(p.Alpha >= 0 && p.Alpha <= MaxEps):
		return fmt.Errorf("alpha %v must be between 0 and %v", p.Alpha, MaxEps)
	case p.Has("steps") && (p.Steps < 1 || p.Steps > MaxSteps):
		return fmt.Errorf("steps %d must be between 1 and %d", p.Steps, MaxSteps)
	case p.Has("momentum") && !(p.Momentum >= 0 && p.Momentum <= MaxMomentum):
		return fmt.Errorf("momentum %v must be between 0 and %v", p.Momentum, MaxMomentum)
	}
	return s.CheckExtras(p)
}

// CheckExtras rejects Extra keys the attack does not understand and values
// of the wrong type or out of range.
func (s Spec) CheckExtras(p Params) error {
	keys := make([]string, 0, len(p.Extra))
	for k := range p.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q, ok := s.Param(k)
		if !ok {
			if len(s.Extras) == 0 {
				return fmt.Errorf("attack %s has no parameter %q (it takes none)", s.Name, k)
			}
			return fmt.Errorf("attack %s has no parameter %q (it takes: %s)", s.Name, k, strings.Join(s.ExtraNames(), ", "))
		}
		if err := q.check(p.Extra[k]); err != nil {
			return fmt.Errorf("attack %s: %w", s.Name, err)
		}
	}
	return nil
}

// CheckSurrogates says whether the attack can run on n surrogates.
func (s Spec) CheckSurrogates(n int) error {
	if n < max(s.MinSurrogates, 1) {
		return fmt.Errorf("attack %s needs at least %d surrogates, got %d", s.Name, max(s.MinSurrogates, 1), n)
	}
	if s.MaxSurrogates > 0 && n > s.MaxSurrogates {
		return fmt.Errorf("attack %s uses at most %d surrogate(s), got %d", s.Name, s.MaxSurrogates, n)
	}
	return nil
}

// Strength is an attack's tunable strength: the setting ("eps", or an
// Extra key such as "radius") and DUMB's grid of values for an image
// shape.
type Strength struct {
	Key  string
	Grid func(shape []int) []float64
}

// epsStrength is the strength of the gradient attacks: ε over DUMB's grid.
var epsStrength = &Strength{Key: "eps", Grid: func([]int) []float64 { return EpsGrid() }}

// Complete merges what the user gave with the attack's defaults for the
// image shape: the parameters the attack will actually run with, and the
// ones results should record.
func (s Spec) Complete(user Params, shape []int) Params {
	p := user.Merge(s.Defaults(shape))
	if s.Derive != nil {
		p = s.Derive(user, p)
	}
	return p
}

// Recorded are the values results record beside the settings: what the
// attack computes from them (Spec.Record).
func (s Spec) Recorded(p Params) map[string]float64 {
	if s.Record == nil {
		return nil
	}
	return s.Record(p)
}

var registry = struct {
	sync.Mutex
	specs map[string]Spec
}{specs: map[string]Spec{}}

// Register adds an attack; it panics on a duplicate name (a programming
// error, as in database/sql.Register). Defaults gain every Extra's default.
func Register(s Spec) {
	registry.Lock()
	defer registry.Unlock()
	if def, extras := s.Defaults, s.Extras; len(extras) > 0 {
		s.Defaults = func(shape []int) Params {
			p := def(shape)
			cp := make(map[string]float64, len(extras))
			for k, v := range p.Extra {
				cp[k] = v
			}
			for _, q := range extras {
				if _, ok := cp[q.Name]; !ok && q.Default != nil {
					cp[q.Name] = q.Default(shape)
				}
			}
			p.Extra = cp
			return p
		}
	}
	if _, dup := registry.specs[s.Name]; dup {
		panic("attacks: Register called twice for " + s.Name)
	}
	registry.specs[s.Name] = s
}

// Lookup finds an attack by name.
func Lookup(name string) (Spec, error) {
	registry.Lock()
	defer registry.Unlock()
	s, ok := registry.specs[strings.ToLower(name)]
	if !ok {
		var names []string
		for n := range registry.specs {
			names = append(names, n)
		}
		sort.Strings(names)
		return Spec{}, fmt.Errorf("unknown attack %q (known: %s)", name, strings.Join(names, ", "))
	}
	return s, nil
}

// Specs lists every registered attack by name.
func Specs() []Spec {
	registry.Lock()
	defer registry.Unlock()
	var out []Spec
	for _, s := range registry.specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Merge fills the fields of p not given explicitly from defaults.
func (p Params) Merge(def Params) Params {
	out := def
	if p.Has("eps") {
		out.Eps = p.Eps
	}
	if p.Has("alpha") {
		out.Alpha = p.Alpha
	}
	if p.Has("steps") {
		out.Steps = p.Steps
	}
	if p.Has("norm") {
		out.Norm = p.Norm
	}
	if p.Has("momentum") {
		out.Momentum = p.Momentum
	}
	out.Fusion = p.Fusion
	if out.Extra == nil {
		out.Extra = map[string]float64{}
	} else {
		cp := map[string]float64{}
		for k, v := range out.Extra {
			cp[k] = v
		}
		out.Extra = cp
	}
	for k, v := range p.Extra {
		out.Extra[k] = v
	}
	out.Set = p.Set
	return out
}

// mnistScale reports whether images look like MNIST-sized single-channel
// digits, whose published defaults (ε = 0.3 PGD, 0.25 FGSM) differ from the
// natural-image ones (8/255, 16/255).
func mnistScale(shape []int) bool { return len(shape) == 3 && shape[0] == 1 }

// Shared parameters of the gradient family and the ensemble attacks.
func diProb(def float64) Param {
	return Param{Name: "di_prob", Kind: Float, Min: 0, Max: 1, Default: fixed(def), Help: "input-diversity probability"}
}

var (
	diRate = Param{Name: "di_rate", Kind: Float, Min: 0.1, Max: 10, Default: fixed(0.9),
		Help: "input-diversity resize rate (torchattacks' resize_rate)"}
	tiNSig = Param{Name: "ti_nsig", Kind: Float, Min: 0.1, Max: 100, Default: fixed(3),
		Help: "translation-invariance kernel's half-width in standard deviations"}
	restarts = Param{Name: "restarts", Kind: Int, Min: 0, Max: 1000, Default: fixed(0),
		Help: "number of extra random restarts"}
	onePerStep = Param{Name: "one_per_step", Kind: Bool, Min: 0, Max: 1, Default: fixed(0),
		Help: "switch for one surrogate per iteration (Bayesian surrogate sets)"}
	batchSize = Param{Name: "batch_size", Kind: Int, Min: 0, Max: 1 << 20, Default: fixed(0),
		Help: "number of images sharing the attack's per-batch statistics (0: the whole batch)"}
)

func tiKernel(def float64) Param {
	return Param{Name: "ti_kernel", Kind: Int, Min: 0, Max: 101, Default: fixed(def),
		Help: "translation-invariance kernel size (odd; 0 or 1: off)"}
}

func init() {
	type preset struct {
		name, summary string
		make          func(p Params) *Config
		def           func(digits bool) Params
	}
	withParams := func(c *Config, p Params) *Config {
		c.Norm, c.Fusion = p.Norm, p.Fusion
		c.DI.P = p.ExtraOr("di_prob", c.DI.P)
		c.DI.Rate = p.ExtraOr("di_rate", 0.9)
		c.TIKernel = int(p.ExtraOr("ti_kernel", float64(c.TIKernel)))
		c.TINSig = p.ExtraOr("ti_nsig", 3)
		c.Restarts = int(p.ExtraOr("restarts", 0))
		c.OnePerStep = p.ExtraOr("one_per_step", 0) != 0
		return c
	}
	presets := []preset{
		{"fgsm", "one gradient-sign step of size ε (Goodfellow et al. 2015)",
			func(p Params) *Config { return FGSM(p.Eps) },
			func(d bool) Params {
				if d {
					return Params{Eps: 0.25}
				}
				return Params{Eps: 8.0 / 255}
			}},
		{"ifgsm", "iterative FGSM / BIM (Kurakin et al. 2017)",
			func(p Params) *Config { return IFGSM(p.Eps, p.Alpha, p.Steps) },
			func(d bool) Params {
				if d {
					return Params{Eps: 0.3, Alpha: 0.01, Steps: 40}
				}
				return Params{Eps: 8.0 / 255, Alpha: 2.0 / 255, Steps: 10}
			}},
		{"pgd", "projected gradient descent with a random start and optional restarts (Madry et al. 2018)",
			func(p Params) *Config { return PGD(p.Eps, p.Alpha, p.Steps) },
			func(d bool) Params {
				if d {
					return Params{Eps: 0.3, Alpha: 0.01, Steps: 40}
				}
				return Params{Eps: 8.0 / 255, Alpha: 2.0 / 255, Steps: 10}
			}},
		{"mifgsm", "momentum iterative FGSM (Dong et al. 2018)",
			func(p Params) *Config { return MIFGSM(p.Eps, p.Alpha, p.Steps, p.Momentum) },
			func(d bool) Params {
				if d {
					return Params{Eps: 0.3, Alpha: 0.03, Steps: 10, Momentum: 1}
				}
				return Params{Eps: 16.0 / 255, Alpha: 1.6 / 255, Steps: 10, Momentum: 1}
			}},
		{"difgsm", "MI-FGSM with input diversity: random resize and pad (Xie et al. 2019)",
			func(p Params) *Config { return DIFGSM(p.Eps, p.Alpha, p.Steps, p.Momentum) },
			func(d bool) Params {
				if d {
					return Params{Eps: 0.3, Alpha: 0.03, Steps: 10, Momentum: 1}
				}
				return Params{Eps: 16.0 / 255, Alpha: 1.6 / 255, Steps: 10, Momentum: 1}
			}},
		{"tifgsm", "translation-invariant MI-DI-FGSM: Gaussian-smoothed gradients (Dong et al. 2019)",
			func(p Params) *Config { return TIFGSM(p.Eps, p.Alpha, p.Steps, p.Momentum) },
			func(d bool) Params {
				if d {
					return Params{Eps: 0.3, Alpha: 0.03, Steps: 10, Momentum: 1}
				}
				return Params{Eps: 16.0 / 255, Alpha: 1.6 / 255, Steps: 10, Momentum: 1}
			}},
		{"rfgsm", "FGSM after a random sign step of size α (Tramèr et al. 2018)",
			func(p Params) *Config { return RFGSM(p.Eps, p.Alpha, p.Steps) },
			func(d bool) Params {
				if d {
					return Params{Eps: 0.3, Alpha: 0.15, Steps: 1}
				}
				return Params{Eps: 16.0 / 255, Alpha: 8.0 / 255, Steps: 1}
			}},
	}
	for _, pr := range presets {
		pr := pr
		base := pr.make(Params{})
		var record func(p Params) map[string]float64
		if pr.name == "rfgsm" {
			record = func(p Params) map[string]float64 { return map[string]float64{"grad_step": p.Eps - p.Alpha} }
		}
		Register(Spec{
			Name: pr.name, Summary: pr.summary, Gradient: true, Strength: epsStrength, Record: record,
			Extras:   []Param{diProb(base.DI.P), diRate, tiKernel(float64(base.TIKernel)), tiNSig, restarts, onePerStep},
			Defaults: func(shape []int) Params { return pr.def(mnistScale(shape)) },
			New: func(p Params) (Attack, error) {
				c := withParams(pr.make(p), p)
				if err := c.Validate(); err != nil {
					return nil, fmt.Errorf("%s: %w", pr.name, err)
				}
				return c, nil
			},
		})
	}
}
