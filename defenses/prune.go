package defenses

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/proto"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"github.com/advmatrix/advmatrix/models"
)

// Pruning scopes and structures.
const (
	ScopeLayer  = "layer"  // every weight tensor loses the same fraction
	ScopeGlobal = "global" // one magnitude threshold over all of them
	Channel     = "channel"
)

// PruneConfig is a pruning.
type PruneConfig struct {
	// Sparsity is the fraction of weights (unstructured) or of each
	// layer's output channels (structured) removed, in [0, 1).
	Sparsity float64
	// Scope is ScopeLayer or ScopeGlobal (unstructured only).
	Scope string
	// Structured is "" for unstructured magnitude pruning or Channel.
	Structured string
}

// PrunedTensor describes one pruned weight tensor or layer.
type PrunedTensor struct {
	Name     string `json:"name"`
	Op       string `json:"op"`
	Shape    []int  `json:"shape"`
	NewShape []int  `json:"new_shape,omitempty"`
	Elements int    `json:"elements"`
	Zeros    int    `json:"zeros"`
	// Channels and KeptChannels count a structured layer's output channels.
	Channels     int    `json:"channels,omitempty"`
	KeptChannels int    `json:"kept_channels,omitempty"`
	Skipped      string `json:"skipped,omitempty"` // why a layer was not pruned
}

// PruneReport is what a pruning did.
type PruneReport struct {
	Method    string  `json:"method"`
	Scope     string  `json:"scope"`
	Requested float64 `json:"sparsity_requested"`
	// Prunable counts the elements of the Conv, Gemm and MatMul weights;
	// Zeros those that are zero afterwards; Achieved = Zeros/Prunable
	// (unstructured) or the fraction of those weights removed
	// (structured).
	Prunable int            `json:"prunable_weights"`
	Zeros    int            `json:"zero_weights"`
	Achieved float64        `json:"sparsity_achieved"`
	Tensors  []PrunedTensor `json:"tensors"`
	// Parameters and bytes of the model file, before and after.
	ParamsBefore int `json:"parameters_before"`
	ParamsAfter  int `json:"parameters_after"`
	BytesBefore  int `json:"bytes_before"`
	BytesAfter   int `json:"bytes_after"`
}

// Pruned is a pruned model.
type Pruned struct {
	ONNX   []byte
	Model  *models.Model
	Mask   *Mask // unstructured pruning: which weights to keep at zero
	Report PruneReport
}

// Mask marks pruned weights, per parameter in models.Model.Params order
// (nil: none pruned), so that fine-tuning can keep them at zero.
type Mask struct {
	Pruned [][]bool
}

// Apply zeroes the pruned weights of values (in Params order) — the
// train.Config.OnStep hook that keeps a pruned model pruned while it is
// fine-tuned.
func (m *Mask) Apply(values [][]float32) {
	for i, p := range m.Pruned {
		if p == nil || values[i] == nil {
			continue
		}
		for j, z := range p {
			if z {
				values[i][j] = 0
			}
		}
	}
}

func (c *PruneConfig) check() error {
	if !(c.Sparsity >= 0 && c.Sparsity < 1) {
		return fmt.Errorf("--sparsity %v must be in [0, 1)", c.Sparsity)
	}
	if c.Scope == "" {
		c.Scope = ScopeLayer
	}
	switch {
	case c.Scope != ScopeLayer && c.Scope != ScopeGlobal:
		return fmt.Errorf("--scope %q: want layer or global", c.Scope)
	case c.Structured != "" && c.Structured != Channel:
		return fmt.Errorf("--structured %q: want channel", c.Structured)
	case c.Structured == Channel && c.Scope == ScopeGlobal:
		return errors.New("--structured channel ranks the channels of each layer by their weights' L1 norm; --scope global is for unstructured pruning")
	}
	return nil
}

// Prune prunes the ONNX model data: magnitude pruning of the weights of
// its Conv, Gemm and MatMul nodes (biases, normalisation and every other
// tensor left alone), or, with Structured Channel, removal of whole
// output channels (see pruneChannels).
func Prune(data []byte, cfg PruneConfig) (*Pruned, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	m, err := models.Load(data)
	if err != nil {
		return nil, err
	}
	var mp pb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, err
	}
	ws, err := prunableWeights(&mp, m)
	if err != nil {
		return nil, err
	}
	if cfg.Structured == Channel {
		return pruneChannels(&mp, m, data, cfg, ws)
	}
	return pruneMagnitude(m, data, cfg, ws)
}

