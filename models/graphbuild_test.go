package models

import (
	"math"
	"math/rand/v2"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// testGraph builds small ONNX models in tests.
type testGraph struct {
	g     *pb.GraphProto
	opset int64
}

func newTestGraph(opset int64) *testGraph {
	return &testGraph{g: &pb.GraphProto{Name: proto.String("test")}, opset: opset}
}

func valueInfo(name string, dt int32, shape []int) *pb.ValueInfoProto {
	sh := &pb.TensorShapeProto{}
	for _, d := range shape {
		if d < 0 {
			sh.Dim = append(sh.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}})
		} else {
			sh.Dim = append(sh.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		}
	}
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(dt), Shape: sh}}}}
}

func (t *testGraph) input(name string, shape ...int) *testGraph {
	t.g.Input = append(t.g.Input, valueInfo(name, dtFloat, shape))
	return t
}

func (t *testGraph) output(name string) *testGraph {
	t.g.Output = append(t.g.Output, valueInfo(name, dtFloat, nil))
	return t
}

func (t *testGraph) init(name string, shape []int, data []float32) *testGraph {
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	t.g.Initializer = append(t.g.Initializer, &pb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(dtFloat), RawData: float32sLE(data)})
	return t
}

func (t *testGraph) initInts(name string, v ...int64) *testGraph {
	t.g.Initializer = append(t.g.Initializer, &pb.TensorProto{Name: proto.String(name), Dims: []int64{int64(len(v))},
		DataType: proto.Int32(dtInt64), Int64Data: v})
	return t
}

func (t *testGraph) randInit(r *rand.Rand, name string, shape ...int) *testGraph {
	d := make([]float32, numel(shape))
	for i := range d {
		d[i] = float32(r.NormFloat64() * 0.5)
	}
	return t.init(name, shape, d)
}

func (t *testGraph) node(op string, ins, outs []string, attrs ...*pb.AttributeProto) *testGraph {
	t.g.Node = append(t.g.Node, &pb.NodeProto{OpType: proto.String(op), Input: ins, Output: outs, Attribute: attrs,
		Name: proto.String(op + "_" + outs[0])})
	return t
}

func (t *testGraph) bytes() []byte {
	m := &pb.ModelProto{IrVersion: proto.Int64(8), Graph: t.g, ProducerName: proto.String("advmatrix-test"),
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(t.opset)}}}
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func aInt(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func aInts(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: v}
}

func aFloat(name string, v float32) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func aString(name, v string) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// checkGradients compares the float64 VJP of output 0 — with respect to
// every run-time input and every parameter — against central differences.
func checkGradients(t *testing.T, model []byte, shapes [][]int, seed uint64) {
	t.Helper()
	checkGradientsMode(t, model, shapes, seed, false)
}

// checkGradientsMode is checkGradients, optionally in training mode
// (BatchNorm on batch statistics; Dropout with a mask fixed across the
// finite-difference evaluations).
func checkGradientsMode(t *testing.T, model []byte, shapes [][]int, seed uint64, training bool) {
	t.Helper()
	rep, err := gradCheck(model, shapes, seed, training)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxRelError > 1e-6 || math.IsNaN(rep.MaxRelError) {
		t.Errorf("%s", rep.Worst)
	}
}
