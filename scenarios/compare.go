package scenarios

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/advmatrix/advmatrix/internal/yamlstrict"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/report"
)

// CompareEntry asks for Δ-robustness: victim Model against each of
// Baseline — its constituents (a merged model) or its original (a pruned
// or fine-tuned one) — on the same adversarial examples.
type CompareEntry struct {
	Model    string `yaml:"model"`
	Baseline Names  `yaml:"baseline"`
	Line     int    `yaml:"-"`
}

// Names is one name or a list of names.
type Names []string

// UnmarshalStrict implements yamlstrict.Unmarshaler.
func (s *Names) UnmarshalStrict(d *yamlstrict.Decoder, n *yaml.Node, path string) error {
	var v []string
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			return d.Fail(n, "%s: an empty list", path)
		}
		if err := d.Decode(n, reflectValue(&v), path); err != nil {
			return err
		}
	} else {
		var one string
		if err := d.Decode(n, reflectValue(&one), path); err != nil {
			return err
		}
		v = []string{one}
	}
	*s = v
	return nil
}

// checkCompare checks compare: every name a pool model, no model its own
// baseline, no pair twice, and both victims of some cell.
func (f *File) checkCompare(file string, names map[string]string) error {
	seen := map[report.ComparePair]bool{}
	for i, c := range f.Compare {
		errAt := func(format string, args ...any) error {
			return &FileError{File: file, Line: c.Line, Msg: fmt.Sprintf("compare[%d]: ", i) + fmt.Sprintf(format, args...)}
		}
		if c.Model == "" || len(c.Baseline) == 0 {
			return errAt("give a model and its baseline (or a list of them)")
		}
		for _, n := range append([]string{c.Model}, c.Baseline...) {
			if names[n] != "model" {
				return errAt("unknown model %q%s (compare names pool models, which are victims)", n, suggest(n, f.modelNames()))
			}
		}
		for _, b := range c.Baseline {
			p := report.ComparePair{Model: c.Model, Baseline: b}
			switch {
			case b == c.Model:
				return errAt("%s is compared with itself", b)
			case seen[p]:
				return errAt("%s against %s is asked for twice", c.Model, b)
			case !f.bothVictims(c.Model, b):
				return errAt("%s and %s are never victims of the same cell, so no examples compare them; list both as victims", c.Model, b)
			}
			seen[p] = true
		}
	}
	return nil
}

// bothVictims reports whether some cell evaluates both models.
func (f *File) bothVictims(a, b string) bool {
	if f.Matrix == "pairs" {
		for _, p := range f.Pairs {
			ha, hb := false, false
			for _, v := range p.Victims {
				ha, hb = ha || v == a, hb || v == b
			}
			if ha && hb {
				return true
			}
		}
		return false
	}
	if len(f.Victims) == 0 {
		return true
	}
	ha, hb := false, false
	for _, v := range f.Victims {
		ha, hb = ha || v == a, hb || v == b
	}
	return ha && hb
}

// comparePairs lists the file's comparisons one pair at a time.
func comparePairs(f *File) []report.ComparePair {
	var out []report.ComparePair
	for _, c := range f.Compare {
		for _, b := range c.Baseline {
			out = append(out, report.ComparePair{Model: c.Model, Baseline: b})
		}
	}
	return out
}

// outcomeBits are one victim's per-image clean and adversarial
// correctness in a cell.
type outcomeBits struct{ clean, adv []bool }

func bitsOf(v *report.VictimResult) (*outcomeBits, error) {
	if v.Outcomes == nil {
		return nil, fmt.Errorf("victim %s has no per-image outcomes", v.Name)
	}
	c, err := report.UnpackBits(v.Outcomes.Clean, v.Outcomes.N)
	if err != nil {
		return nil, err
	}
	a, err := report.UnpackBits(v.Outcomes.Adv, v.Outcomes.N)
	if err != nil {
		return nil, err
	}
	return &outcomeBits{c, a}, nil
}

