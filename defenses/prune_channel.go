package defenses

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/proto"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"github.com/advmatrix/advmatrix/models"
)

// Structured channel pruning (Li et al., "Pruning Filters for Efficient
// ConvNets", ICLR 2017): in every layer that can lose channels — a Conv
// (group 1), Gemm or MatMul whose output channels reach, through
// channel-wise ops only, the inputs of other weight layers — the
// round(S·C) output channels whose weights have the smallest L1 norm are
// removed, with everything downstream that belongs to them:
//
//   - BatchNormalization's scale, shift, mean and variance entries, and
//     per-channel constants of Add, Sub, Mul and Div;
//   - depthwise convolutions' filters (their group shrinks with them);
//   - the matching input channels of the next Conv, the matching input
//     rows of the next Gemm or MatMul, and after a Flatten the matching
//     blocks of its columns.
//
// Relu, Clip, LeakyRelu, Sigmoid, Tanh, Elu, Selu, Softplus, HardSigmoid,
// HardSwish, Identity, Dropout and the pooling ops pass channels through.
// A layer whose channels reach anything else — the model's output, a
// residual Add of two activations, a Concat, a reshape — is left whole and
// the report says why. The file shrinks by the weights removed.
//
// A removed channel's constant contribution (a BatchNorm shift passed
// through the activation) disappears with it rather than being folded
// into the next layer's bias, as in Li et al.; a short fine-tune recovers
// it.

// passThrough lists ops that map channel c of their first input to
// channel c of their first output.
var passThrough = map[string]bool{
	"Relu": true, "Clip": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Elu": true, "Selu": true,
	"Softplus": true, "HardSigmoid": true, "HardSwish": true, "Identity": true, "Dropout": true,
	"MaxPool": true, "AveragePool": true, "GlobalAveragePool": true, "GlobalMaxPool": true,
}

// edit removes entries of one initializer along one axis: the kept
// channels, each a block of Block consecutive entries.
type edit struct {
	init  string
	axis  int
	block int
}

// chanPlan is one prunable layer: the producer's weight and bias and
// every edit downstream, plus depthwise nodes whose group shrinks.
type chanPlan struct {
	node     int
	weight   string
	outAxis  int // the weight's output-channel axis
	channels int
	edits    []edit
	groups   []int // depthwise Conv nodes
}

type graphIndex struct {
	g       *pb.GraphProto
	uses    map[string][]use
	inits   map[string]*pb.TensorProto
	outputs map[string]bool
}

type use struct{ node, slot int }

func indexGraph(g *pb.GraphProto) *graphIndex {
	ix := &graphIndex{g: g, uses: map[string][]use{}, inits: map[string]*pb.TensorProto{}, outputs: map[string]bool{}}
	for i, n := range g.GetNode() {
		for s, in := range n.GetInput() {
			ix.uses[in] = append(ix.uses[in], use{i, s})
		}
	}
	for _, t := range g.GetInitializer() {
		ix.inits[t.GetName()] = t
	}
	for _, o := range g.GetOutput() {
		ix.outputs[o.GetName()] = true
	}
	return ix
}

