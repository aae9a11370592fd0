package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/provenance"
)

// Plan is a parsed scenario with its cells enumerated: what will run,
// before anything is loaded.
type Plan struct {
	File   *File
	Ref    provenance.File // the scenario file and its sha256
	Pool   []*PoolEntry
	Attack []*Attacker
	Cells  []*PlannedCell
}

// PoolEntry is a model of the pool.
type PoolEntry struct {
	ModelEntry
	Spec string // the file to load: a path resolved against the scenario's folder, or zoo:NAME
}

// Axes are the entry's DUMB axes.
func (p *PoolEntry) Axes() Axes { return Axes{p.Source, p.Arch, p.Balance} }

// Attacker is what crafts: one pool model, an ensemble of pool models, or
// a Bayesian surrogate set.
type Attacker struct {
	Name    string
	Kind    string // "model", "ensemble" or "set"
	Members []*PoolEntry
	Set     string // the set's spec, for Kind "set"
	Axes
	Line int
}

// PlannedCell is one crafting run and the victims it is evaluated on.
type PlannedCell struct {
	Index    int
	Attacker *Attacker
	Entry    *AttackEntry
	Spec     attacks.Spec
	Params   attacks.Params // as given (Set marks which)
	Eps      float64        // NaN: the attack's default or the selection's
	Target   attacks.TargetMode
	Strength *StrengthPlan
	Victims  []*PoolEntry
}

// Label names the cell for people: attack, ε and attacker.
func (c *PlannedCell) Label() string {
	eps := "default ε"
	if !math.IsNaN(c.Eps) {
		eps = fmt.Sprintf("ε %g", c.Eps)
	}
	if c.Strength != nil {
		eps = "selected strength"
	}
	return fmt.Sprintf("%s (%s) on %s", c.Entry.label(), eps, c.Attacker.Name)
}

// NewPlan enumerates a parsed scenario's cells. data is the scenario
// file's bytes (for its sha256) and name how it is referred to.
func NewPlan(f *File, name string, data []byte) (*Plan, error) {
	h := sha256.Sum256(data)
	p := &Plan{File: f, Ref: provenance.File{Path: name, SHA256: hex.EncodeToString(h[:])}}
	byName := map[string]*PoolEntry{}
	for _, m := range f.Models {
		e := &PoolEntry{ModelEntry: m, Spec: resolvePath(name, m.File)}
		p.Pool = append(p.Pool, e)
		byName[m.Name] = e
	}
	attackers := map[string]*Attacker{}
	for _, e := range p.Pool {
		attackers[e.Name] = &Attacker{Name: e.Name, Kind: "model", Members: []*PoolEntry{e}, Axes: e.Axes(), Line: e.Line}
	}
	for _, s := range f.Surrogates {
		a := &Attacker{Name: s.Name, Kind: "ensemble", Line: s.Line}
		if s.Set != "" {
			a.Kind, a.Set = "set", resolvePath(name, s.Set)
		}
		for _, m := range s.Members {
			a.Members = append(a.Members, byName[m])
		}
		a.Axes = Axes{Source: s.Source, Arch: s.Arch, Balance: s.Balance}
		if err := a.defaultAxes(name, s); err != nil {
			return nil, err
		}
		attackers[s.Name] = a
	}
	// Attackers and victims in file order: models, then surrogates.
	var order []string
	for _, m := range f.Models {
		order = append(order, m.Name)
	}
	for _, s := range f.Surrogates {
		order = append(order, s.Name)
	}
	pick := func(names []string) []string {
		if len(names) == 0 {
			return order
		}
		return names
	}
	victimsOf := map[string][]*PoolEntry{}
	var attackerNames []string
	if f.Matrix == "pairs" {
		for _, pr := range f.Pairs {
			if _, dup := victimsOf[pr.Attacker]; !dup {
				attackerNames = append(attackerNames, pr.Attacker)
			}
			for _, v := range pr.Victims {
				if !slices.Contains(victimsOf[pr.Attacker], byName[v]) {
					victimsOf[pr.Attacker] = append(victimsOf[pr.Attacker], byName[v])
				}
			}
		}
	} else {
		var victims []*PoolEntry
		for _, v := range f.Victims {
			victims = append(victims, byName[v])
		}
		if len(f.Victims) == 0 {
			victims = p.Pool
		}
		attackerNames = pick(f.Attackers)
		for _, a := range attackerNames {
			victimsOf[a] = victims
		}
	}
	for _, a := range attackerNames {
		p.Attack = append(p.Attack, attackers[a])
	}
	for _, entry := range f.Attacks {
		entry := entry
		spec, err := attacks.Lookup(entry.Attack)
		if err != nil {
			return nil, err
		}
		target := attacks.Untargeted
		if entry.Targeted != "" {
			target, _ = attacks.ParseTargetMode(entry.Targeted)
		}
		for _, eps := range entry.epsValues(f.Budget) {
			params, err := entry.params(spec, eps, f.Budget)
			if err != nil {
				return nil, &FileError{File: name, Line: entry.Line, Msg: err.Error()}
			}
			for _, a := range p.Attack {
				c := &PlannedCell{Index: len(p.Cells), Attacker: a, Entry: &entry, Spec: spec, Params: params, Eps: eps,
					Target: target, Victims: victimsOf[a.Name]}
				if entry.SelectStrength != nil {
					c.Strength = &StrengthPlan{Key: spec.Strength.Key, Grid: entry.SelectStrength.Grid,
						GridGiven: len(entry.SelectStrength.Grid) > 0, SSIMMin: attacks.DefaultSSIMMin}
					if v := entry.SelectStrength.SSIMMin; v != nil {
						c.Strength.SSIMMin = *v
					}
				}
				if err := spec.CheckSurrogates(max(len(a.Members), 1)); err != nil && a.Kind != "set" {
					return nil, &FileError{File: name, Line: entry.Line, Msg: fmt.Sprintf("attack %s on attacker %s: %v", entry.label(), a.Name, err)}
				}
				p.Cells = append(p.Cells, c)
			}
		}
	}
	return p, nil
}

// defaultAxes fills a surrogate group's axes from its members where they
// agree; an architecture mix is named by its members' architectures.
func (a *Attacker) defaultAxes(file string, s SurrogateEntry) error {
	if len(a.Members) == 0 {
		return nil
	}
	var sources, archs, balances []string
	for _, m := range a.Members {
		sources = appendNew(sources, m.Source)
		archs = appendNew(archs, m.Arch)
		balances = appendNew(balances, m.Balance)
	}
	if a.Source == "" {
		if len(sources) > 1 {
			return &FileError{File: file, Line: s.Line, Msg: fmt.Sprintf("surrogate %s mixes sources %s: say which images it attacks with source:", s.Name, strings.Join(sources, ", "))}
		}
		a.Source = sources[0]
	}
	if a.Arch == "" {
		slices.Sort(archs)
		a.Arch = strings.Join(archs, "+")
	}
	if a.Balance == "" {
		slices.Sort(balances)
		a.Balance = strings.Join(balances, "+")
	}
	return nil
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