// pairedBits accumulates one comparison's items.
type pairedBits struct {
	fooledM, fooledB, bothClean []bool
	cleanM, cleanB              []bool
	asrM, asrB                  [2]int // fooled, correct
	attackers                   int
}

func (p *pairedBits) add(m, b *outcomeBits) {
	p.attackers++
	for i := range m.clean {
		p.fooledM = append(p.fooledM, m.clean[i] && !m.adv[i])
		p.fooledB = append(p.fooledB, b.clean[i] && !b.adv[i])
		p.bothClean = append(p.bothClean, m.clean[i] && b.clean[i])
		p.cleanM = append(p.cleanM, m.clean[i])
		p.cleanB = append(p.cleanB, b.clean[i])
		if m.clean[i] {
			p.asrM[1]++
			if !m.adv[i] {
				p.asrM[0]++
			}
		}
		if b.clean[i] {
			p.asrB[1]++
			if !b.adv[i] {
				p.asrB[0]++
			}
		}
	}
}

func (p *pairedBits) comparison(c report.Comparison) report.Comparison {
	c.Attackers = p.attackers
	c.ModelASR, c.BaselineASR = metrics.NewRate(p.asrM[0], p.asrM[1]), metrics.NewRate(p.asrB[0], p.asrB[1])
	c.Delta, _ = metrics.NewPairedDiff(p.fooledM, p.fooledB, p.bothClean)
	c.DeltaP = metrics.McNemar(c.Delta.FirstOnly, c.Delta.SecondOnly)
	c.CleanDelta, _ = metrics.NewPairedDiff(p.cleanM, p.cleanB, nil)
	c.CleanP = metrics.McNemar(c.CleanDelta.FirstOnly, c.CleanDelta.SecondOnly)
	return c
}

// compareAll computes the comparisons res.Compare asks for from the cells'
// per-image outcomes: for every pair and every attack and ε, one row per
// attacker whose cell evaluated both victims (white-box cells, where the
// attacker is one of them, are left out) and a row pooled over them.
func compareAll(res *report.ScenarioResult) ([]report.Comparison, error) {
	var out []report.Comparison
	type group struct {
		attack string
		eps    float64
	}
	for _, pair := range res.Compare {
		var groups []group
		pooled := map[group]*pairedBits{}
		selected := map[group]bool{}
		var rows []report.Comparison
		for i := range res.Cells {
			c := &res.Cells[i]
			var vm, vb *report.VictimResult
			for j := range c.Result.Victims {
				switch v := &c.Result.Victims[j]; v.Name {
				case pair.Model:
					vm = v
				case pair.Baseline:
					vb = v
				}
			}
			if vm == nil || vb == nil || vm.WhiteBox || vb.WhiteBox {
				continue
			}
			bm, err := bitsOf(vm)
			if err != nil {
				return nil, err
			}
			bb, err := bitsOf(vb)
			if err != nil {
				return nil, err
			}
			if len(bm.clean) != len(bb.clean) {
				return nil, fmt.Errorf("cell %d: %s and %s were evaluated on %d and %d images", c.Index, pair.Model, pair.Baseline, len(bm.clean), len(bb.clean))
			}
			g := group{c.Attack, c.Eps}
			if pooled[g] == nil {
				groups, pooled[g] = append(groups, g), &pairedBits{}
			}
			selected[g] = c.Result.StrengthSelection != nil
			pooled[g].add(bm, bb)
			one := &pairedBits{}
			one.add(bm, bb)
			rows = append(rows, one.comparison(report.Comparison{Model: pair.Model, Baseline: pair.Baseline, Attack: c.Attack, Eps: c.Eps,
				StrengthSelected: selected[g], Attacker: c.Attacker}))
		}
		for _, g := range groups {
			out = append(out, pooled[g].comparison(report.Comparison{Model: pair.Model, Baseline: pair.Baseline, Attack: g.attack, Eps: g.eps,
				StrengthSelected: selected[g]}))
			for _, r := range rows {
				if r.Attack == g.attack && r.Eps == g.eps {
					out = append(out, r)
				}
			}
		}
	}
	return out, nil
}
