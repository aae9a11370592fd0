package models

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// The transformer ops' VJPs against central differences in float64, as
// TestOpGradients does for the others.
func TestTransformerOpGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name   string
		build  func() *testGraph
		shapes [][]int
	}{
		{"Erf", func() *testGraph {
			return newTestGraph(13).input("x", 3, 7).node("Erf", []string{"x"}, []string{"y"}).output("y")
		}, [][]int{{3, 7}}},
		{"Gelu exact and tanh", func() *testGraph {
			return newTestGraph(20).input("x", 4, 5).node("Gelu", []string{"x"}, []string{"a"}).
				node("Gelu", []string{"x"}, []string{"b"}, aString("approximate", "tanh")).
				node("Add", []string{"a", "b"}, []string{"y"}).output("y")
		}, [][]int{{4, 5}}},
		{"GELU as PyTorch exports it before opset 20", func() *testGraph {
			return newTestGraph(13).input("x", 2, 9).init("s2", nil, []float32{1.4142135}).init("one", nil, []float32{1}).
				init("half", nil, []float32{0.5}).
				node("Div", []string{"x", "s2"}, []string{"a"}).node("Erf", []string{"a"}, []string{"b"}).
				node("Add", []string{"b", "one"}, []string{"c"}).node("Mul", []string{"x", "c"}, []string{"d"}).
				node("Mul", []string{"d", "half"}, []string{"y"}).output("y")
		}, [][]int{{2, 9}}},
		{"Mul and Div: elementwise, scalar first, scalar second", func() *testGraph {
			return newTestGraph(13).input("a", 3, 8).input("b", 3, 8).init("s", nil, []float32{1.7}).
				node("Abs", []string{"b"}, []string{"bb"}).init("one", nil, []float32{1}).node("Add", []string{"bb", "one"}, []string{"d"}).
				node("Div", []string{"a", "d"}, []string{"q"}).node("Mul", []string{"q", "b"}, []string{"m"}).
				node("Mul", []string{"s", "m"}, []string{"p"}).node("Div", []string{"p", "s"}, []string{"r"}).
				node("Sub", []string{"s", "r"}, []string{"u"}).node("Div", []string{"s", "d"}, []string{"w"}).
				node("Add", []string{"u", "w"}, []string{"y"}).output("y")
		}, [][]int{{3, 8}, {3, 8}}},
		{"LayerNormalization last axis", func() *testGraph {
			return newTestGraph(17).input("x", -1, 5, 8).randInit(r, "s", 8).randInit(r, "b", 8).
				node("LayerNormalization", []string{"x", "s", "b"}, []string{"y"}, aFloat("epsilon", 1e-6)).output("y")
		}, [][]int{{3, 5, 8}}},
		{"LayerNormalization two axes, broadcast scale, no bias", func() *testGraph {
			return newTestGraph(17).input("x", -1, 3, 4, 5).randInit(r, "s", 5).
				node("LayerNormalization", []string{"x", "s"}, []string{"y"}, aInt("axis", 2)).output("y")
		}, [][]int{{2, 3, 4, 5}}},
		{"LayerNormalization Mean and InvStdDev outputs", func() *testGraph {
			return newTestGraph(17).input("x", 4, 6).randInit(r, "s", 6).randInit(r, "b", 6).
				node("LayerNormalization", []string{"x", "s", "b"}, []string{"n", "mean", "inv"}).
				node("Mul", []string{"mean", "inv"}, []string{"mi"}).node("Add", []string{"n", "mi"}, []string{"a"}).
				node("Add", []string{"a", "inv"}, []string{"y"}).output("y")
		}, [][]int{{4, 6}}},
		{"LayerNormalization rows split over cores", func() *testGraph {
			return newTestGraph(17).input("x", -1, 64).randInit(r, "s", 64).randInit(r, "b", 64).
				node("LayerNormalization", []string{"x", "s", "b"}, []string{"y"}).output("y")
		}, [][]int{{300, 64}}},
		{"torch.roll as exported: Slice to INT64_MAX, Concat", func() *testGraph {
			return newTestGraph(13).input("x", 2, 5, 3).initInts("s0", 2).initInts("e0", math.MaxInt64).initInts("s1", 0).
				initInts("e1", 2).initInts("ax", 1).
				node("Slice", []string{"x", "s0", "e0", "ax"}, []string{"a"}).node("Slice", []string{"x", "s1", "e1", "ax"}, []string{"b"}).
				node("Concat", []string{"a", "b"}, []string{"y"}, aInt("axis", 1)).output("y")
		}, [][]int{{2, 5, 3}}},
		{"Softmax and LogSoftmax rows split over cores", func() *testGraph {
			return newTestGraph(13).input("x", 4, 50, 30).node("Softmax", []string{"x"}, []string{"a"}).
				node("LogSoftmax", []string{"x"}, []string{"b"}).node("Add", []string{"a", "b"}, []string{"y"}).output("y")
		}, [][]int{{4, 50, 30}}},
		{"Mod fmod", func() *testGraph {
			return newTestGraph(13).input("a", 3, 4).input("b", 4).node("Mod", []string{"a", "b"}, []string{"y"}, aInt("fmod", 1)).output("y")
		}, [][]int{{3, 4}, {4}}},
		{"ScatterND none with a duplicate index", func() *testGraph {
			return newTestGraph(13).input("d", 4, 3).input("u", 3, 3).initInts2("i", []int{3, 1}, 2, 0, 2).
				node("ScatterND", []string{"d", "i", "u"}, []string{"y"}).output("y")
		}, [][]int{{4, 3}, {3, 3}}},
		{"ScatterND add and mul", func() *testGraph {
			return newTestGraph(16).input("d", 2, 3, 2).input("u", 3, 2).initInts2("i", []int{3, 2}, 1, 2, 0, 0, 1, 2).
				node("ScatterND", []string{"d", "i", "u"}, []string{"a"}, aString("reduction", "add")).
				node("ScatterND", []string{"d", "i", "u"}, []string{"m"}, aString("reduction", "mul")).
				node("Add", []string{"a", "m"}, []string{"y"}).output("y")
		}, [][]int{{2, 3, 2}, {3, 2}}},
		{"ScatterND max and min", func() *testGraph {
			return newTestGraph(18).input("d", 5, 2).input("u", 3, 2).initInts2("i", []int{3, 1}, 1, -1, 1).
				node("ScatterND", []string{"d", "i", "u"}, []string{"a"}, aString("reduction", "max")).
				node("ScatterND", []string{"d", "i", "u"}, []string{"m"}, aString("reduction", "min")).
				node("Add", []string{"a", "m"}, []string{"y"}).output("y")
		}, [][]int{{5, 2}, {3, 2}}},
		{"MatMul attention-sized batch split over cores", func() *testGraph {
			return newTestGraph(13).input("q", 2, 8, 16, 16).input("k", 2, 8, 16, 16).
				node("MatMul", []string{"q", "k"}, []string{"y"}).output("y")
		}, [][]int{{2, 8, 16, 16}, {2, 8, 16, 16}}},
		{"Einsum attention scores (transposed B)", func() *testGraph {
			return newTestGraph(13).input("q", 2, 3, 4, 5).input("k", 2, 3, 6, 5).
				node("Einsum", []string{"q", "k"}, []string{"y"}, aString("equation", "bhid,bhjd->bhij")).output("y")
		}, [][]int{{2, 3, 4, 5}, {2, 3, 6, 5}}},
		{"Einsum attention output", func() *testGraph {
			return newTestGraph(13).input("a", 2, 3, 4, 6).input("v", 2, 3, 6, 5).
				node("Einsum", []string{"a", "v"}, []string{"y"}, aString("equation", "bhij,bhjd->bhid")).output("y")
		}, [][]int{{2, 3, 4, 6}, {2, 3, 6, 5}}},
		{"Einsum transposed A, rearranged operand and output", func() *testGraph {
			return newTestGraph(13).input("a", 4, 3, 2).input("b", 2, 4, 5).
				node("Einsum", []string{"a", "b"}, []string{"p"}, aString("equation", "kmb,bkn->bmn")).
				node("Einsum", []string{"a", "b"}, []string{"q"}, aString("equation", "kmb , bkn -> nbm")).
				node("Einsum", []string{"b", "a"}, []string{"s"}, aString("equation", "bkn,kmb->bnm")).
				node("Einsum", []string{"p", "q"}, []string{"y"}, aString("equation", "bmn,nbm->bm")).
				node("Einsum", []string{"s", "y"}, []string{"z"}, aString("equation", "bnm,bm->bn")).output("z")
		}, [][]int{{4, 3, 2}, {2, 4, 5}}},
		{"Einsum loops: diagonal, three operands, implicit output, broadcast ellipsis", func() *testGraph {
			return newTestGraph(13).input("a", 3, 3).input("b", 3, 4).input("c", 4, 2).input("e", 1, 3, 4).
				node("Einsum", []string{"a"}, []string{"d"}, aString("equation", "ii->i")).
				node("Einsum", []string{"a", "b", "c"}, []string{"p"}, aString("equation", "ij,jk,kl")).
				node("Einsum", []string{"e", "b"}, []string{"q"}, aString("equation", "...ij,ij->...i")).
				node("Einsum", []string{"d", "p", "q"}, []string{"y"}, aString("equation", "i,il,ni->nl")).output("y")
		}, [][]int{{3, 3}, {3, 4}, {4, 2}, {1, 3, 4}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkGradients(t, tc.build().bytes(), tc.shapes, uint64(i+100))
		})
	}
}

