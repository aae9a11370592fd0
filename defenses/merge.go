package defenses

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/scenarios"
)

// Pool is a base model and fine-tunes of it: the input of every merging
// method. The fine-tunes share the base's graph — the same nodes, tensor
// names, initializer names, types and shapes, and the same non-weight
// initializers — and differ only in weight values.
type Pool struct {
	// Base is the base (pretrained) model; its graph carries the merge.
	Base      *models.Model
	BaseONNX  []byte
	BaseFile  provenance.File
	Models    []*models.Model
	Files     []provenance.File
	Params    []models.Param // the base's float parameters, in file order
	Theta0    [][]float32    // the base's values, per parameter
	Tau       [][][]float32  // task vectors τ_t = θ_t − θ₀, per model and parameter
	Differing []string       // parameters some fine-tune changed
}

// OpenPool loads a base model and its fine-tunes (ONNX paths or zoo:NAME)
// and checks that they share one graph.
func OpenPool(base string, finetunes []string) (*Pool, error) {
	if len(finetunes) == 0 {
		return nil, errors.New("no fine-tuned models to merge (give --model at least once)")
	}
	b, f, err := scenarios.ReadModel(base)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	var fts [][]byte
	var files []provenance.File
	for _, s := range finetunes {
		fb, ff, err := scenarios.ReadModel(s)
		if err != nil {
			return nil, err
		}
		fts = append(fts, fb)
		files = append(files, ff)
	}
	return NewPool(f, b, files, fts)
}

// NewPool is OpenPool for models already read.
func NewPool(baseFile provenance.File, base []byte, files []provenance.File, finetunes [][]byte) (*Pool, error) {
	if len(files) != len(finetunes) {
		return nil, fmt.Errorf("%d names for %d fine-tunes", len(files), len(finetunes))
	}
	if len(finetunes) == 0 {
		return nil, errors.New("no fine-tuned models to merge")
	}
	bm, err := models.Load(base)
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", baseFile.Path, err)
	}
	var bp pb.ModelProto
	if err := proto.Unmarshal(base, &bp); err != nil {
		return nil, fmt.Errorf("base %s: %w", baseFile.Path, err)
	}
	p := &Pool{Base: bm, BaseONNX: base, BaseFile: baseFile, Files: files, Params: bm.Params()}
	for _, par := range p.Params {
		v, _ := bm.ParamValues(par.Name)
		p.Theta0 = append(p.Theta0, v)
	}
	differs := make([]bool, len(p.Params))
	for t, ft := range finetunes {
		name := files[t].Path
		var fp pb.ModelProto
		if err := proto.Unmarshal(ft, &fp); err != nil {
			return nil, fmt.Errorf("model %s: not an ONNX model: %v", name, err)
		}
		if err := sameGraph(&bp, &fp, bm); err != nil {
			return nil, fmt.Errorf("model %s does not share the base's graph (%s): %w", name, baseFile.Path, err)
		}
		m, err := models.Load(ft)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		tau := make([][]float32, len(p.Params))
		for i, par := range p.Params {
			v, err := m.ParamValues(par.Name)
			if err != nil || len(v) != len(p.Theta0[i]) {
				return nil, fmt.Errorf("model %s: parameter %q does not match the base's", name, par.Name)
			}
			d := make([]float32, len(v))
			for j := range v {
				d[j] = v[j] - p.Theta0[i][j]
				if d[j] != 0 {
					differs[i] = true
				}
			}
			tau[i] = d
		}
		p.Models = append(p.Models, m)
		p.Tau = append(p.Tau, tau)
	}
	for i, par := range p.Params {
		if differs[i] {
			p.Differing = append(p.Differing, par.Name)
		}
	}
	return p, nil
}

