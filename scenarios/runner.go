package scenarios

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/report"
)

// Runner runs a plan's cells: crafts each once (or takes it from the
// cache), evaluates every victim on it and on the noise control, and
// assembles the results.
type Runner struct {
	Plan *Plan
	// Cache, when not nil, keeps every finished crafting run and victim
	// evaluation, so that an interrupted run resumes and a repeated one is
	// nearly free.
	Cache *Cache
	// Shard, when Count > 1, runs only the cells i with i mod Count ==
	// Index.
	Shard report.Shard
	// Progress, when not nil, is told after each cell how many of this
	// run's cells are done, and what the cell was.
	Progress func(done, total int, cell string, cached bool)

	models map[string]Model
	data   map[string]Data
	clean  map[string][]float32 // victim|source → clean logits
	sets   map[string][]Model

	prepared   bool
	poolRefs   []report.PoolModel
	sourceRefs []report.SourceRef
	warnings   []string
}

// Prepare loads the models and data the run needs and checks that they
// fit together, so that bad input fails before any output is made. Run
// calls it when it has not been called.
func (r *Runner) Prepare() error {
	if r.prepared {
		return nil
	}
	var refs report.ScenarioResult
	if err := r.load(r.shardCells(), &refs); err != nil {
		return err
	}
	r.poolRefs, r.sourceRefs, r.prepared = refs.Models, refs.Sources, true
	return nil
}

// ErrInterrupted wraps the context's error when a run stops early; the
// results of the cells done so far are returned with it.
var ErrInterrupted = errors.New("interrupted")

// Run runs the cells of the runner's shard. When ctx is cancelled it stops
// after the cell in flight is dropped, and returns the results of the cells
// done so far (marked incomplete) with an error wrapping ErrInterrupted.
func (r *Runner) Run(ctx context.Context) (*report.ScenarioResult, error) {
	start := time.Now()
	f := r.Plan.File
	res := &report.ScenarioResult{Schema: report.SchemaVersion, Kind: "scenario", ToolVersion: version.String(),
		StartedAt: start.UTC().Format(time.RFC3339),
		Scenario:  report.ScenarioRef{Name: f.Name, Description: f.Description, File: r.Plan.Ref},
		Seed:      f.Seed, Limit: f.Limit, Sample: sampleOf(f), Batch: batchOf(f), Matrix: matrixOf(f),
		Control: controlOn(f), CellsPlanned: len(r.Plan.Cells), Compare: comparePairs(f)}
	if r.Shard.Count > 1 {
		s := r.Shard
		res.Shard = &s
	}
	cells := r.shardCells()
	if err := r.Prepare(); err != nil {
		return nil, err
	}
	res.Models, res.Sources = r.poolRefs, r.sourceRefs
	for i, pc := range cells {
		cell, cached, err := r.runCell(ctx, pc)
		if err != nil {
			if ctx.Err() != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("interrupted: %d of %d cells done", i, len(cells)))
				Summarize(res)
				res.WallSeconds = time.Since(start).Seconds()
				return res, fmt.Errorf("%w after %d of %d cells: %v", ErrInterrupted, i, len(cells), ctx.Err())
			}
			return nil, fmt.Errorf("cell %d, %s: %w", pc.Index, pc.Label(), err)
		}
		res.Cells = append(res.Cells, *cell)
		if r.Progress != nil {
			r.Progress(i+1, len(cells), pc.Label(), cached)
		}
	}
	res.Warnings = append(res.Warnings, r.warnings...)
	Summarize(res)
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// shardCells are the cells this run does.
func (r *Runner) shardCells() []*PlannedCell {
	if r.Shard.Count <= 1 {
		return r.Plan.Cells
	}
	var out []*PlannedCell
	for _, c := range r.Plan.Cells {
		if c.Index%r.Shard.Count == r.Shard.Index {
			out = append(out, c)
		}
	}
	return out
}