// initInts2 adds an int64 initializer of any shape.
func (t *testGraph) initInts2(name string, shape []int, v ...int64) *testGraph {
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	t.g.Initializer = append(t.g.Initializer, &pb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(dtInt64), Int64Data: v})
	return t
}

// runGraph compiles a test graph in T and runs it on the given inputs.
func runGraph[T Float](t *testing.T, tg *testGraph, shapes [][]int, inputs ...[]T) []T {
	t.Helper()
	_, g, err := parseGraph(tg.bytes(), loadOptions{maxElements: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	p, err := compile[T](g, compileOptions{inputShapes: shapes, maxElements: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	p.loadParams(g)
	for i, x := range inputs {
		if err := p.setInput(i, x); err != nil {
			t.Fatal(err)
		}
	}
	p.forward()
	return append([]T(nil), p.output(0)...)
}

// Gelu is new in opset 20, after the ONNX test data Debian packages; these
// are ONNX's test_gelu_default_1 and test_gelu_tanh_1.
func TestGeluNodeTests(t *testing.T) {
	x := []float32{-1, 0, 1}
	for _, c := range []struct {
		approx string
		want   []float32
	}{
		{"none", []float32{-0.15865526, 0, 0.8413447}},
		{"tanh", []float32{-0.158808, 0, 0.841192}},
	} {
		tg := newTestGraph(20).input("x", 3).node("Gelu", []string{"x"}, []string{"y"}, aString("approximate", c.approx)).output("y")
		got := runGraph[float32](t, tg, [][]int{{3}}, x)
		for i := range got {
			if math.Abs(float64(got[i]-c.want[i])) > 1e-6 {
				t.Errorf("Gelu(approximate=%s)(%v) = %v, want %v", c.approx, x[i], got[i], c.want[i])
			}
		}
	}
	// Exact values, in float64.
	tg := newTestGraph(20).input("x", 3).node("Gelu", []string{"x"}, []string{"y"}).output("y")
	got := runGraph[float64](t, tg, [][]int{{3}}, []float64{-1, 0, 1})
	for i, want := range []float64{-0.15865525393145707, 0, 0.8413447460685429} {
		if math.Abs(got[i]-want) > 1e-15 {
			t.Errorf("Gelu float64 [%d] = %v, want %v", i, got[i], want)
		}
	}
}

// Bad transformer-op nodes are load errors naming the problem, not panics.
func TestTransformerOpErrors(t *testing.T) {
	head := func(opset int64) *testGraph { return newTestGraph(opset).input("x", -1, 4, 6) }
	cases := []struct {
		name string
		tg   *testGraph
		want string
	}{
		{"Gelu before opset 20", head(18).node("Gelu", []string{"x"}, []string{"y"}), "does not exist in opset 18"},
		{"Gelu unknown approximation", head(20).node("Gelu", []string{"x"}, []string{"y"}, aString("approximate", "sigmoid")), "approximate"},
		{"LayerNormalization before opset 17", head(16).init("s", []int{6}, make([]float32, 6)).
			node("LayerNormalization", []string{"x", "s"}, []string{"y"}), "does not exist in opset 16"},
		{"LayerNormalization axis out of range", head(17).init("s", []int{6}, make([]float32, 6)).
			node("LayerNormalization", []string{"x", "s"}, []string{"y"}, aInt("axis", 3)), "axis 3 is out of range"},
		{"LayerNormalization scale of the wrong size", head(17).init("s", []int{5}, make([]float32, 5)).
			node("LayerNormalization", []string{"x", "s"}, []string{"y"}), "does not broadcast to the normalised shape"},
		{"LayerNormalization scale over the batch", head(17).init("s", []int{2, 4, 6}, make([]float32, 48)).
			node("LayerNormalization", []string{"x", "s"}, []string{"y"}, aInt("axis", 1)), "does not broadcast"},
		{"LayerNormalization without scale", head(17).node("LayerNormalization", []string{"x"}, []string{"y"}), "expects 2 to 3"},
		{"Mod float without fmod", head(13).init("m", nil, []float32{2}).node("Mod", []string{"x", "m"}, []string{"y"}), "needs fmod=1"},
		{"Mod fmod out of range", head(13).init("m", nil, []float32{2}).node("Mod", []string{"x", "m"}, []string{"y"}, aInt("fmod", 2)), "fmod must be 0 or 1"},
		{"Mod shapes", head(13).init("m", []int{5}, make([]float32, 5)).node("Mod", []string{"x", "m"}, []string{"y"}, aInt("fmod", 1)), "do not broadcast"},
		{"ScatterND index out of range", head(13).init("u", []int{1, 6}, make([]float32, 6)).initInts2("i", []int{1, 2}, 0, 4).
			node("ScatterND", []string{"x", "i", "u"}, []string{"y"}), "out of range"},
		{"ScatterND updates of the wrong shape", head(13).init("u", []int{5}, make([]float32, 5)).initInts2("i", []int{1, 2}, 0, 1).
			node("ScatterND", []string{"x", "i", "u"}, []string{"y"}), "updates have shape"},
		{"ScatterND too many index axes", head(13).init("u", []int{1}, make([]float32, 1)).initInts2("i", []int{1, 4}, 0, 0, 0, 0).
			node("ScatterND", []string{"x", "i", "u"}, []string{"y"}), "address 4 axes"},
		{"ScatterND max before opset 18", head(16).init("u", []int{1, 6}, make([]float32, 6)).initInts2("i", []int{1, 2}, 0, 1).
			node("ScatterND", []string{"x", "i", "u"}, []string{"y"}, aString("reduction", "max")), "not supported at opset 16"},
		{"ScatterND indices from the data", head(13).init("u", []int{1, 6}, make([]float32, 6)).
			node("ScatterND", []string{"x", "x", "u"}, []string{"y"}), "must be known when the graph is compiled"},
		{"Einsum without equation", head(13).node("Einsum", []string{"x"}, []string{"y"}), "equation attribute is required"},
		{"Einsum bad label", head(13).node("Einsum", []string{"x"}, []string{"y"}, aString("equation", "b1j->bj")), "is not a label"},
		{"Einsum wrong rank", head(13).node("Einsum", []string{"x"}, []string{"y"}, aString("equation", "ij->i")), "does not fit input 0"},
		{"Einsum size mismatch", head(13).node("Einsum", []string{"x", "x"}, []string{"y"}, aString("equation", "bij,bjk->bik")), "label j has sizes 6 and 4"},
		{"Einsum output label not in the inputs", head(13).node("Einsum", []string{"x"}, []string{"y"}, aString("equation", "bij->bk")), "is in no input"},
		{"Einsum repeated output label", head(13).node("Einsum", []string{"x"}, []string{"y"}, aString("equation", "bij->bii")), "repeats"},
		{"Einsum operand count", head(13).node("Einsum", []string{"x", "x"}, []string{"y"}, aString("equation", "bij->bi")), "has 1 operands"},
		{"Einsum loop too large", newTestGraph(13).input("x", -1, 4, 6).init("a", []int{1024, 1024}, make([]float32, 1024*1024)).
			node("Einsum", []string{"a", "a", "a"}, []string{"y"}, aString("equation", "ij,jk,kl->il")), "needs more than"},
		{"Einsum two ellipses", head(13).node("Einsum", []string{"x"}, []string{"y"}, aString("equation", "...i...->i")), "two ellipses"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, g, err := parseGraph(c.tg.output("y").bytes(), loadOptions{maxElements: 1 << 20})
			if err == nil {
				_, err = compile[float32](g, compileOptions{inputShapes: [][]int{{2, 4, 6}}, maxElements: 1 << 20})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// Slice's "to the end" is INT64_MAX, which must not wrap when converted.
func TestSliceToInt64Max(t *testing.T) {
	tg := newTestGraph(13).input("x", 1, 5).initInts("s", 2).initInts("e", math.MaxInt64).initInts("ax", 1).
		node("Slice", []string{"x", "s", "e", "ax"}, []string{"y"}).output("y")
	got := runGraph[float32](t, tg, [][]int{{1, 5}}, []float32{0, 1, 2, 3, 4})
	if len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Errorf("x[:, 2:INT64_MAX] = %v, want [2 3 4]", got)
	}
}

// erfFast, rounded to float32, is within an ulp of float32(math.Erf)
// everywhere, and within 1e-10 of math.Erf before rounding on (−4, 4)
// (beyond, it is ±1, which is erf rounded to float32).
func TestErfFast(t *testing.T) {
	worstAbs, ulps := 0.0, 0
	for i := -6000000; i <= 6000000; i++ {
		x := float64(i) * 1e-6
		got, want := erfFast(x), math.Erf(x)
		if math.Abs(x) < 4 {
			worstAbs = max(worstAbs, math.Abs(got-want))
		}
		g32, w32 := float32(got), float32(want)
		if d := int(math.Float32bits(g32)) - int(math.Float32bits(w32)); d > ulps || -d > ulps {
			ulps = max(d, -d)
		}
	}
	t.Logf("erfFast: max abs error %.2g on (-4, 4), max %d float32 ulp on [-6, 6]", worstAbs, ulps)
	if worstAbs > 1e-10 || ulps > 1 {
		t.Errorf("erfFast: max abs error %.2g, %d float32 ulps", worstAbs, ulps)
	}
	for _, x := range []float64{math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 50} {
		if got := erfFast(x); got != math.Erf(x) {
			t.Errorf("erfFast(%v) = %v, want %v", x, got, math.Erf(x))
		}
	}
	if got, want := erfFast(1e-30), math.Erf(1e-30); math.Abs(got-want) > 1e-10*want {
		t.Errorf("erfFast(1e-30) = %v, want %v", got, want)
	}
	if !math.IsNaN(erfFast(math.NaN())) {
		t.Error("erfFast(NaN) is not NaN")
	}
}

// expFast is within 1e-10 relative of math.Exp where softmax uses it, and
// handles the edges.
func TestExpFast(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 2000000; i++ {
		x := -700 + float64(i)*0.00035 // [-700, 0]
		worst = max(worst, math.Abs(expFast(x)/math.Exp(x)-1))
	}
	for i := 0; i <= 200000; i++ {
		x := float64(i) * 0.0035 // [0, 700]
		worst = max(worst, math.Abs(expFast(x)/math.Exp(x)-1))
	}
	t.Logf("expFast on [-700, 700]: max relative error %.2g", worst)
	if worst > 1e-10 {
		t.Errorf("expFast: max relative error %.2g", worst)
	}
	if expFast(0) != 1 && math.Abs(expFast(0)-1) > 1e-10 {
		t.Errorf("expFast(0) = %v", expFast(0))
	}
	if expFast(-1000) != 0 || !math.IsInf(expFast(1000), 1) || !math.IsNaN(expFast(math.NaN())) || expFast(math.Inf(-1)) != 0 {
		t.Error("expFast edges")
	}
}
