package attacks

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models"
)

// Every attack validates its own settings by type and range, so that a
// typo cannot ask for an absurd run or pass a boolean as 7.
func TestParamChecks(t *testing.T) {
	given := func(kv map[string]float64) Params {
		p := Params{Extra: kv, Set: map[string]bool{}}
		for k := range kv {
			p.Set[k] = true
		}
		return p
	}
	for _, tc := range []struct {
		attack string
		p      Params
		want   string // "" for valid
	}{
		{"ifgsm", given(map[string]float64{"restarts": 2, "di_prob": 0.5, "ti_kernel": 5}), ""},
		{"ifgsm", given(map[string]float64{"restarts": 1e9}), "restarts=1e+09"},
		{"ifgsm", given(map[string]float64{"di_rate": 1e9}), "between 0.1 and 10"},
		{"ifgsm", given(map[string]float64{"ti_kernel": 2.5}), "whole number"},
		{"ifgsm", given(map[string]float64{"one_per_step": 2}), "0 or 1"},
		{"ifgsm", given(map[string]float64{"di_prob": 2}), "probability"},
		{"ifgsm", given(map[string]float64{"bogus": 1}), `no parameter "bogus"`},
		{"greyscale", given(map[string]float64{"radius": 1}), "takes none"},
		{"boxblur", given(map[string]float64{"radius": 1e9}), "box-blur radius"},
		{"square", given(map[string]float64{"queries": 1e12}), "query budget"},
		{"ifgsm", Params{Steps: 2147483647, Set: map[string]bool{"steps": true}}, "steps 2147483647"},
		{"ifgsm", Params{Eps: 1e39, Set: map[string]bool{"eps": true}}, "eps 1e+39"},
		{"ifgsm", Params{Alpha: 1e308, Set: map[string]bool{"alpha": true}}, "alpha 1e+308"},
		{"mifgsm", Params{Momentum: -1, Set: map[string]bool{"momentum": true}}, "momentum -1"},
	} {
		spec, err := Lookup(tc.attack)
		if err != nil {
			t.Fatal(err)
		}
		err = spec.Check(tc.p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %+v: %v", tc.attack, tc.p, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %+v: error %v, want one containing %q", tc.attack, tc.p, err, tc.want)
		}
	}
}

// Complete records every setting an attack runs with, defaults included,
// and CWA's reverse step follows ε unless given.
func TestCompleteRecordsEffectiveValues(t *testing.T) {
	shape := []int{1, 28, 28}
	for _, spec := range Specs() {
		p := spec.Complete(Params{}, shape)
		for _, q := range spec.Extras {
			if _, ok := p.Extra[q.Name]; !ok {
				t.Errorf("%s: %s missing from the completed settings", spec.Name, q.Name)
			}
		}
		if _, err := spec.New(p); err != nil {
			t.Errorf("%s: defaults do not make an attack: %v", spec.Name, err)
		}
	}
	cwa, _ := Lookup("mi-cwa")
	p := cwa.Complete(Params{Eps: 0.15, Set: map[string]bool{"eps": true}}, shape)
	if p.Extra["reverse_step"] != 0.15/15 || p.Alpha != 0.15/5 {
		t.Errorf("mi-cwa at ε 0.15: reverse step %v, α %v", p.Extra["reverse_step"], p.Alpha)
	}
	rf, _ := Lookup("rfgsm")
	if d := rf.Recorded(rf.Complete(Params{}, shape)); d["grad_step"] != 0.3-0.15 {
		t.Errorf("rfgsm records %v", d)
	}
}

func TestSurrogateNeeds(t *testing.T) {
	for _, tc := range []struct {
		attack string
		n      int
		ok     bool
	}{{"adaea", 1, false}, {"adaea", 2, true}, {"square", 2, false}, {"square", 1, true}, {"ifgsm", 5, true}, {"ifgsm", 0, false}} {
		spec, _ := Lookup(tc.attack)
		if err := spec.CheckSurrogates(tc.n); (err == nil) != tc.ok {
			t.Errorf("%s with %d surrogates: %v", tc.attack, tc.n, err)
		}
	}
}

// Batch seeds are hashed: runs with nearby seeds share none (with seed + b,
// seeds 0 and 1 shared all but one), and a run's batches get distinct seeds.
func TestBatchSeeds(t *testing.T) {
	seen := map[uint64]string{}
	for s := uint64(0); s < 4; s++ {
		for b := 0; b < 1000; b++ {
			v := BatchSeed(s, b)
			if prev, dup := seen[v]; dup {
				t.Fatalf("seed %d batch %d repeats %s", s, b, prev)
			}
			seen[v] = "an earlier batch"
		}
	}
}

// The DI padding offset is drawn from {0, …, rem−1} as in the reference
// code: over many draws every offset in that range occurs and rem never.
func TestDiversityOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := Diversity{P: 1, Rate: 0.9}
	var dv *diversity
	hit := map[int]bool{}
	for range 5000 {
		dv = d.redraw(dv, 1, 28, 28, rng)
		rem := dv.size - dv.rnd
		if dv.top < 0 || dv.top >= rem || dv.left < 0 || dv.left >= rem {
			t.Fatalf("offset (%d,%d) with rem %d", dv.top, dv.left, rem)
		}
		hit[dv.top] = true
	}
	if !hit[0] || len(hit) < 3 {
		t.Errorf("offsets seen: %v", hit)
	}
}

// Least-likely targets never pick the true class, even when the surrogates
// rank it lowest.
func TestLeastLikelyExcludesLabel(t *testing.T) {
	m := fixedLogits{k: 3, z: []float32{-5, 1, 2, 3, -4, 0}}
	got, err := LeastLikelyTargets(t.Context(), []models.Classifier{m}, make([]float32, 2), []int{0, 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 1 || got[1] != 2 {
		t.Errorf("targets %v, want [1 2]", got)
	}
}

// fixedLogits returns the same logits for its images (one value each).
type fixedLogits struct {
	k int
	z []float32
}

func (f fixedLogits) InputShape() []int { return []int{1, 1, 1} }
func (f fixedLogits) NumClasses() int   { return f.k }
func (f fixedLogits) Logits(dst, x []float32) error {
	copy(dst, f.z[:len(dst)])
	return nil
}
func (f fixedLogits) Grad(dx, x []float32, seed func(z, dz []float32)) error { panic("not used") }