// sameGraph checks that a fine-tune's graph is the base's: the same opset,
// inputs, outputs and nodes (op, tensor names, attributes), and the same
// initializers by name, type and shape, equal in value where they are not
// weights (shape constants, Clip bounds).
func sameGraph(base, ft *pb.ModelProto, bm *models.Model) error {
	opsets := func(m *pb.ModelProto) string {
		var s []string
		for _, o := range m.GetOpsetImport() {
			s = append(s, fmt.Sprintf("%s:%d", o.GetDomain(), o.GetVersion()))
		}
		slices.Sort(s)
		return strings.Join(s, ",")
	}
	if a, b := opsets(base), opsets(ft); a != b {
		return fmt.Errorf("opsets %s, the base's %s", b, a)
	}
	bg, fg := base.GetGraph(), ft.GetGraph()
	if err := sameValueInfos("input", bg.GetInput(), fg.GetInput()); err != nil {
		return err
	}
	if err := sameValueInfos("output", bg.GetOutput(), fg.GetOutput()); err != nil {
		return err
	}
	if len(bg.GetNode()) != len(fg.GetNode()) {
		return fmt.Errorf("%d nodes, the base has %d", len(fg.GetNode()), len(bg.GetNode()))
	}
	for i, bn := range bg.GetNode() {
		fn := fg.GetNode()[i]
		switch {
		case bn.GetOpType() != fn.GetOpType() || bn.GetDomain() != fn.GetDomain():
			return fmt.Errorf("node %d is %s, the base's is %s", i, fn.GetOpType(), bn.GetOpType())
		case !slices.Equal(bn.GetInput(), fn.GetInput()) || !slices.Equal(bn.GetOutput(), fn.GetOutput()):
			return fmt.Errorf("node %d (%s) reads %v and writes %v; the base's reads %v and writes %v",
				i, bn.GetOpType(), fn.GetInput(), fn.GetOutput(), bn.GetInput(), bn.GetOutput())
		case !sameAttributes(bn.GetAttribute(), fn.GetAttribute()):
			return fmt.Errorf("node %d (%s) has other attributes than the base's", i, bn.GetOpType())
		}
	}
	params := map[string]bool{}
	for _, p := range bm.Params() {
		params[p.Name] = true
	}
	finit := map[string]*pb.TensorProto{}
	for _, t := range fg.GetInitializer() {
		finit[t.GetName()] = t
	}
	if len(finit) != len(bg.GetInitializer()) {
		return fmt.Errorf("%d initializers, the base has %d", len(finit), len(bg.GetInitializer()))
	}
	for _, bt := range bg.GetInitializer() {
		ftt, ok := finit[bt.GetName()]
		switch {
		case !ok:
			return fmt.Errorf("no initializer %q", bt.GetName())
		case bt.GetDataType() != ftt.GetDataType():
			return fmt.Errorf("initializer %q has element type %d, the base's %d", bt.GetName(), ftt.GetDataType(), bt.GetDataType())
		case !slices.Equal(bt.GetDims(), ftt.GetDims()):
			return fmt.Errorf("initializer %q has shape %v, the base's %v", bt.GetName(), ftt.GetDims(), bt.GetDims())
		case !params[bt.GetName()] && !sameTensorData(bt, ftt):
			return fmt.Errorf("initializer %q is not a weight (a shape or a bound) and differs from the base's", bt.GetName())
		}
	}
	return nil
}

func sameValueInfos(what string, a, b []*pb.ValueInfoProto) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d graph %ss, the base has %d", len(b), what, len(a))
	}
	for i := range a {
		if a[i].GetName() != b[i].GetName() || !proto.Equal(a[i].GetType(), b[i].GetType()) {
			return fmt.Errorf("graph %s %q differs from the base's %q", what, b[i].GetName(), a[i].GetName())
		}
	}
	return nil
}

func sameAttributes(a, b []*pb.AttributeProto) bool {
	if len(a) != len(b) {
		return false
	}
	byName := map[string]*pb.AttributeProto{}
	for _, x := range a {
		byName[x.GetName()] = x
	}
	for _, y := range b {
		x, ok := byName[y.GetName()]
		if !ok || !proto.Equal(x, y) {
			return false
		}
	}
	return true
}

func sameTensorData(a, b *pb.TensorProto) bool {
	x, y := proto.Clone(a).(*pb.TensorProto), proto.Clone(b).(*pb.TensorProto)
	x.DocString, y.DocString = nil, nil
	return proto.Equal(x, y)
}

// TaskArithmetic is Task Arithmetic's merged update λ·Σ_t τ_t (Ilharco et
// al. 2023), summed in task order in float32 as FusionBench's state-dict
// arithmetic does: θ = θ₀ + TaskArithmetic(τ, λ).
func TaskArithmetic(tvs [][]float32, lambda float32) []float32 {
	if len(tvs) == 0 {
		return nil
	}
	sum := slices.Clone(tvs[0])
	for _, tv := range tvs[1:] {
		for j, v := range tv {
			sum[j] += v
		}
	}
	for j := range sum {
		sum[j] *= lambda
	}
	return sum
}

// TIES-Merging's disjoint merges.
const (
	TIESSum  = "sum"  // FusionBench's default
	TIESMean = "mean" // the TIES paper's
)