// weight is a prunable weight tensor: the parameter index and the op that
// uses it.
type weight struct {
	param int
	op    string
}

// prunableWeights lists the parameters used as the weight of a Conv (its
// input 1), Gemm (input 1) or MatMul (either input), in parameter order.
func prunableWeights(mp *pb.ModelProto, m *models.Model) ([]weight, error) {
	idx := map[string]int{}
	for i, p := range m.Params() {
		if !p.Buffer {
			idx[p.Name] = i
		}
	}
	ops := map[int]string{}
	for _, n := range mp.GetGraph().GetNode() {
		var cands []string
		switch n.GetOpType() {
		case "Conv", "Gemm":
			if len(n.GetInput()) > 1 {
				cands = n.GetInput()[1:2]
			}
		case "MatMul":
			cands = n.GetInput()
		}
		for _, c := range cands {
			if i, ok := idx[c]; ok {
				if prev, dup := ops[i]; dup && prev != n.GetOpType() {
					ops[i] = prev + "+" + n.GetOpType()
				} else {
					ops[i] = n.GetOpType()
				}
			}
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("the model has no Conv, Gemm or MatMul weights to prune")
	}
	var out []weight
	for i := range m.Params() {
		if op, ok := ops[i]; ok {
			out = append(out, weight{i, op})
		}
	}
	return out, nil
}

// pruneMagnitude zeroes, per tensor (layer scope) or over all prunable
// tensors (global scope), the round(S·n) weights of smallest magnitude:
// exactly that many, ties broken by tensor and then element order, so the
// largest magnitudes are the ones kept.
func pruneMagnitude(m *models.Model, data []byte, cfg PruneConfig, ws []weight) (*Pruned, error) {
	params := m.Params()
	vals := make([][]float32, len(params))
	for _, w := range ws {
		vals[w.param], _ = m.ParamValues(params[w.param].Name)
	}
	mask := &Mask{Pruned: make([][]bool, len(params))}
	type entry struct {
		mag      float32
		t, j     int
		tensorIx int
	}
	zero := func(es []entry, k int) {
		sort.Slice(es, func(a, b int) bool {
			if es[a].mag != es[b].mag {
				return es[a].mag < es[b].mag
			}
			if es[a].tensorIx != es[b].tensorIx {
				return es[a].tensorIx < es[b].tensorIx
			}
			return es[a].j < es[b].j
		})
		for _, e := range es[:k] {
			mask.Pruned[e.t][e.j] = true
		}
	}
	var all []entry
	for ti, w := range ws {
		v := vals[w.param]
		mask.Pruned[w.param] = make([]bool, len(v))
		es := make([]entry, len(v))
		for j, x := range v {
			es[j] = entry{float32(math.Abs(float64(x))), w.param, j, ti}
		}
		if cfg.Scope == ScopeLayer {
			zero(es, int(math.Round(cfg.Sparsity*float64(len(v)))))
		} else {
			all = append(all, es...)
		}
	}
	if cfg.Scope == ScopeGlobal {
		zero(all, int(math.Round(cfg.Sparsity*float64(len(all)))))
	}
	mask.Apply(vals)
	if err := m.SetParams(vals); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := m.WriteONNX(&buf); err != nil {
		return nil, err
	}
	out, err := models.Load(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the pruned model does not load: %w", err)
	}
	r := PruneReport{Method: "magnitude (unstructured)", Scope: cfg.Scope, Requested: cfg.Sparsity,
		ParamsBefore: m.NumParams(), ParamsAfter: out.NumParams(), BytesBefore: len(data), BytesAfter: buf.Len()}
	for _, w := range ws {
		p := params[w.param]
		t := PrunedTensor{Name: p.Name, Op: w.op, Shape: p.Shape, Elements: len(vals[w.param])}
		for _, x := range vals[w.param] {
			if x == 0 {
				t.Zeros++
			}
		}
		r.Prunable += t.Elements
		r.Zeros += t.Zeros
		r.Tensors = append(r.Tensors, t)
	}
	r.Achieved = float64(r.Zeros) / float64(r.Prunable)
	return &Pruned{ONNX: buf.Bytes(), Model: out, Mask: mask, Report: r}, nil
}