func attrInt(n *pb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

// initShape is the shape of a float initializer used by one node input
// only, or nil.
func (ix *graphIndex) initShape(name string) []int {
	t, ok := ix.inits[name]
	if !ok || t.GetDataType() != int32(pb.TensorProto_FLOAT) || len(ix.uses[name]) != 1 {
		return nil
	}
	s := make([]int, len(t.GetDims()))
	for i, d := range t.GetDims() {
		s[i] = int(d)
	}
	return s
}

// producer makes the plan of node i if it is a weight layer: its weight's
// output axis and channel count, and its own weight and bias edits.
func (ix *graphIndex) producer(i int) (*chanPlan, string) {
	n := ix.g.GetNode()[i]
	in := n.GetInput()
	if len(in) < 2 {
		return nil, ""
	}
	ws := ix.initShape(in[1])
	if ws == nil {
		return nil, ""
	}
	p := &chanPlan{node: i, weight: in[1]}
	switch n.GetOpType() {
	case "Conv":
		if attrInt(n, "group", 1) != 1 || len(ws) < 3 {
			return nil, ""
		}
		p.channels = ws[0]
	case "Gemm":
		if len(ws) != 2 || attrInt(n, "transA", 0) != 0 {
			return nil, ""
		}
		if attrInt(n, "transB", 0) == 0 {
			p.outAxis = 1
		}
		p.channels = ws[p.outAxis]
	case "MatMul":
		if len(ws) != 2 {
			return nil, ""
		}
		p.outAxis, p.channels = 1, ws[1]
	default:
		return nil, ""
	}
	p.edits = append(p.edits, edit{in[1], p.outAxis, 1})
	if len(in) > 2 && in[2] != "" {
		bs := ix.initShape(in[2])
		switch {
		case len(bs) == 1 && bs[0] == p.channels:
			p.edits = append(p.edits, edit{in[2], 0, 1})
		case len(bs) == 2 && bs[0] == 1 && bs[1] == p.channels:
			p.edits = append(p.edits, edit{in[2], 1, 1})
		default:
			return nil, fmt.Sprintf("its bias %s is not one value per channel", in[2])
		}
	}
	return p, ""
}

// trace follows tensor t, whose channel axis is 1 (flat: channels are
// blocks of a flattened axis 1), to every consumer, adding the edits that
// removing channels needs; it returns why not when something else
// consumes them.
func (ix *graphIndex) trace(p *chanPlan, t string, flat bool, depth int) string {
	if ix.outputs[t] {
		return "its channels reach the model's output"
	}
	if depth > len(ix.g.GetNode()) {
		return "the graph loops"
	}
	if len(ix.uses[t]) == 0 {
		return "its output is unused"
	}
	for _, u := range ix.uses[t] {
		if why := ix.consume(p, u, flat, depth); why != "" {
			return why
		}
	}
	return ""
}

func (ix *graphIndex) consume(p *chanPlan, u use, flat bool, depth int) string {
	n := ix.g.GetNode()[u.node]
	op, in := n.GetOpType(), n.GetInput()
	if u.slot != 0 && op != "Add" && op != "Mul" {
		return fmt.Sprintf("%s %s reads them as input %d", op, n.GetName(), u.slot)
	}
	c := p.channels
	switch {
	case passThrough[op]:
		for _, o := range n.GetOutput()[1:] {
			if o != "" && len(ix.uses[o]) > 0 {
				return fmt.Sprintf("%s %s has a second output in use", op, n.GetName())
			}
		}
		if flat && op != "Relu" && op != "Clip" && op != "Identity" && op != "Dropout" && op != "LeakyRelu" {
			return fmt.Sprintf("%s %s after a Flatten", op, n.GetName())
		}
		return ix.trace(p, n.GetOutput()[0], flat, depth+1)
	case op == "BatchNormalization" && !flat:
		for _, s := range in[1:min(len(in), 5)] {
			if sh := ix.initShape(s); len(sh) != 1 || sh[0] != c {
				return fmt.Sprintf("BatchNormalization %s: %s is not one value per channel, or shared", n.GetName(), s)
			}
			p.edits = append(p.edits, edit{s, 0, 1})
		}
		return ix.trace(p, n.GetOutput()[0], false, depth+1)
	case op == "Conv" && !flat:
		ws := ix.initShape(in[1])
		g := attrInt(n, "group", 1)
		switch {
		case ws == nil:
			return fmt.Sprintf("Conv %s has no weight of its own", n.GetName())
		case g == 1 && ws[1] == c:
			p.edits = append(p.edits, edit{in[1], 1, 1})
			return ""
		case g == int64(c) && ws[0] == c && ws[1] == 1:
			p.edits = append(p.edits, edit{in[1], 0, 1})
			if len(in) > 2 && in[2] != "" {
				if bs := ix.initShape(in[2]); len(bs) != 1 || bs[0] != c {
					return fmt.Sprintf("Conv %s: bias %s is not one value per channel, or shared", n.GetName(), in[2])
				}
				p.edits = append(p.edits, edit{in[2], 0, 1})
			}
			p.groups = append(p.groups, u.node)
			return ix.trace(p, n.GetOutput()[0], false, depth+1)
		}
		return fmt.Sprintf("Conv %s is grouped (group %d)", n.GetName(), g)
	case op == "Flatten" && !flat:
		if attrInt(n, "axis", 1) != 1 {
			return fmt.Sprintf("Flatten %s does not flatten from axis 1", n.GetName())
		}
		return ix.trace(p, n.GetOutput()[0], true, depth+1)
	case op == "Gemm" || op == "MatMul":
		return ix.rows(p, n, flat)
	case (op == "Add" || op == "Mul" || op == "Sub" || op == "Div") && len(in) == 2:
		other := in[1-u.slot]
		sh := ix.initShape(other)
		axis := -1
		switch {
		case len(sh) == 3 && sh[0] == c && sh[1] == 1 && sh[2] == 1 && !flat:
			axis = 0
		case len(sh) == 4 && sh[0] == 1 && sh[1] == c && sh[2] == 1 && sh[3] == 1 && !flat:
			axis = 1
		case len(sh) == 2 && sh[0] == 1 && sh[1] == c:
			axis = 1
		case len(sh) == 1 && sh[0] == c:
			axis = 0
		}
		if axis < 0 || (flat && axis >= 0 && len(sh) > 2) {
			return fmt.Sprintf("%s %s combines them with something that is not a per-channel constant", op, n.GetName())
		}
		p.edits = append(p.edits, edit{other, axis, 1})
		return ix.trace(p, n.GetOutput()[0], flat, depth+1)
	}
	return fmt.Sprintf("%s %s consumes them", op, n.GetName())
}

// rows adds the edit of the input rows (columns of the weight as stored)
// of the Gemm or MatMul n that reads the channels as its first input.
func (ix *graphIndex) rows(p *chanPlan, n *pb.NodeProto, flat bool) string {
	in := n.GetInput()
	if len(in) < 2 {
		return fmt.Sprintf("%s %s has no weight", n.GetOpType(), n.GetName())
	}
	ws := ix.initShape(in[1])
	if len(ws) != 2 {
		return fmt.Sprintf("%s %s has no 2-D weight of its own", n.GetOpType(), n.GetName())
	}
	axis := 0 // the input axis of B
	if n.GetOpType() == "Gemm" {
		if attrInt(n, "transA", 0) != 0 {
			return fmt.Sprintf("Gemm %s transposes its input", n.GetName())
		}
		if attrInt(n, "transB", 0) != 0 {
			axis = 1
		}
	}
	k := ws[axis]
	block := 1
	switch {
	case flat && k%p.channels == 0:
		block = k / p.channels
	case k != p.channels:
		return fmt.Sprintf("%s %s takes %d inputs for %d channels", n.GetOpType(), n.GetName(), k, p.channels)
	}
	p.edits = append(p.edits, edit{in[1], axis, block})
	return ""
}

// pruneChannels removes channels from every prunable layer (see above).
func pruneChannels(mp *pb.ModelProto, m *models.Model, data []byte, cfg PruneConfig, ws []weight) (*Pruned, error) {
	ix := indexGraph(mp.GetGraph())
	vals := map[string][]float32{}
	for _, p := range m.Params() {
		vals[p.Name], _ = m.ParamValues(p.Name)
	}
	r := PruneReport{Method: "channel (structured, L1 norm per output channel)", Scope: ScopeLayer, Requested: cfg.Sparsity,
		ParamsBefore: m.NumParams(), BytesBefore: len(data)}
	keep := map[string]map[int][]int{} // initializer → axis → kept indices
	shapes := map[string][]int{}
	for _, w := range ws {
		r.Prunable += len(vals[m.Params()[w.param].Name])
	}
	nodes := mp.GetGraph().GetNode()
	for i, n := range nodes {
		p, why := ix.producer(i)
		if p == nil && why == "" {
			continue
		}
		t := PrunedTensor{Name: n.GetInput()[1], Op: n.GetOpType(), Shape: shapeOf(ix.inits[n.GetInput()[1]])}
		t.Elements = len(vals[t.Name])
		if p != nil {
			t.Channels = p.channels
			why = ix.trace(p, n.GetOutput()[0], false, 0)
		}
		if why == "" {
			for _, e := range p.edits {
				if _, ok := vals[e.init]; !ok {
					why = fmt.Sprintf("%s is not a weight advmatrix can rewrite", e.init)
				} else if _, dup := keep[e.init][e.axis]; dup {
					why = fmt.Sprintf("%s would lose entries for two layers", e.init)
				}
			}
		}
		if why != "" {
			t.Skipped = why
			r.Tensors = append(r.Tensors, t)
			continue
		}
		kept := keptChannels(vals[p.weight], shapeOf(ix.inits[p.weight]), p.outAxis, cfg.Sparsity)
		t.KeptChannels = len(kept)
		for _, e := range p.edits {
			if keep[e.init] == nil {
				keep[e.init] = map[int][]int{}
				shapes[e.init] = shapeOf(ix.inits[e.init])
			}
			keep[e.init][e.axis] = expand(kept, e.block)
		}
		for _, d := range p.groups {
			setGroup(nodes[d], int64(len(kept)))
		}
		r.Tensors = append(r.Tensors, t)
	}
	removed := 0
	for name, axes := range keep {
		t := ix.inits[name]
		before := len(vals[name])
		nv, ns := gather(vals[name], shapes[name], axes)
		t.Dims = make([]int64, len(ns))
		for i, d := range ns {
			t.Dims[i] = int64(d)
		}
		t.RawData, t.FloatData, t.ExternalData, t.DataLocation = float32sLE(nv), nil, nil, nil
		if isWeight(name, ws, m) {
			removed += before - len(nv)
		}
		vals[name] = nv
		shapes[name] = ns
	}
	g := mp.GetGraph()
	g.ValueInfo = nil // intermediate shapes are stale now
	for _, in := range g.GetInput() {
		if s, ok := shapes[in.GetName()]; ok && keep[in.GetName()] != nil {
			setShape(in, s)
		}
	}
	for i := range r.Tensors {
		if t := &r.Tensors[i]; t.Skipped == "" {
			t.NewShape = shapes[t.Name]
		}
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, err
	}
	pm, err := models.Load(out)
	if err != nil {
		return nil, fmt.Errorf("the pruned model does not load: %w", err)
	}
	r.ParamsAfter, r.BytesAfter = pm.NumParams(), len(out)
	r.Zeros = removed
	r.Achieved = float64(removed) / float64(r.Prunable)
	return &Pruned{ONNX: out, Model: pm, Report: r}, nil
}

func isWeight(name string, ws []weight, m *models.Model) bool {
	ps := m.Params()
	for _, w := range ws {
		if ps[w.param].Name == name {
			return true
		}
	}
	return false
}

// keptChannels ranks a weight's output channels (along axis) by the L1
// norm of their weights and keeps all but the round(s·C) smallest (at
// least one), ties removing the lower index first; the kept indices are
// returned in order.
func keptChannels(w []float32, shape []int, axis int, s float64) []int {
	c := shape[axis]
	inner := 1
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	norms := make([]float64, c)
	for j, v := range w {
		norms[(j/inner)%c] += math.Abs(float64(v))
	}
	order := make([]int, c)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return norms[order[a]] < norms[order[b]] })
	drop := min(int(math.Round(s*float64(c))), c-1)
	kept := append([]int(nil), order[drop:]...)
	sort.Ints(kept)
	return kept
}