// TIESStats describes a TIES merge.
type TIESStats struct {
	// Kept is how many entries of each task vector survived the trim.
	Kept []int `json:"kept"`
	// Conflicts counts coordinates where the trimmed task vectors have
	// entries of both signs; ZeroElected those whose summed sign was 0
	// and took the majority sign.
	Conflicts   int `json:"sign_conflicts"`
	ZeroElected int `json:"zero_sign_elected"`
}

// TIES returns TIES-Merging's merged task vector τ_m (Yadav et al. 2023)
// for flattened task vectors, as FusionBench computes it; the merged
// model is θ₀ + λ·τ_m.
//
//  1. Trim: each τ_t keeps the entries whose magnitude is at least the
//     k-th smallest magnitude of τ_t, k = d − ⌊d·keep⌋ (torch.kthvalue,
//     1-based): ⌊d·keep⌋+1 entries when magnitudes are distinct, more
//     when the threshold ties. keep = 1 keeps everything (the reference
//     fails there: kthvalue(0)).
//  2. Elect: γ = sign(Σ_t τ̂_t); coordinates with γ = 0 take the sign of
//     Σγ over all coordinates (the majority), which may itself be 0.
//  3. Disjoint merge: where γ > 0 the positive entries, elsewhere (γ ≤ 0,
//     so a coordinate left at 0 keeps the negative ones) the negative
//     entries, summed ("sum") or averaged over the entries taken ("mean",
//     dividing by max(count, 1)).
func TIES(tvs [][]float32, keep float64, merge string) ([]float32, TIESStats, error) {
	var st TIESStats
	if len(tvs) == 0 {
		return nil, st, errors.New("TIES: no task vectors")
	}
	if !(keep > 0 && keep <= 1) {
		return nil, st, fmt.Errorf("TIES: keep %v must be in (0, 1] (the fraction of each task vector kept)", keep)
	}
	if merge != TIESSum && merge != TIESMean {
		return nil, st, fmt.Errorf("TIES: merge %q: want sum or mean", merge)
	}
	d := len(tvs[0])
	trimmed := make([][]float32, len(tvs))
	for t, tv := range tvs {
		if len(tv) != d {
			return nil, st, fmt.Errorf("TIES: task vector %d has %d entries, the first %d", t, len(tv), d)
		}
		trimmed[t] = slices.Clone(tv)
		k := d - int(float64(d)*keep)
		kept := d
		if k >= 1 {
			mags := make([]float32, d)
			for j, v := range tv {
				mags[j] = float32(math.Abs(float64(v)))
			}
			slices.Sort(mags)
			thr := mags[k-1]
			kept = 0
			for j, v := range tv {
				if float32(math.Abs(float64(v))) >= thr {
					kept++
				} else {
					trimmed[t][j] = 0
				}
			}
		}
		st.Kept = append(st.Kept, kept)
	}
	// Elect.
	gamma := make([]int8, d)
	majority := 0
	for j := 0; j < d; j++ {
		var s float32
		pos, neg := false, false
		for t := range trimmed {
			v := trimmed[t][j]
			s += v
			pos = pos || v > 0
			neg = neg || v < 0
		}
		if pos && neg {
			st.Conflicts++
		}
		gamma[j] = sign32(s)
		majority += int(gamma[j])
	}
	maj := int8(0)
	if majority > 0 {
		maj = 1
	} else if majority < 0 {
		maj = -1
	}
	for j := range gamma {
		if gamma[j] == 0 {
			gamma[j] = maj
			st.ZeroElected++
		}
	}
	// Disjoint merge.
	out := make([]float32, d)
	for j := 0; j < d; j++ {
		var s float32
		n := 0
		for t := range trimmed {
			v := trimmed[t][j]
			if (gamma[j] > 0 && v > 0) || (gamma[j] <= 0 && v < 0) {
				s += v
				n++
			}
		}
		if merge == TIESMean {
			s /= float32(max(n, 1))
		}
		out[j] = s
	}
	return out, st, nil
}

func sign32(v float32) int8 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// Merge methods.
const (
	MethodTA   = "ta"
	MethodTIES = "ties"
	MethodDAM  = "dam"
)

// Merged is a merged model.
type Merged struct {
	ONNX  []byte
	Model *models.Model
	// Values are the merged weights, in Pool.Params order.
	Values [][]float32
}

// flat concatenates per-parameter tensors into one vector, FusionBench's
// state_dict_to_vector (whose key order does not change any result here).
func flat(ts [][]float32) []float32 {
	n := 0
	for _, t := range ts {
		n += len(t)
	}
	out := make([]float32, 0, n)
	for _, t := range ts {
		out = append(out, t...)
	}
	return out
}

