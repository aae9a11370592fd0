package models

import (
	"fmt"
	"strings"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Opset range the importer implements. Per-op differences inside it (axes as
// attributes or inputs, Clip bounds, Split sizes, ...) are honoured. Opsets
// 19 and 20 change no implemented op except by types it rejects anyway
// (float8, strings), AveragePool's dilations (rejected unless 1) and Pad's
// wrap mode (rejected); opset 20 adds Gelu.
const (
	minOpset = 1
	maxOpset = 20
)

// dim is one dimension of a graph input or output: a fixed size, or a
// symbolic one (size < 0) such as an exporter's dynamic batch axis.
type dim struct {
	size  int
	param string
}

func (d dim) String() string {
	if d.size >= 0 {
		return fmt.Sprint(d.size)
	}
	if d.param != "" {
		return d.param
	}
	return "?"
}

type ioSpec struct {
	name  string
	dtype int32
	dims  []dim // nil when the model does not say
}

// param is a trainable float32 initializer: one used as data by some node,
// as opposed to one only read at compile time (a shape, a Clip bound).
type param struct {
	name   string
	shape  []int
	data   []float32
	buffer bool // BatchNorm running statistics: updated by training, not by gradients
}

// graph is a validated ONNX graph: nodes in topological order, every op known.
type graph struct {
	opset     int64
	nodes     []*pb.NodeProto
	consts    map[string]*constant // initializers and Constant-free static tensors
	params    []*param
	paramIdx  map[string]int
	inputs    []ioSpec
	outputs   []ioSpec
	producers map[string]int // tensor name -> index of the node producing it
}

// LoadOptions bound what an untrusted model may do.
type loadOptions struct {
	maxElements        int64
	maxActivationBytes int64 // 0: DefaultMaxActivationBytes
	dir                string
	allowNonFinite     bool
}

func parseGraph(data []byte, opt loadOptions) (*pb.ModelProto, *graph, error) {
	var m pb.ModelProto
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("not an ONNX model (protobuf decode failed): %w", err)
	}
	g, err := newGraph(&m, opt)
	if err != nil {
		return nil, nil, err
	}
	return &m, g, nil
}

func newGraph(m *pb.ModelProto, opt loadOptions) (*graph, error) {
	if m.Graph == nil {
		return nil, fmt.Errorf("not an ONNX model: no graph")
	}
	g := &graph{consts: map[string]*constant{}, paramIdx: map[string]int{}, producers: map[string]int{}}
	for _, os := range m.GetOpsetImport() {
		if d := os.GetDomain(); d == "" || d == "ai.onnx" {
			g.opset = os.GetVersion()
		}
	}
	if len(m.GetOpsetImport()) == 0 {
		g.opset = 1 // IR < 3 files carry no opset; ONNX says opset 1
	}
	if g.opset < minOpset || g.opset > maxOpset {
		return nil, fmt.Errorf("default-domain opset %d is not supported (supported: %d to %d)", g.opset, minOpset, maxOpset)
	}
	gp := m.Graph
	lim := tensorLimits{maxElements: opt.maxElements, dir: opt.dir}
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("sparse initializers are not supported")
	}
	for _, t := range gp.GetInitializer() {
		if t.GetName() == "" {
			return nil, fmt.Errorf("initializer without a name")
		}
		if _, dup := g.consts[t.GetName()]; dup {
			return nil, fmt.Errorf("initializer %q is defined twice", t.GetName())
		}
		c, err := decodeTensor(t, lim)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		g.consts[t.GetName()] = c
	}
	for _, vi := range gp.GetInput() {
		if _, ok := g.consts[vi.GetName()]; ok {
			continue // older exporters list initializers as inputs too
		}
		s, err := ioSpecOf(vi)
		if err != nil {
			return nil, fmt.Errorf("graph input %q: %w", vi.GetName(), err)
		}
		g.inputs = append(g.inputs, s)
	}
	for _, vi := range gp.GetOutput() {
		s, err := ioSpecOf(vi)
		if err != nil {
			return nil, fmt.Errorf("graph output %q: %w", vi.GetName(), err)
		}
		g.outputs = append(g.outputs, s)
	}
	if len(g.outputs) == 0 {
		return nil, fmt.Errorf("graph has no outputs")
	}

	defined := map[string]bool{"": true}
	for n := range g.consts {
		defined[n] = true
	}
	for _, in := range g.inputs {
		defined[in.name] = true
	}
	dataUse := map[string]bool{}
	for i, n := range gp.GetNode() {
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			return nil, fmt.Errorf("node %s: op %s of domain %q is not supported (only the default ONNX domain)", nodeName(n, i), n.GetOpType(), d)
		}
		def, ok := opRegistry[n.GetOpType()]
		if !ok {
			return nil, fmt.Errorf("node %s: unsupported op %s (opset %d)", nodeName(n, i), n.GetOpType(), g.opset)
		}
		if def.since > g.opset {
			return nil, fmt.Errorf("node %s: op %s does not exist in opset %d", nodeName(n, i), n.GetOpType(), g.opset)
		}
		for j, in := range n.GetInput() {
			if !defined[in] {
				return nil, fmt.Errorf("node %s (%s): input %q is not defined before use (graph not topologically sorted, or a dangling name)", nodeName(n, i), n.GetOpType(), in)
			}
			if !def.isStatic(j, g.opset) {
				dataUse[in] = true
			}
		}
		for _, out := range n.GetOutput() {
			if out == "" {
				continue
			}
			if defined[out] {
				return nil, fmt.Errorf("node %s (%s): output %q is defined twice", nodeName(n, i), n.GetOpType(), out)
			}
			defined[out] = true
			g.producers[out] = i
		}
		if len(n.GetName()) == 0 {
			n.Name = proto.String(fmt.Sprintf("%s_%d", n.GetOpType(), i))
		}
	}
	for _, o := range g.outputs {
		if !defined[o.name] {
			return nil, fmt.Errorf("graph output %q is never computed", o.name)
		}
	}
	g.nodes = gp.GetNode()
	// Trainable parameters: float32 initializers some node consumes as data,
	// in initializer order (which exporters keep in module order).
	// BatchNorm's running mean and variance are buffers, unless some other
	// node also uses them.
	stat, other := map[string]bool{}, map[string]bool{}
	for _, n := range g.nodes {
		for j, in := range n.GetInput() {
			if n.GetOpType() == "BatchNormalization" && (j == 3 || j == 4) {
				stat[in] = true
			} else {
				other[in] = true
			}
		}
	}
	for _, t := range gp.GetInitializer() {
		c := g.consts[t.GetName()]
		if c.dtype == dtFloat && dataUse[t.GetName()] {
			g.paramIdx[t.GetName()] = len(g.params)
			g.params = append(g.params, &param{name: t.GetName(), shape: c.shape, data: c.f32,
				buffer: stat[t.GetName()] && !other[t.GetName()]})
		}
	}
	return g, nil
}

