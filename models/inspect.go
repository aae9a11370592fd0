package models

import (
	"fmt"
	"path/filepath"
	"sort"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// OpUse is one op type in a model and whether advmatrix implements it.
type OpUse struct {
	Op        string `json:"op"`
	Count     int    `json:"count"`
	Supported bool   `json:"supported"`
}

// Inspection is what `advmatrix inspect` reports about an ONNX file, filled
// as far as the file allows even when advmatrix cannot run it.
type Inspection struct {
	IRVersion    int64        `json:"ir_version"`
	Opsets       []string     `json:"opsets"`
	Producer     string       `json:"producer"`
	GraphName    string       `json:"graph_name"`
	Inputs       []TensorSpec `json:"inputs"`
	Outputs      []TensorSpec `json:"outputs"`
	Nodes        int          `json:"nodes"`
	Ops          []OpUse      `json:"ops"`
	Initializers int          `json:"initializers"`
	Parameters   int          `json:"parameters"` // elements of float initializers (any float type) used as data
	Classes      int          `json:"classes,omitempty"`
	Runnable     bool         `json:"runnable"`
	Problem      string       `json:"problem,omitempty"`
}

// Inspect describes an ONNX model. It fails only when the bytes are not an
// ONNX model at all; a model advmatrix cannot run is described with the
// reason in Problem. Like Load, it cannot read external data: a model
// that keeps its weights in files beside it is not runnable from memory
// (use InspectFile).
func Inspect(data []byte, opts ...Option) (*Inspection, error) {
	return inspect(data, "", opts)
}

// InspectFile is Inspect for the ONNX file at path, which it reads as
// LoadFile does: the model is runnable if LoadFile would load it,
// external data included.
func InspectFile(path string, opts ...Option) (*Inspection, error) {
	b, err := ReadModelFile(path)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	in, err := inspect(b, filepath.Dir(path), opts)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	return in, nil
}

func inspect(data []byte, dir string, opts []Option) (*Inspection, error) {
	var m pb.ModelProto
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not an ONNX model (protobuf decode failed): %w", err)
	}
	if m.Graph == nil {
		return nil, fmt.Errorf("not an ONNX model: no graph")
	}
	in := &Inspection{IRVersion: m.GetIrVersion(), Producer: m.GetProducerName(), GraphName: m.GetGraph().GetName()}
	if v := m.GetProducerVersion(); v != "" {
		in.Producer += " " + v
	}
	for _, o := range m.GetOpsetImport() {
		d := o.GetDomain()
		if d == "" {
			d = "ai.onnx"
		}
		in.Opsets = append(in.Opsets, fmt.Sprintf("%s:%d", d, o.GetVersion()))
	}
	inits := map[string]bool{}
	for _, t := range m.GetGraph().GetInitializer() {
		inits[t.GetName()] = true
	}
	in.Initializers = len(inits)
	for _, vi := range m.GetGraph().GetInput() {
		if inits[vi.GetName()] {
			continue
		}
		if s, err := ioSpecOf(vi); err == nil {
			in.Inputs = append(in.Inputs, specOf(s))
		} else {
			in.Inputs = append(in.Inputs, TensorSpec{Name: vi.GetName(), Type: "non-tensor"})
		}
	}
	for _, vi := range m.GetGraph().GetOutput() {
		if s, err := ioSpecOf(vi); err == nil {
			in.Outputs = append(in.Outputs, specOf(s))
		}
	}
	counts := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			op = d + "." + op
		}
		counts[op]++
	}
	in.Nodes = len(m.GetGraph().GetNode())
	for op, c := range counts {
		_, ok := opRegistry[op]
		in.Ops = append(in.Ops, OpUse{Op: op, Count: c, Supported: ok})
	}
	sort.Slice(in.Ops, func(i, j int) bool { return in.Ops[i].Op < in.Ops[j].Op })
	model, err := load(data, dir, opts)
	if err != nil {
		in.Problem = err.Error()
		return in, nil
	}
	in.Runnable = true
	in.Parameters = floatWeights(model.g)
	in.Classes = model.NumClasses()
	return in, nil
}

// floatWeights counts the elements of the float initializers, of any float
// type, that some node reads as data: the weights, whether float32 (the
// trainable parameters) or stored as float64 or float16 and cast.
func floatWeights(g *graph) int {
	used := map[string]bool{}
	for _, n := range g.nodes {
		def := opRegistry[n.GetOpType()]
		for j, in := range n.GetInput() {
			if in != "" && !def.isStatic(j, g.opset) {
				used[in] = true
			}
		}
	}
	total := 0
	for name, c := range g.consts {
		if used[name] && isFloatType(c.dtype) {
			total += c.size()
		}
	}
	return total
}