func expand(kept []int, block int) []int {
	out := make([]int, 0, len(kept)*block)
	for _, k := range kept {
		for b := 0; b < block; b++ {
			out = append(out, k*block+b)
		}
	}
	return out
}

// gather keeps, along each axis of axes, the listed indices of a
// row-major tensor.
func gather(v []float32, shape []int, axes map[int][]int) ([]float32, []int) {
	ns := append([]int(nil), shape...)
	for a, idx := range axes {
		ns[a] = len(idx)
	}
	total := 1
	for _, d := range ns {
		total *= d
	}
	out := make([]float32, 0, total)
	var walk func(d, off int)
	walk = func(d, off int) {
		if d == len(shape) {
			out = append(out, v[off])
			return
		}
		stride := 1
		for _, x := range shape[d+1:] {
			stride *= x
		}
		if idx, ok := axes[d]; ok {
			for _, i := range idx {
				walk(d+1, off+i*stride)
			}
			return
		}
		for i := 0; i < shape[d]; i++ {
			walk(d+1, off+i*stride)
		}
	}
	walk(0, 0)
	return out, ns
}

func shapeOf(t *pb.TensorProto) []int {
	s := make([]int, len(t.GetDims()))
	for i, d := range t.GetDims() {
		s[i] = int(d)
	}
	return s
}

func setGroup(n *pb.NodeProto, g int64) {
	for _, a := range n.GetAttribute() {
		if a.GetName() == "group" {
			a.I = proto.Int64(g)
		}
	}
}

func setShape(vi *pb.ValueInfoProto, s []int) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return
	}
	sh := &pb.TensorShapeProto{}
	for _, d := range s {
		sh.Dim = append(sh.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	tt.Shape = sh
}

func float32sLE(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}