// load opens the models and data the cells need, checking that they fit
// together: every model takes the sources' image shape and outputs at
// least their classes. Errors name the scenario file and line.
func (r *Runner) load(cells []*PlannedCell, res *report.ScenarioResult) error {
	f, file := r.Plan.File, r.Plan.Ref.Path
	r.models, r.data, r.clean, r.sets = map[string]Model{}, map[string]Data{}, map[string][]float32{}, map[string][]Model{}
	// Every pool model is loaded (results list them all); data only for
	// the sources attacked.
	for _, e := range r.Plan.Pool {
		m, err := OpenModel(e.Spec)
		if err != nil {
			return &FileError{File: file, Line: e.Line, Msg: fmt.Sprintf("model %s: %v", e.Name, err)}
		}
		r.models[e.Name] = m
		res.Models = append(res.Models, report.PoolModel{Name: e.Name, Source: e.Source, Arch: e.Arch, Balance: e.Balance, Tags: e.Tags, ModelRef: m.Ref})
	}
	first := r.Plan.Pool[0]
	shape := r.models[first.Name].InputShape()
	for _, e := range r.Plan.Pool[1:] {
		m := r.models[e.Name]
		if err := sameKind(m, r.models[first.Name], "model "+e.Name); err != nil {
			return &FileError{File: file, Line: e.Line, Msg: err.Error()}
		}
	}
	sources := map[string]bool{}
	for _, c := range cells {
		sources[c.Attacker.Source] = true
	}
	for _, name := range keysOf(sources) {
		d, err := OpenData(f.Sources[name], shape, f.Limit, sampleOf(f) == "seeded", f.Seed)
		if err != nil {
			return &FileError{File: file, Msg: fmt.Sprintf("source %s: %v", name, err)}
		}
		if d.Labels == nil {
			return &FileError{File: file, Msg: fmt.Sprintf("source %s (%s) has no labels", name, f.Sources[name])}
		}
		k := r.models[first.Name].NumClasses()
		if d.Classes > k {
			return &FileError{File: file, Line: first.Line, Msg: fmt.Sprintf("source %s has %d classes; model %s outputs %d", name, d.Classes, first.Name, k)}
		}
		r.data[name] = d
		res.Sources = append(res.Sources, report.SourceRef{Name: name, Data: d.Ref})
	}
	for _, c := range cells {
		if c.Attacker.Kind != "set" || r.sets[c.Attacker.Set] != nil {
			continue
		}
		specs, _, err := OpenSurrogateSet(c.Attacker.Set)
		if err != nil {
			return &FileError{File: file, Line: c.Attacker.Line, Msg: fmt.Sprintf("surrogate %s: %v", c.Attacker.Name, err)}
		}
		var ms []Model
		for _, s := range specs {
			m, err := OpenModel(s)
			if err != nil {
				return &FileError{File: file, Line: c.Attacker.Line, Msg: fmt.Sprintf("surrogate %s: %v", c.Attacker.Name, err)}
			}
			if err := sameKind(m, r.models[first.Name], "surrogate "+c.Attacker.Name+" member "+s); err != nil {
				return &FileError{File: file, Line: c.Attacker.Line, Msg: err.Error()}
			}
			ms = append(ms, m)
		}
		r.sets[c.Attacker.Set] = ms
	}
	return nil
}

// surrogates are the models an attacker crafts on, and whether it is
// attacked one member per step (a Bayesian set that says so).
func (r *Runner) surrogates(a *Attacker) ([]Model, bool, error) {
	if a.Kind == "set" {
		_, one, err := OpenSurrogateSet(a.Set)
		return r.sets[a.Set], one, err
	}
	var ms []Model
	for _, m := range a.Members {
		ms = append(ms, r.models[m.Name])
	}
	return ms, false, nil
}