// dependsOn reports whether tensor out is computed from the values of
// tensor in (following data inputs, not those read at compile time).
func (g *graph) dependsOn(out, in string) bool {
	seen := map[string]bool{}
	stack := []string{out}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if t == in {
			return true
		}
		if seen[t] {
			continue
		}
		seen[t] = true
		i, ok := g.producers[t]
		if !ok {
			continue
		}
		n := g.nodes[i]
		if op := n.GetOpType(); op == "Shape" || op == "Size" {
			continue // a function of the shape, not of the values
		}
		def := opRegistry[n.GetOpType()]
		for j, name := range n.GetInput() {
			if name != "" && !def.isStatic(j, g.opset) {
				stack = append(stack, name)
			}
		}
	}
	return false
}

func nodeName(n *pb.NodeProto, i int) string {
	if n.GetName() != "" {
		return fmt.Sprintf("%q", n.GetName())
	}
	return fmt.Sprintf("#%d", i)
}

func ioSpecOf(vi *pb.ValueInfoProto) (ioSpec, error) {
	s := ioSpec{name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return s, fmt.Errorf("not a tensor")
	}
	s.dtype = tt.GetElemType()
	if tt.Shape != nil {
		s.dims = []dim{}
		for _, d := range tt.GetShape().GetDim() {
			if d.Value == nil || d.GetDimParam() != "" && d.GetDimValue() == 0 {
				s.dims = append(s.dims, dim{size: -1, param: d.GetDimParam()})
				continue
			}
			if _, ok := d.GetValue().(*pb.TensorShapeProto_Dimension_DimValue); ok {
				if d.GetDimValue() < 0 {
					return s, fmt.Errorf("negative dimension %d", d.GetDimValue())
				}
				s.dims = append(s.dims, dim{size: int(d.GetDimValue())})
			} else {
				s.dims = append(s.dims, dim{size: -1, param: d.GetDimParam()})
			}
		}
	}
	return s, nil
}

func (s ioSpec) shapeString() string {
	if s.dims == nil {
		return "(unknown shape)"
	}
	parts := make([]string, len(s.dims))
	for i, d := range s.dims {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// check reports whether shape fits the declared dimensions.
func (s ioSpec) check(shape []int) error {
	if s.dims == nil {
		return nil
	}
	if len(shape) != len(s.dims) {
		return fmt.Errorf("input %q has rank %d (shape %v), model expects %s", s.name, len(shape), shape, s.shapeString())
	}
	for i, d := range s.dims {
		if d.size >= 0 && d.size != shape[i] {
			return fmt.Errorf("input %q has shape %v, model expects %s", s.name, shape, s.shapeString())
		}
	}
	return nil
}
