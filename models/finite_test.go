package models

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// withValue returns tg's model bytes with value v at index i of the
// float initializer named name.
func withValue(t *testing.T, tg *testGraph, name string, i int, v float32) []byte {
	t.Helper()
	m := &pb.ModelProto{}
	if err := proto.Unmarshal(tg.bytes(), m); err != nil {
		t.Fatal(err)
	}
	for _, init := range m.Graph.Initializer {
		if init.GetName() == name {
			binary.LittleEndian.PutUint32(init.RawData[4*i:], math.Float32bits(v))
		}
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A model with a NaN or infinite weight is an input error naming the
// initializer, unless AllowNonFinite is given: before, a LeNet with one NaN
// weight loaded and scored 10% with exit 0.
func TestNonFiniteWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	clip := func(lo, hi float32) *testGraph {
		return newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").
			randInit(r, "W", 3, 16).init("lo", nil, []float32{lo}).init("hi", nil, []float32{hi}).
			node("Clip", []string{"x", "lo", "hi"}, []string{"c"}).
			node("Flatten", []string{"c"}, []string{"f"}).
			node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1))
	}
	constant := func(v float32) *testGraph {
		c := &pb.TensorProto{Dims: []int64{1}, DataType: proto.Int32(dtFloat), RawData: float32sLE([]float32{v})}
		return newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").randInit(r, "W", 3, 16).
			node("Constant", nil, []string{"k"}, &pb.AttributeProto{Name: proto.String("value"), Type: pb.AttributeProto_TENSOR.Enum(), T: c}).
			node("Mul", []string{"x", "k"}, []string{"m"}).
			node("Flatten", []string{"m"}, []string{"f"}).
			node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1))
	}
	tests := []struct {
		name  string
		model []byte
		want  string // "" loads
	}{
		{"finite", gemmModel(r).bytes(), ""},
		{"NaN weight", withValue(t, gemmModel(r), "W", 17, nan), `initializer "W": value 17 is NaN`},
		{"+Inf bias", withValue(t, gemmModel(r), "B", 2, inf), `initializer "B": value 2 is +Inf`},
		{"-Inf weight", withValue(t, gemmModel(r), "W", 0, -inf), `initializer "W": value 0 is -Inf`},
		{"infinite Clip bounds", clip(-inf, inf).bytes(), ""},
		{"NaN Clip bound", clip(nan, 1).bytes(), `initializer "lo": value 0 is NaN`},
		{"NaN Constant", constant(nan).bytes(), `Constant node "Constant_k": value 0 is NaN`},
		{"Inf Constant", constant(inf).bytes(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadNoPanic(t, tt.name, tt.model)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var nf *NonFiniteError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &nf) {
				t.Errorf("error %v, want a *NonFiniteError containing %q", err, tt.want)
			}
			if _, err := loadNoPanic(t, tt.name, tt.model, AllowNonFinite()); err != nil {
				t.Errorf("with AllowNonFinite: %v", err)
			}
			in, err := Inspect(tt.model)
			if err != nil || in.Runnable || !strings.Contains(in.Problem, tt.want) {
				t.Errorf("Inspect: %+v, %v", in, err)
			}
		})
	}
}

func TestCheckFinite(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		v    []float64
		want string
	}{
		{nil, ""},
		{[]float64{0, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}, ""},
		{[]float64{1, nan}, "logits: value 1 is NaN"},
		{[]float64{-inf, 2, nan, inf}, "logits: 3 values are not finite, the first (index 0) is -Inf"},
	}
	for _, tt := range tests {
		for _, err := range []error{CheckFinite("logits", tt.v), CheckFinite("logits", f32s(tt.v))} {
			if tt.want == "" {
				if err != nil {
					t.Errorf("%v: %v", tt.v, err)
				}
				continue
			}
			var nf *NonFiniteError
			if err == nil || err.Error() != tt.want || !errors.As(err, &nf) {
				t.Errorf("%v: error %v, want %q", tt.v, err, tt.want)
			}
		}
	}
	// float32 overflow: a finite float64 that is infinite as float32.
	big := 1e39
	if err := CheckFinite("g", []float32{float32(big)}); err == nil {
		t.Error("float32(1e39) passed")
	}
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// A model whose input fixes the batch size loads (it is compiled at that
// batch) and says so; before, any fixed batch but 1 failed to load.
func TestFixedBatchSize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	m, err := Load(gemmModel(r).bytes())
	if err != nil || m.FixedBatch() != 0 {
		t.Errorf("dynamic batch: %v, FixedBatch %d", err, m.FixedBatch())
	}
	for _, n := range []int{1, 4} {
		tg := gemmModel(r)
		tg.g.Input[0] = valueInfo("x", dtFloat, []int{n, 1, 4, 4})
		m, err = Load(tg.bytes())
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		if m.FixedBatch() != n {
			t.Errorf("batch %d: FixedBatch %d", n, m.FixedBatch())
		}
		if err := m.Logits(make([]float32, 3*n), make([]float32, 16*n)); err != nil {
			t.Errorf("batch %d: %v", n, err)
		}
	}
}