// runCell crafts one cell (or takes it from the cache) and evaluates its
// victims.
func (r *Runner) runCell(ctx context.Context, pc *PlannedCell) (*report.Cell, bool, error) {
	f := r.Plan.File
	surr, onePerStep, err := r.surrogates(pc.Attacker)
	if err != nil {
		return nil, false, err
	}
	params := pc.Params
	if _, ok := pc.Spec.Param("one_per_step"); ok && onePerStep && !params.Has("one_per_step") {
		params.Extra = maps(params.Extra)
		params.Extra["one_per_step"] = 1
	}
	var strength *StrengthPlan
	if pc.Strength != nil {
		s := *pc.Strength // each cell fills in its own grid
		strength = &s
	}
	data := r.data[pc.Attacker.Source]
	cell := &Cell{Attack: pc.Spec, Params: params, Targeting: pc.Target, Surrogates: surr, Data: data,
		Seed: f.Seed, Batch: batchOf(f), Strength: strength}
	if err := cell.Check(); err != nil {
		return nil, false, err
	}
	key := cellKey(cell)
	out, cached, err := r.craft(ctx, cell, key)
	if err != nil {
		return nil, false, err
	}
	res := out.Result
	rc := &report.Cell{Index: pc.Index, Key: key, ExamplesSHA256: examplesHash(out.Clean, out.Adv), Attacker: pc.Attacker.Name, Source: pc.Attacker.Source,
		Arch: pc.Attacker.Arch, Balance: pc.Attacker.Balance, Attack: pc.Entry.label(), Eps: res.Params.Eps,
		Budget: report.Budget{Norm: res.Params.Norm, Eps: res.Params.Eps, Steps: res.Params.Steps, Alpha: res.Params.Alpha}}
	if pc.Attacker.Kind != "model" {
		for _, m := range surr {
			rc.Members = append(rc.Members, m.Ref.Path)
		}
	}
	if sel := res.StrengthSelection; sel != nil {
		rc.NoEffectiveStrength = true
		for _, row := range sel.Table {
			if row.Qualifies && row.ASR > 0 {
				rc.NoEffectiveStrength = false
			}
		}
	}
	if rc.NoEffectiveStrength {
		r.warnings = append(r.warnings, fmt.Sprintf("cell %d, %s: strength selection found no strength that fools %s on any image within the SSIM floor; it took the smallest, so the cell measures nothing",
			pc.Index, pc.Label(), pc.Attacker.Name))
	}
	hasEps := pc.Spec.Strength != nil && pc.Spec.Strength.Key == "eps"
	norm, _ := attacks.ParseNorm(res.Params.Norm)
	var control []float32
	var controlDesc string
	if controlOn(f) {
		control, controlDesc = controlImages(out.Clean, out.Adv, res.N, norm, res.Params.Eps, hasEps, f.Seed)
	}
	for _, v := range pc.Victims {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		vr, hit, err := r.victim(pc, v, key, out, control, data)
		if err != nil {
			return nil, false, fmt.Errorf("victim %s: %w", v.Name, err)
		}
		cached = cached && hit
		res.Victims = append(res.Victims, *vr)
	}
	if controlDesc != "" {
		res.Preprocessing = Preprocessing + "; noise control: " + controlDesc
	}
	rc.Result = res
	return rc, cached, nil
}

