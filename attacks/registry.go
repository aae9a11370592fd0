package attacks

import (
	"fmt"
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

// Spec describes an attack that can be made by name.
type Spec struct {
	Name     string
	Summary  string   // one line for --help
	Extras   []string // Extra keys it understands
	Gradient bool     // needs surrogate gradients (false: query-only or a corruption)
	// Defaults returns the defaults for images of the given shape (C, H, W);
	// they are printed with the results.
	Defaults func(shape []int) Params
	// Derive, when set, fills defaults that depend on what the user gave
	// (CWA's α is ε/5 of the ε in use); see Complete.
	Derive func(user, merged Params) Params
	// New makes the attack from complete Params (see Complete).
	New func(p Params) (Attack, error)
	// Strength, when not nil, is the setting DUMB's strength selection
	// tunes and its grid; attacks without one (greyscale, invert,
	// splitmerge) cannot be tuned.
	Strength *Strength
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

var registry = struct {
	sync.Mutex
	specs map[string]Spec
}{specs: map[string]Spec{}}

// Register adds an attack; it panics on a duplicate name (a programming
// error, as in database/sql.Register).
func Register(s Spec) {
	registry.Lock()
	defer registry.Unlock()
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

// CheckExtras rejects Extra keys an attack does not understand.
func (s Spec) CheckExtras(p Params) error {
	for k := range p.Extra {
		ok := false
		for _, e := range s.Extras {
			if e == k {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("attack %s has no parameter %q (it takes: %s)", s.Name, k, strings.Join(s.Extras, ", "))
		}
	}
	return nil
}

// mnistScale reports whether images look like MNIST-sized single-channel
// digits, whose published defaults (ε = 0.3 PGD, 0.25 FGSM) differ from the
// natural-image ones (8/255, 16/255).
func mnistScale(shape []int) bool { return len(shape) == 3 && shape[0] == 1 }

func init() {
	type preset struct {
		name, summary string
		make          func(p Params) *Config
		def           func(digits bool) Params
	}
	withParams := func(c *Config, p Params) *Config {
		c.Norm, c.Fusion = p.Norm, p.Fusion
		if v, ok := p.Extra["di_prob"]; ok {
			c.DI.P = v
		}
		if v, ok := p.Extra["di_rate"]; ok {
			c.DI.Rate = v
		}
		if v, ok := p.Extra["ti_kernel"]; ok {
			c.TIKernel = int(v)
		}
		if v, ok := p.Extra["restarts"]; ok {
			c.Restarts = int(v)
		}
		if v, ok := p.Extra["one_per_step"]; ok {
			c.OnePerStep = v != 0
		}
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
		Register(Spec{
			Name: pr.name, Summary: pr.summary, Gradient: true, Strength: epsStrength,
			Extras:   []string{"di_prob", "di_rate", "ti_kernel", "restarts", "one_per_step"},
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
