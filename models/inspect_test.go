package models

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// A model exported with float64 weights (float32 input, then Cast) runs,
// and inspect counts its weights; they are not float32, so they are not
// trainable parameters.
func TestInspectCountsFloat64Weights(t *testing.T) {
	f64 := func(name string, shape []int64, v []float64) *pb.TensorProto {
		raw := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(x))
		}
		return &pb.TensorProto{Name: proto.String(name), Dims: shape, DataType: proto.Int32(dtDouble), RawData: raw}
	}
	w := []float64{0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9, 1.0, 1.1, 1.2}
	b := []float64{0.01, 0.02, 0.03}
	tg := newTestGraph(13).input("x", -1, 1, 2, 2).
		node("Flatten", []string{"x"}, []string{"f"}).
		node("Cast", []string{"f"}, []string{"fd"}, aInt("to", int64(dtDouble))).
		node("Gemm", []string{"fd", "W", "B"}, []string{"zd"}, aInt("transB", 1)).
		node("Cast", []string{"zd"}, []string{"logits"}, aInt("to", int64(dtFloat))).output("logits")
	tg.g.Initializer = append(tg.g.Initializer, f64("W", []int64{3, 4}, w), f64("B", []int64{3}, b))
	data := tg.bytes()
	in, err := Inspect(data)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Runnable || in.Parameters != 15 {
		t.Errorf("inspect: runnable %v, %d parameters, want 15 (%s)", in.Runnable, in.Parameters, in.Problem)
	}
	m, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumParams() != 0 {
		t.Errorf("%d trainable parameters, want 0 (the weights are float64)", m.NumParams())
	}
	z := make([]float32, 3)
	x := []float32{1, 2, 3, 4}
	if err := m.Logits(z, x); err != nil {
		t.Fatal(err)
	}
	for i := range z {
		want := b[i]
		for j := range x {
			want += w[i*4+j] * float64(x[j])
		}
		if math.Abs(float64(z[i])-want) > 1e-6 {
			t.Errorf("logit %d = %v, want %v", i, z[i], want)
		}
	}

	// A float32 model: inspect's count is the trainable parameters.
	m32, err := LoadFile(filepath.Join("testdata", "arch", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	in, err = InspectFile(filepath.Join("testdata", "arch", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Parameters != m32.NumParams() {
		t.Errorf("lenet: inspect counts %d parameters, the model has %d", in.Parameters, m32.NumParams())
	}
}