// craft runs the crafting part of a cell, or loads it from the cache.
func (r *Runner) craft(ctx context.Context, cell *Cell, key string) (*Outcome, bool, error) {
	if e, adv, ok := r.Cache.GetCell(key); ok {
		x := cell.Data.Images()
		return &Outcome{Result: e.Result, Clean: x, Adv: adv, Shape: cell.Data.Shape}, true, nil
	}
	out, err := cell.Craft(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := r.Cache.PutCell(key, &cellEntry{Result: out.Result}, out.Adv, out.Shape); err != nil {
		return nil, false, err
	}
	return out, false, nil
}

// victim evaluates one victim on a cell's images (clean, adversarial and
// noise control), or loads the evaluation from the cache.
func (r *Runner) victim(pc *PlannedCell, v *PoolEntry, key string, out *Outcome, control []float32, data Data) (*report.VictimResult, bool, error) {
	m := r.models[v.Name]
	vkey := hashKey(key, m.Ref.SHA256, fmt.Sprint(control != nil), "victim-v1")
	if vr, ok := r.Cache.GetVictim(vkey); ok {
		// The key is the victim's bytes, not its name: another pool entry
		// with the same file (a model pruned at sparsity 0, a copy) may
		// have stored it. What names the victim comes from this entry.
		labelVictim(vr, pc, v, m)
		return vr, true, nil
	}
	k := m.NumClasses()
	n, batch := out.Result.N, batchOf(r.Plan.File)
	zc, err := r.cleanLogits(v.Name, pc.Attacker.Source, m, out.Clean, batch)
	if err != nil {
		return nil, false, err
	}
	za := make([]float32, n*k)
	if err := models.LogitsInBatches(m, za, out.Adv, batch); err != nil {
		return nil, false, err
	}
	labels, targets := data.Labels, out.Result.Targets
	scores, err := metrics.ScoreVictim(zc, za, labels, targets, k)
	if err != nil {
		return nil, false, err
	}
	vr := &report.VictimResult{Scores: scores}
	labelVictim(vr, pc, v, m)
	for _, s := range out.Result.Surrogates {
		vr.Surrogate = vr.Surrogate || s.SHA256 == m.Ref.SHA256
	}
	cleanOK, advOK := correct(zc, labels, k), correct(za, labels, k)
	vr.Outcomes = &report.Outcomes{N: n, Clean: report.PackBits(cleanOK), Adv: report.PackBits(advOK)}
	if control != nil {
		zn := make([]float32, n*k)
		if err := models.LogitsInBatches(m, zn, control, batch); err != nil {
			return nil, false, err
		}
		cs, err := metrics.ScoreVictim(zc, zn, labels, targets, k)
		if err != nil {
			return nil, false, err
		}
		ctrlOK := correct(zn, labels, k)
		vr.Control = &cs
		vr.Outcomes.Control = report.PackBits(ctrlOK)
		ex, err := metrics.NewPairedDiff(not(advOK), not(ctrlOK), cleanOK)
		if err != nil {
			return nil, false, err
		}
		vr.Excess = &ex
		vr.NoiseLevel = ex.N > 0 && ex.Lo95 <= 0
	}
	if err := r.Cache.PutVictim(vkey, vr); err != nil {
		return nil, false, err
	}
	return vr, false, nil
}

// labelVictim sets what a victim's evaluation says about the pool entry
// evaluated: its name, file, DUMB case and whether it is the attacker.
func labelVictim(vr *report.VictimResult, pc *PlannedCell, v *PoolEntry, m Model) {
	vr.Name, vr.Model = v.Name, m.Ref
	vr.Case = CaseName(Case(pc.Attacker.Axes, v.Axes()))
	vr.WhiteBox = pc.Attacker.Kind == "model" && pc.Attacker.Name == v.Name
}

// cleanLogits evaluates a victim on a source's clean images once.
func (r *Runner) cleanLogits(victim, source string, m Model, x []float32, batch int) ([]float32, error) {
	id := victim + "|" + source
	if z, ok := r.clean[id]; ok {
		return z, nil
	}
	k := m.NumClasses()
	z := make([]float32, len(x)/max(1, imageSize(m))*k)
	if err := models.LogitsInBatches(m, z, x, batch); err != nil {
		return nil, err
	}
	r.clean[id] = z
	return z, nil
}

func imageSize(m models.Classifier) int {
	n := 1
	for _, d := range m.InputShape() {
		n *= d
	}
	return n
}

func correct(z []float32, labels []int, k int) []bool {
	pred := metrics.Argmax(z, k)
	out := make([]bool, len(labels))
	for i, y := range labels {
		out[i] = pred[i] == y
	}
	return out
}

func not(b []bool) []bool {
	out := make([]bool, len(b))
	for i, v := range b {
		out[i] = !v
	}
	return out
}

// cellKey is the content address of a crafting run: everything that
// decides its bytes.
func cellKey(c *Cell) string {
	type surrogate struct{ Path, SHA256 string }
	var surr []surrogate
	for _, m := range c.Surrogates {
		surr = append(surr, surrogate{m.Ref.Path, m.Ref.SHA256})
	}
	extra := make([][2]any, 0, len(c.Params.Extra))
	for _, k := range keysOf(c.Params.Extra) {
		extra = append(extra, [2]any{k, c.Params.Extra[k]})
	}
	set := keysOf(c.Params.Set)
	desc := struct {
		Tool, Attack            string
		Eps, Alpha, Momentum    float64
		Steps                   int
		Norm, Fusion, Targeting string
		Extra                   [][2]any
		Given                   []string
		Strength                *StrengthPlan
		Surrogates              []surrogate
		Data                    report.DataRef
		Seed                    uint64
		Batch                   int
		Quantize                bool
	}{version.String(), c.Attack.Name, c.Params.Eps, c.Params.Alpha, c.Params.Momentum, c.Params.Steps,
		c.Params.Norm.String(), c.Params.Fusion.String(), c.Targeting.String(), extra, set, c.Strength,
		surr, c.Data.Ref, c.Seed, c.Batch, c.Quantize}
	b, err := json.Marshal(desc)
	if err != nil {
		panic(err) // plain values only
	}
	return hashKey(string(b))
}

func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sampleOf(f *File) string {
	if f.Sample == "" {
		return "first"
	}
	return f.Sample
}

func batchOf(f *File) int {
	if f.Batch == 0 {
		return 128
	}
	return f.Batch
}

func matrixOf(f *File) string {
	if f.Matrix == "" {
		return "dumb"
	}
	return f.Matrix
}

func controlOn(f *File) bool { return f.Control == nil || *f.Control }

// Summarize fills in a results value's per-case summary and transfer
// matrices from its cells (also after merging shards).
func Summarize(res *report.ScenarioResult) {
	sort.SliceStable(res.Cells, func(i, j int) bool { return res.Cells[i].Index < res.Cells[j].Index })
	res.Summary, res.Matrices = nil, nil
	type group struct {
		attack string
		eps    float64
	}
	var groups []group
	byGroup := map[group][]*report.Cell{}
	for i := range res.Cells {
		c := &res.Cells[i]
		g := group{c.Attack, c.Eps}
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], c)
	}
	for _, g := range groups {
		cases := map[string][]*report.VictimResult{}
		var attackers, victims []string
		for _, c := range byGroup[g] {
			attackers = appendNew(attackers, c.Attacker)
			for j := range c.Result.Victims {
				v := &c.Result.Victims[j]
				victims = appendNew(victims, v.Name)
				name := v.Case
				if v.WhiteBox {
					name = "C1-white-box"
				}
				cases[name] = append(cases[name], v)
			}
		}
		selected := byGroup[g][0].Result.StrengthSelection != nil
		for _, name := range []string{"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C1-white-box"} {
			if vs := cases[name]; len(vs) > 0 {
				s := caseSummary(g.attack, g.eps, name, vs)
				s.StrengthSelected = selected
				res.Summary = append(res.Summary, s)
			}
		}
		res.Matrices = append(res.Matrices, transferMatrix(g.attack, g.eps, byGroup[g], attackers, victims))
	}
	res.Comparisons = nil
	if cs, err := compareAll(res); err != nil {
		res.Warnings = append(res.Warnings, "compare: "+err.Error())
	} else {
		res.Comparisons = cs
	}
}

