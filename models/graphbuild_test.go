package models

import (
	"fmt"
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
	checkFloat32(t, model, shapes, seed, training)
}

// checkFloat32 runs the float32 and float64 programs on the same random
// inputs and cotangent and compares outputs and gradients: float32 has
// kernels of its own (SIMD loops, fused epilogues) that the float64 finite
// differences do not reach.
func checkFloat32(t *testing.T, model []byte, shapes [][]int, seed uint64, training bool) {
	t.Helper()
	_, g, err := parseGraph(model, loadOptions{maxElements: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	p64, err := compile[float64](g, compileOptions{inputShapes: shapes, inputGrad: true, paramGrad: true, training: training, maxElements: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	p64.loadParams(g)
	r := rand.New(rand.NewPCG(seed, 7))
	for _, s := range p64.inputs {
		for i := range p64.data[s] {
			p64.data[s][i] = r.NormFloat64()
		}
	}
	v := make([]float64, len(p64.data[p64.outputs[0]]))
	for i := range v {
		v[i] = r.NormFloat64()
	}
	leaves := append([]int(nil), p64.inputs...)
	for _, s := range p64.paramSlot {
		if s >= 0 {
			leaves = append(leaves, s)
		}
	}
	p, err := compile[float32](g, compileOptions{inputShapes: shapes, inputGrad: true, paramGrad: true, training: training, maxElements: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	p.loadParams(g)
	for _, s := range leaves {
		for i, x := range p64.data[s] {
			p.data[s][i] = float32(x)
		}
	}
	p64.weightsChanged()
	p64.reseed(11)
	p64.forward()
	p.reseed(11)
	p.forward()
	out := p.outputs[0]
	compare := func(what string, got []float32, want []float64) {
		t.Helper()
		scale := 0.0
		for _, w := range want {
			scale = max(scale, math.Abs(w))
		}
		for i, w := range want {
			if d := math.Abs(float64(got[i]) - w); d > 1e-4*max(scale, 1e-3) {
				t.Errorf("float32 %s[%d] = %.7g, float64 %.7g", what, i, got[i], w)
				return
			}
		}
	}
	compare("output", p.data[out], p64.data[p64.outputs[0]])
	p.zeroGrads()
	for i, x := range v {
		p.grad[out][i] = float32(x)
	}
	p.backward(p.seedStep(out))
	p64.zeroGrads()
	copy(p64.grad[p64.outputs[0]], v)
	p64.backward(p64.seedStep(p64.outputs[0]))
	for _, s := range leaves {
		if p.grad[s] != nil {
			compare(fmt.Sprintf("gradient of slot %d %v", s, p.shapes[s]), p.grad[s], p64.grad[s])
		}
	}
}