// unflat splits v into tensors shaped like like.
func unflat(v []float32, like [][]float32) [][]float32 {
	out := make([][]float32, len(like))
	off := 0
	for i, t := range like {
		out[i] = v[off : off+len(t)]
		off += len(t)
	}
	return out
}

// TaskArithmetic merges the pool by Task Arithmetic: θ = θ₀ + λ·Σ_t τ_t
// over every float parameter (buffers such as BatchNorm statistics
// included, as FusionBench's state-dict arithmetic does).
func (p *Pool) TaskArithmetic(lambda float64) (*Merged, error) {
	if math.IsNaN(lambda) || math.IsInf(lambda, 0) {
		return nil, fmt.Errorf("--lambda %v is not a number", lambda)
	}
	vals := make([][]float32, len(p.Params))
	for i := range p.Params {
		tvs := make([][]float32, len(p.Tau))
		for t := range p.Tau {
			tvs[t] = p.Tau[t][i]
		}
		upd := TaskArithmetic(tvs, float32(lambda))
		vals[i] = addTo(p.Theta0[i], upd)
	}
	return p.finish(vals)
}

// TIES merges the pool by TIES-Merging (see TIES) over all float
// parameters flattened into one vector per model, as FusionBench does:
// θ = θ₀ + λ·τ_m.
func (p *Pool) TIES(lambda, keep float64, merge string) (*Merged, TIESStats, error) {
	if math.IsNaN(lambda) || math.IsInf(lambda, 0) {
		return nil, TIESStats{}, fmt.Errorf("--lambda %v is not a number", lambda)
	}
	tvs := make([][]float32, len(p.Tau))
	for t := range p.Tau {
		tvs[t] = flat(p.Tau[t])
	}
	tm, st, err := TIES(tvs, keep, merge)
	if err != nil {
		return nil, st, err
	}
	for j := range tm {
		tm[j] *= float32(lambda)
	}
	upd := unflat(tm, p.Theta0)
	vals := make([][]float32, len(p.Params))
	for i := range p.Params {
		vals[i] = addTo(p.Theta0[i], upd[i])
	}
	m, err := p.finish(vals)
	return m, st, err
}

func addTo(base, upd []float32) []float32 {
	out := make([]float32, len(base))
	for j := range base {
		out[j] = base[j] + upd[j]
	}
	return out
}

// finish writes merged weights into a copy of the base's graph, checks
// them and that the result loads.
func (p *Pool) finish(vals [][]float32) (*Merged, error) {
	for i, par := range p.Params {
		if err := models.CheckFinite("merged parameter "+par.Name, vals[i]); err != nil {
			return nil, err
		}
	}
	if err := checkVariances(p.BaseONNX, p.Params, vals); err != nil {
		return nil, err
	}
	m, err := models.Load(p.BaseONNX)
	if err != nil {
		return nil, err
	}
	if err := m.SetParams(vals); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := m.WriteONNX(&buf); err != nil {
		return nil, err
	}
	out, err := models.Load(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the merged model does not load: %w", err)
	}
	return &Merged{ONNX: buf.Bytes(), Model: out, Values: vals}, nil
}

// checkVariances refuses a merge that leaves a BatchNorm running variance
// at or below −ε: a merge coefficient that extrapolates (λ·T > 1 with T
// models) can do that, and the model would output NaN.
func checkVariances(onnx []byte, params []models.Param, vals [][]float32) error {
	var mp pb.ModelProto
	if err := proto.Unmarshal(onnx, &mp); err != nil {
		return err
	}
	idx := map[string]int{}
	for i, p := range params {
		idx[p.Name] = i
	}
	for _, n := range mp.GetGraph().GetNode() {
		if n.GetOpType() != "BatchNormalization" || len(n.GetInput()) < 5 {
			continue
		}
		eps := float32(1e-5)
		for _, a := range n.GetAttribute() {
			if a.GetName() == "epsilon" {
				eps = a.GetF()
			}
		}
		i, ok := idx[n.GetInput()[4]]
		if !ok {
			continue
		}
		for j, v := range vals[i] {
			if v+eps <= 0 {
				return fmt.Errorf("merged BatchNorm variance %s[%d] = %v is not positive: the merge extrapolates the models' statistics; use a smaller --lambda",
					params[i].Name, j, v)
			}
		}
	}
	return nil
}