func caseSummary(attack string, eps float64, name string, vs []*report.VictimResult) report.CaseSummary {
	s := report.CaseSummary{Attack: attack, Eps: eps, Case: name, Pairs: len(vs)}
	var num, den, n int
	var sum, sq, ex float64
	exN := 0
	for _, v := range vs {
		r := v.ASROnCorrect
		num += r.Num
		den += r.Den
		if r.Den > 0 {
			sum += r.Value
			sq += r.Value * r.Value
			n++
		}
		if v.Excess != nil && v.Excess.N > 0 {
			ex += v.Excess.Value
			exN++
		}
		if v.NoiseLevel {
			s.NoiseLevelPairs++
		}
	}
	if n > 0 {
		s.MeanASR = sum / float64(n)
		if n > 1 {
			s.SDASR = math.Sqrt(max(0, (sq-sum*sum/float64(n))/float64(n-1)))
		}
	}
	s.Pooled = metrics.NewRate(num, den)
	if exN > 0 {
		m := ex / float64(exN)
		s.MeanExcess = &m
	}
	return s
}

func transferMatrix(attack string, eps float64, cells []*report.Cell, attackers, victims []string) report.TransferMatrix {
	m := report.TransferMatrix{Attack: attack, Eps: eps, Attackers: attackers, Victims: victims}
	row := map[string]int{}
	for i, a := range attackers {
		row[a] = i
	}
	col := map[string]int{}
	for j, v := range victims {
		col[v] = j
	}
	m.ASR = make([][]*float64, len(attackers))
	m.Cases = make([][]string, len(attackers))
	hasExcess := false
	excess := make([][]*float64, len(attackers))
	for i := range attackers {
		m.ASR[i] = make([]*float64, len(victims))
		m.Cases[i] = make([]string, len(victims))
		excess[i] = make([]*float64, len(victims))
	}
	for _, c := range cells {
		i := row[c.Attacker]
		for _, v := range c.Result.Victims {
			j := col[v.Name]
			if v.ASROnCorrect.Den > 0 {
				a := v.ASROnCorrect.Value
				m.ASR[i][j] = &a
			}
			m.Cases[i][j] = v.Case
			if v.WhiteBox {
				m.Cases[i][j] += "*"
			}
			if v.Excess != nil && v.Excess.N > 0 {
				e := v.Excess.Value
				excess[i][j], hasExcess = &e, true
			}
		}
	}
	if hasExcess {
		m.Excess = excess
	}
	return m
}

// examplesHash is the sha256 of the clean and adversarial images.
func examplesHash(clean, adv []float32) string {
	h := sha256.New()
	var b [4]byte
	for _, xs := range [][]float32{clean, adv} {
		for _, v := range xs {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
