package models

import (
	"math/rand/v2"
	"os"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// fuzzMaxElements keeps the fuzzer's allocations small: the default limit
// (2^28 elements per tensor) would let one mutated shape take a GiB.
const fuzzMaxElements = 1 << 20

// fuzzSeeds are valid models of many op types, the embedded LeNet, and
// truncated and damaged variants of them.
func fuzzSeeds(tb testing.TB) [][]byte {
	r := rand.New(rand.NewPCG(21, 22))
	var seeds [][]byte
	for _, tg := range seedGraphs(r) {
		b := tg.bytes()
		if _, err := Load(b); err != nil {
			tb.Fatalf("seed graph %s does not load: %v", tg.g.GetNode()[len(tg.g.GetNode())-1].GetName(), err)
		}
		seeds = append(seeds, b, b[:len(b)/2], b[:len(b)-3])
	}
	if b, err := os.ReadFile("zoo/lenet_mnist.onnx"); err == nil {
		seeds = append(seeds, b, b[:1000])
		// The LeNet without its weights' bulk: the same graph, tiny weights,
		// so mutations land on structure rather than on raw floats.
		var m pb.ModelProto
		if err := proto.Unmarshal(b, &m); err == nil {
			for _, t := range m.GetGraph().GetInitializer() {
				if len(t.RawData) > 64 {
					t.RawData = t.RawData[:64]
				}
			}
			if s, err := proto.Marshal(&m); err == nil {
				seeds = append(seeds, s)
			}
		}
	}
	return seeds
}

// seedGraphs are small valid classifiers covering the supported ops.
func seedGraphs(r *rand.Rand) []*testGraph {
	x := []string{"x"}
	head := func(opset int64, shape ...int) *testGraph {
		return newTestGraph(opset).input("x", shape...).output("logits")
	}
	// tail flattens in and maps its k features to 3 logits.
	tail := func(tg *testGraph, in string, k int) *testGraph {
		return tg.randInit(r, "Wt", 3, k).randInit(r, "Bt", 3).
			node("Flatten", []string{in}, []string{"ft"}).
			node("Gemm", []string{"ft", "Wt", "Bt"}, []string{"logits"}, aInt("transB", 1))
	}
	return []*testGraph{
		gemmModel(r),
		convModel(r),
		// Normalisation, pooling, padding.
		tail(head(13, -1, 2, 6, 6).
			randInit(r, "sc", 2).randInit(r, "bb", 2).randInit(r, "mu", 2).init("va", []int{2}, []float32{1, 2}).
			node("BatchNormalization", []string{"x", "sc", "bb", "mu", "va"}, []string{"bn"}).
			initInts("pads", 0, 0, 1, 1, 0, 0, 1, 1).
			node("Pad", []string{"bn", "pads"}, []string{"pd"}).
			node("AveragePool", []string{"pd"}, []string{"ap"}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2)).
			node("LeakyRelu", []string{"ap"}, []string{"lr"}, aFloat("alpha", 0.1)), "lr", 32),
		// Shape arithmetic the way exporters write it.
		tail(head(13, -1, 1, 4, 4).
			node("Shape", x, []string{"s"}).
			initInts("i0", 0).
			node("Gather", []string{"s", "i0"}, []string{"n"}, aInt("axis", 0)).
			initInts("m1", -1).
			node("Concat", []string{"n", "m1"}, []string{"shp"}, aInt("axis", 0)).
			node("Reshape", []string{"x", "shp"}, []string{"rs"}).
			node("Sigmoid", []string{"rs"}, []string{"sg"}), "sg", 16),
		// Slicing, transposes, reductions, softmax.
		tail(head(13, -1, 2, 4, 4).
			initInts("st", 0, 1).initInts("en", 2, 4).initInts("ax", 1, 2).
			node("Slice", []string{"x", "st", "en", "ax"}, []string{"sl"}).
			node("Transpose", []string{"sl"}, []string{"tr"}, aInts("perm", 0, 1, 3, 2)).
			node("ReduceMean", []string{"tr"}, []string{"rm"}, aInts("axes", 3), aInt("keepdims", 1)).
			node("Softmax", []string{"rm"}, []string{"sm"}, aInt("axis", 2)).
			node("Tanh", []string{"sm"}, []string{"th"}), "th", 8),
		// Element-wise arithmetic with broadcasting, Clip with bounds.
		tail(head(13, -1, 1, 4, 4).
			randInit(r, "c", 1, 4, 1).
			node("Mul", []string{"x", "c"}, []string{"mu"}).
			node("Sub", []string{"mu", "x"}, []string{"su"}).
			init("lo", nil, []float32{-0.5}).init("hi", nil, []float32{0.5}).
			node("Clip", []string{"su", "lo", "hi"}, []string{"cl"}).
			node("Exp", []string{"cl"}, []string{"ex"}).
			node("Add", []string{"ex", "x"}, []string{"ad"}).
			node("Div", []string{"ad", "ex"}, []string{"dv"}).
			node("Sqrt", []string{"dv"}, []string{"sq"}).
			node("Max", []string{"sq", "x"}, []string{"mx"}), "mx", 16),
		// Opset 11 conventions, a 3-dim input, MatMul, GlobalAveragePool.
		tail(head(11, -1, 4, 4).
			randInit(r, "mm", 4, 5).
			node("MatMul", []string{"x", "mm"}, []string{"mt"}).
			node("Unsqueeze", []string{"mt"}, []string{"us"}, aInts("axes", 1)).
			node("GlobalAveragePool", []string{"us"}, []string{"gp"}).
			node("Squeeze", []string{"gp"}, []string{"sq"}, aInts("axes", 3)), "sq", 1),
	}
}

func FuzzLoad(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(data, WithMaxTensorElements(fuzzMaxElements))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if m.NumClasses() < 1 || len(m.InputShape()) == 0 {
			t.Fatalf("loaded with %d classes and input shape %v", m.NumClasses(), m.InputShape())
		}
		sz := numel(m.InputShape())
		if sz > 1e5 {
			return
		}
		for _, n := range []int{1, 2} {
			x := make([]float32, n*sz)
			if err := m.Logits(make([]float32, n*m.NumClasses()), x); err != nil {
				if n == 1 {
					t.Fatalf("batch 1 compiled at load but Logits fails: %v", err)
				}
				continue // a fixed batch axis
			}
			if err := m.Grad(make([]float32, len(x)), x, func(z, dz []float32) {
				for i := range dz {
					dz[i] = 1
				}
			}); err != nil && n == 1 {
				t.Logf("Grad at batch 1: %v", err)
			}
		}
	})
}

func FuzzInspect(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Inspect(data, WithMaxTensorElements(fuzzMaxElements))
		if err != nil {
			return
		}
		if in.Runnable == (in.Problem != "") {
			t.Fatalf("runnable=%v with problem %q", in.Runnable, in.Problem)
		}
		if in.Runnable && in.Classes < 1 {
			t.Fatalf("runnable with %d classes", in.Classes)
		}
	})
}
