package onnxgraph

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"github.com/advmatrix/advmatrix/models"
	"google.golang.org/protobuf/proto"
)

// Batch marks the symbolic batch axis in a Builder shape.
const Batch = -1

// Builder assembles an ONNX model (opset 13 unless SetOpset says
// otherwise, IR version 8, producer "advmatrix") from float32 inputs,
// initializers and nodes given in topological order. Nodes are named <OpType>_<k>, counting per op type, so
// the same calls give the same bytes. The first mistake (a name defined
// twice, an undefined input, data that does not fit its shape) is kept and
// returned by Proto, Bytes and Load.
type Builder struct {
	g       *pb.GraphProto
	defined map[string]bool
	nodes   map[string]int // per op type, for node names
	err     error
	opset   int64 // 0: 13
}

// Attr is a node attribute; make one with Int, Ints, Float or String.
type Attr struct{ p *pb.AttributeProto }

// Int is an INT attribute.
func Int(name string, v int64) Attr {
	return Attr{&pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)}}
}

// Ints is an INTS attribute.
func Ints(name string, v ...int64) Attr {
	return Attr{&pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: v}}
}

// Float is a FLOAT attribute.
func Float(name string, v float32) Attr {
	return Attr{&pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}}
}

// String is a STRING attribute.
func String(name, v string) Attr {
	return Attr{&pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_STRING.Enum(), S: []byte(v)}}
}

// New starts an empty graph with the given name.
func New(name string) *Builder {
	return &Builder{g: &pb.GraphProto{Name: proto.String(name)}, defined: map[string]bool{}, nodes: map[string]int{}}
}

func (b *Builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("graph %s: "+format, append([]any{b.g.GetName()}, args...)...)
	}
}

func (b *Builder) define(name string) {
	switch {
	case name == "":
		b.fail("empty tensor name")
	case b.defined[name]:
		b.fail("tensor %q is defined twice", name)
	}
	b.defined[name] = true
}

// floatInfo describes a float32 tensor; Batch (any negative size) becomes
// the symbolic axis "batch".
func floatInfo(name string, shape []int) *pb.ValueInfoProto {
	sh := &pb.TensorShapeProto{Dim: []*pb.TensorShapeProto_Dimension{}}
	for _, d := range shape {
		dim := &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}}
		if d < 0 {
			dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}
		}
		sh.Dim = append(sh.Dim, dim)
	}
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(dtFloat), Shape: sh}}}}
}

// Input declares a float32 graph input; use Batch for the batch axis,
// e.g. Input("x", Batch, 1, 28, 28).
func (b *Builder) Input(name string, shape ...int) {
	b.define(name)
	b.g.Input = append(b.g.Input, floatInfo(name, shape))
}

// Initializer adds a float32 constant (a weight, or a static operand such
// as Clip's bounds) of the given shape; an empty shape is a scalar. The
// data is copied.
func (b *Builder) Initializer(name string, shape []int, data []float32) {
	b.define(name)
	n := 1
	dims := make([]int64, len(shape))
	for i, d := range shape {
		if d < 0 {
			b.fail("initializer %q has shape %v", name, shape)
			return
		}
		n *= d
		dims[i] = int64(d)
	}
	if n != len(data) {
		b.fail("initializer %q of shape %v needs %d values, got %d", name, shape, n, len(data))
		return
	}
	b.g.Initializer = append(b.g.Initializer, &pb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(dtFloat), RawData: float32sLE(data)})
}

// IntInitializer adds an int64 constant (a shape, axes, pads or indices)
// of the given shape; an empty shape is a scalar.
func (b *Builder) IntInitializer(name string, shape []int, data []int64) {
	b.define(name)
	n := 1
	dims := make([]int64, len(shape))
	for i, d := range shape {
		if d < 0 {
			b.fail("initializer %q has shape %v", name, shape)
			return
		}
		n *= d
		dims[i] = int64(d)
	}
	if n != len(data) {
		b.fail("initializer %q of shape %v needs %d values, got %d", name, shape, n, len(data))
		return
	}
	b.g.Initializer = append(b.g.Initializer, &pb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(dtInt64), Int64Data: append([]int64(nil), data...)})
}

// Constant adds a Constant node holding a float32 tensor: a value the
// graph computes with, such as a scale, that is not a trainable parameter
// (float32 initializers read as data are). It returns name.
func (b *Builder) Constant(name string, shape []int, data []float32) string {
	n := 1
	dims := make([]int64, len(shape))
	for i, d := range shape {
		n *= max(d, 0)
		dims[i] = int64(d)
	}
	if n != len(data) {
		b.fail("constant %q of shape %v needs %d values, got %d", name, shape, n, len(data))
		return name
	}
	t := &pb.TensorProto{Dims: dims, DataType: proto.Int32(dtFloat), RawData: float32sLE(data)}
	return b.Node("Constant", nil, []string{name},
		Attr{&pb.AttributeProto{Name: proto.String("value"), Type: pb.AttributeProto_TENSOR.Enum(), T: t}})
}

// SetOpset sets the default-domain opset the model declares (13 unless
// set), for graphs that use newer ops such as LayerNormalization (17).
func (b *Builder) SetOpset(v int64) { b.opset = v }

// Node appends a node reading inputs (already defined; "" skips an
// optional input) and defining outputs. It returns the first output's name.
func (b *Builder) Node(op string, inputs, outputs []string, attrs ...Attr) string {
	for _, in := range inputs {
		if in != "" && !b.defined[in] {
			b.fail("%s node reads undefined tensor %q", op, in)
		}
	}
	if len(outputs) == 0 {
		b.fail("%s node has no outputs", op)
		return ""
	}
	for _, o := range outputs {
		b.define(o)
	}
	name := fmt.Sprintf("%s_%d", op, b.nodes[op])
	b.nodes[op]++
	node := &pb.NodeProto{Name: proto.String(name), OpType: proto.String(op),
		Input: append([]string(nil), inputs...), Output: append([]string(nil), outputs...)}
	for _, a := range attrs {
		node.Attribute = append(node.Attribute, a.p)
	}
	b.g.Node = append(b.g.Node, node)
	return outputs[0]
}

// Output declares a defined tensor as a float32 graph output of the given
// shape (Batch for the batch axis).
func (b *Builder) Output(name string, shape ...int) {
	if !b.defined[name] {
		b.fail("output %q is never defined", name)
	}
	b.g.Output = append(b.g.Output, floatInfo(name, shape))
}

// proto returns the model. The builder must not be used afterwards.
func (b *Builder) proto() (*pb.ModelProto, error) {
	if b.err != nil {
		return nil, b.err
	}
	if len(b.g.Input) == 0 || len(b.g.Output) == 0 {
		return nil, errors.New("graph " + b.g.GetName() + " needs an input and an output")
	}
	opset := b.opset
	if opset == 0 {
		opset = 13
	}
	return &pb.ModelProto{IrVersion: proto.Int64(8), ProducerName: proto.String("advmatrix"), Graph: b.g,
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}}}, nil
}

// Bytes encodes the model deterministically.
func (b *Builder) Bytes() ([]byte, error) {
	m, err := b.proto()
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Load encodes the model and compiles it with models.Load.
func (b *Builder) Load(opts ...models.Option) (*models.Model, error) {
	data, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	return models.Load(data, opts...)
}

// ONNX's FLOAT and INT64 element types.
const (
	dtFloat = int32(pb.TensorProto_FLOAT)
	dtInt64 = int32(pb.TensorProto_INT64)
)

// float32sLE encodes v as little-endian bytes, ONNX's raw_data layout.
func float32sLE(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}
