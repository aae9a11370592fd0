package models

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Robustness: bad input of every kind must give an error, never a panic,
// and the error must say what is wrong.

// loadNoPanic loads a model, turning a panic into a test failure that shows
// the stack, so one bad case does not hide the others.
func loadNoPanic(t *testing.T, what string, data []byte, opts ...Option) (m *Model, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: Load panicked: %v\n%s", what, r, debug.Stack())
			m, err = nil, errPanicked
		}
	}()
	return Load(data, opts...)
}

// loadFileNoPanic is loadNoPanic for LoadFile.
func loadFileNoPanic(t *testing.T, path string, opts ...Option) (m *Model, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: LoadFile panicked: %v\n%s", path, r, debug.Stack())
			m, err = nil, errPanicked
		}
	}()
	return LoadFile(path, opts...)
}

type panicError struct{}

func (panicError) Error() string { return "panicked" }

var errPanicked error = panicError{}

// exercise runs a model that loaded on zero images at batch 1 and 2, and
// takes a gradient: whatever a file that loads holds, running it must not
// panic either.
func exercise(t *testing.T, what string, m *Model) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: running a loaded model panicked: %v\n%s", what, r, debug.Stack())
		}
	}()
	sz := m.imageSize()
	if sz > 1e5 {
		return
	}
	for _, n := range []int{1, 2} {
		x := make([]float32, n*sz)
		if err := m.Logits(make([]float32, n*m.NumClasses()), x); err != nil {
			continue // a fixed batch axis refuses batch 2: an error is fine
		}
		_ = m.Grad(make([]float32, len(x)), x, func(z, dz []float32) {
			for i := range dz {
				dz[i] = 1
			}
		})
	}
}

// gemmModel is x[N,1,4,4] → Flatten → Gemm(W[3,16], B[3]) → logits.
func gemmModel(r *rand.Rand) *testGraph {
	return newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").
		randInit(r, "W", 3, 16).randInit(r, "B", 3).
		node("Flatten", []string{"x"}, []string{"f"}, aInt("axis", 1)).
		node("Gemm", []string{"f", "W", "B"}, []string{"logits"}, aInt("transB", 1))
}

// convModel is x[N,1,6,6] → Conv → Relu → MaxPool → Flatten → Gemm → logits.
func convModel(r *rand.Rand) *testGraph {
	return newTestGraph(13).input("x", -1, 1, 6, 6).output("logits").
		randInit(r, "cw", 2, 1, 3, 3).randInit(r, "cb", 2).randInit(r, "W", 3, 8).
		node("Conv", []string{"x", "cw", "cb"}, []string{"c"}, aInts("kernel_shape", 3, 3)).
		node("Relu", []string{"c"}, []string{"r"}).
		node("MaxPool", []string{"r"}, []string{"p"}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2)).
		node("Flatten", []string{"p"}, []string{"f"}).
		node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1))
}

// zooLeNet is the embedded zoo's LeNet, a real trained model.
const zooLeNet = "../zoo/lenet_mnist.onnx"

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// cutPoints returns every length up to head, every length from n-tail to
// n, and about mid evenly spread lengths in between.
func cutPoints(n, head, tail, mid int) []int {
	var cuts []int
	for i := 0; i < n; i++ {
		if i < head || i >= n-tail || i%max(1, n/mid) == 0 {
			cuts = append(cuts, i)
		}
	}
	return cuts
}

func TestTruncatedModels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	files := map[string][]byte{
		"gemm": gemmModel(r).bytes(),
		"conv": convModel(r).bytes(),
	}
	for _, p := range []string{"../testdata/torch/lenet_op13.onnx", zooLeNet} {
		files[p] = readFixture(t, p)
	}
	for name, full := range files {
		t.Run(name, func(t *testing.T) {
			m, err := loadNoPanic(t, name, full)
			if err != nil {
				t.Fatalf("the whole file does not load: %v", err)
			}
			exercise(t, name, m)
			cuts := cutPoints(len(full), 600, 600, 1500)
			if len(full) < 20000 {
				cuts = cutPoints(len(full), len(full), 0, 1)
			}
			loaded := 0
			for _, n := range cuts {
				m, err := loadNoPanic(t, name, full[:n])
				if err == nil {
					loaded++
					exercise(t, name, m)
				} else if err.Error() == "" {
					t.Errorf("cut at %d: empty error message", n)
				}
			}
			t.Logf("%d cut points, %d prefixes still loaded", len(cuts), loaded)
		})
	}
}

func TestRandomBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	lenet := readFixture(t, zooLeNet)
	for i := 0; i < 3000; i++ {
		b := make([]byte, r.IntN(4096))
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		// Some start like a real model, so decoding gets further.
		if i%3 == 1 && len(lenet) > 0 {
			k := r.IntN(min(len(lenet), 2048))
			b = append(append([]byte(nil), lenet[:k]...), b...)
		}
		if m, err := loadNoPanic(t, "random", b); err == nil {
			exercise(t, "random", m)
		}
		if _, err := inspectNoPanic(t, b); err != nil {
			continue
		}
	}
	// Flipping bytes of a real model: decodes much further.
	if len(lenet) > 0 {
		for i := 0; i < 300; i++ {
			b := append([]byte(nil), lenet...)
			for k := 0; k < 1+r.IntN(4); k++ {
				j := r.IntN(min(len(b), 4096))
				if r.IntN(2) == 0 {
					j = r.IntN(len(b))
				}
				b[j] ^= byte(1 + r.UintN(255))
			}
			if m, err := loadNoPanic(t, "flipped", b); err == nil {
				exercise(t, "flipped", m)
			}
		}
	}
}

func inspectNoPanic(t *testing.T, b []byte) (in *Inspection, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Inspect panicked: %v\n%s", r, debug.Stack())
			in, err = nil, errPanicked
		}
	}()
	return Inspect(b)
}

// withNode returns a model whose last node is changed by f.
func lastNode(tg *testGraph, f func(n *pb.NodeProto)) []byte {
	f(tg.g.Node[len(tg.g.Node)-1])
	return tg.bytes()
}

func withOpset(tg *testGraph, f func(m *pb.ModelProto)) []byte {
	m := &pb.ModelProto{}
	if err := proto.Unmarshal(tg.bytes(), m); err != nil {
		panic(err)
	}
	f(m)
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestBadModels(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := []string{"x"}
	base := func() *testGraph { return gemmModel(r) }
	head := func(opset int64) *testGraph {
		return newTestGraph(opset).input("x", -1, 1, 4, 4).output("logits").randInit(r, "W", 3, 16)
	}
	gemm := func(tg *testGraph, in string) *testGraph {
		return tg.node("Gemm", []string{in, "W"}, []string{"logits"}, aInt("transB", 1))
	}
	tests := []struct {
		name  string
		model []byte
		opts  []Option
		want  []string // substrings of the error
	}{
		{"unsupported op",
			lastNode(gemm(head(13).node("NonMaxSuppression", x, []string{"nms"}), "x"), func(*pb.NodeProto) {}),
			nil, []string{"NonMaxSuppression", `"NonMaxSuppression_nms"`, "opset 13"}},
		{"unsupported op, named by the file",
			func() []byte {
				tg := head(11).node("RoiAlign", x, []string{"roi"})
				tg.g.Node[0].Name = proto.String("/backbone/roi_align")
				return gemm(tg, "x").bytes()
			}(),
			nil, []string{"RoiAlign", "/backbone/roi_align", "opset 11"}},
		{"unsupported op, unnamed node",
			func() []byte {
				tg := head(18).node("Flatten", x, []string{"f"}).node("GroupNormalization", []string{"f"}, []string{"gn"})
				tg.g.Node[1].Name = nil
				return gemm(tg, "gn").bytes()
			}(),
			nil, []string{"GroupNormalization", "#1", "opset 18"}},
		{"op newer than the opset",
			gemm(head(13).node("HardSwish", x, []string{"h"}).node("Flatten", []string{"h"}, []string{"f"}), "f").bytes(),
			nil, []string{"HardSwish", "opset 13"}},
		{"custom domain",
			func() []byte {
				tg := head(13).node("FusedConv", x, []string{"fc"}).node("Flatten", []string{"fc"}, []string{"f"})
				tg.g.Node[0].Domain = proto.String("com.microsoft")
				return gemm(tg, "f").bytes()
			}(),
			nil, []string{"FusedConv", "com.microsoft", "FusedConv_fc"}},
		{"opset too new", withOpset(base(), func(m *pb.ModelProto) { m.OpsetImport[0].Version = proto.Int64(99) }),
			nil, []string{"opset 99"}},
		{"opset zero", withOpset(base(), func(m *pb.ModelProto) { m.OpsetImport[0].Version = proto.Int64(0) }),
			nil, []string{"opset 0"}},
		{"no graph", withOpset(base(), func(m *pb.ModelProto) { m.Graph = nil }), nil, []string{"no graph"}},
		{"no outputs", withOpset(base(), func(m *pb.ModelProto) { m.Graph.Output = nil }), nil, []string{"no outputs"}},
		{"no inputs", withOpset(base(), func(m *pb.ModelProto) { m.Graph.Input = nil }), nil, []string{"x"}},
		{"two inputs", base().input("x2", -1, 1, 4, 4).bytes(), nil, []string{"2 data inputs"}},
		{"int input", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Input[0] = valueInfo("x", dtInt64, []int{-1, 1, 4, 4})
		}), nil, []string{"INT64"}},
		{"input of unknown shape", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Input[0].Type.GetTensorType().Shape = nil
		}), nil, []string{`"x"`, "shape"}},
		{"rank-1 input", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Input[0] = valueInfo("x", dtFloat, []int{-1})
		}), nil, []string{`"x"`, "shape"}},
		{"symbolic image axis", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Input[0] = valueInfo("x", dtFloat, []int{-1, 1, -1, 4})
		}), nil, []string{"symbolic"}},
		{"zero image axis", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Input[0] = valueInfo("x", dtFloat, []int{-1, 1, 0, 4})
		}), nil, []string{`"x"`}},
		{"negative dimension", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Input[0].Type.GetTensorType().Shape.Dim[2].Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: -3}
		}), nil, []string{"negative"}},
		{"huge image", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Input[0] = valueInfo("x", dtFloat, []int{-1, 1 << 20, 1 << 20, 1 << 20})
		}), nil, []string{"exceeds the limit"}},
		{"image above a small limit", base().bytes(), []Option{WithMaxTensorElements(8)}, []string{"limit of 8"}},
		{"use before definition",
			newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").randInit(r, "W", 3, 16).
				node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1)).
				node("Flatten", x, []string{"f"}).bytes(),
			nil, []string{`"f"`, "not defined before use"}},
		{"cycle",
			newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").randInit(r, "W", 3, 16).
				node("Add", []string{"x", "b"}, []string{"a"}).
				node("Relu", []string{"a"}, []string{"b"}).
				node("Flatten", []string{"b"}, []string{"f"}).
				node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1)).bytes(),
			nil, []string{`"b"`, "not defined before use"}},
		{"self loop",
			gemm(head(13).node("Relu", []string{"r"}, []string{"r"}).node("Flatten", []string{"r"}, []string{"f"}), "f").bytes(),
			nil, []string{`"r"`}},
		{"dangling input", gemm(head(13).node("Add", []string{"x", "nowhere"}, []string{"a"}).node("Flatten", []string{"a"}, []string{"f"}), "f").bytes(),
			nil, []string{"nowhere"}},
		{"duplicate outputs",
			gemm(head(13).node("Flatten", x, []string{"f"}).node("Relu", []string{"x"}, []string{"f"}), "f").bytes(),
			nil, []string{`"f"`, "defined twice"}},
		{"output shadows the input",
			gemm(head(13).node("Relu", x, []string{"x"}), "x").bytes(), nil, []string{`"x"`, "defined twice"}},
		{"output shadows an initializer",
			gemm(head(13).node("Flatten", x, []string{"W"}), "W").bytes(), nil, []string{`"W"`, "defined twice"}},
		{"duplicate initializer", base().randInit(r, "W", 3, 16).bytes(), nil, []string{`"W"`, "twice"}},
		{"initializer without a name", withOpset(base(), func(m *pb.ModelProto) { m.Graph.Initializer[0].Name = nil }),
			nil, []string{"without a name"}},
		{"output never computed", base().output("ghost").bytes(), nil, []string{"ghost"}},
		{"output does not depend on the input",
			head(13).node("Shape", x, []string{"logits"}).bytes(), nil, []string{"does not depend on the"}},
		{"output is a weight",
			head(13).node("Identity", []string{"W"}, []string{"logits"}).bytes(), nil, []string{"does not depend on the values"}},
		{"output is a weight shaped like logits",
			head(13).randInit(r, "V", 1, 3).node("Relu", []string{"V"}, []string{"logits"}).bytes(), nil, []string{"does not depend on the values"}},
		{"output depends on the input's shape only",
			head(13).randInit(r, "V", 1, 3).node("Shape", x, []string{"s"}).initInts("i0", 0).
				node("Gather", []string{"s", "i0"}, []string{"n"}).
				node("Cast", []string{"n"}, []string{"nf"}, aInt("to", int64(dtFloat))).
				node("Mul", []string{"V", "nf"}, []string{"logits"}).bytes(), nil, []string{"does not depend on the"}},
		{"output is not N×classes",
			newTestGraph(13).input("x", -1, 1, 4, 4).output("r").node("Relu", x, []string{"r"}).bytes(), nil, []string{"N×classes"}},
		{"zero classes",
			newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").init("W", []int{0, 16}, nil).
				node("Flatten", x, []string{"f"}).
				node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1)).bytes(),
			nil, []string{"N×classes"}},
		{"reshape that does not fit",
			gemm(head(13).initInts("shape", -1, 5).node("Reshape", []string{"x", "shape"}, []string{"f"}), "f").bytes(),
			nil, []string{"Reshape"}},
		{"reshape to a computed shape",
			gemm(head(13).node("Relu", x, []string{"r"}).node("Reshape", []string{"x", "r"}, []string{"f"}), "f").bytes(),
			nil, []string{"Reshape", "compiled"}},
		{"conv weight of the wrong shape",
			newTestGraph(13).input("x", -1, 1, 6, 6).output("logits").
				randInit(r, "cw", 2, 3, 3, 3).randInit(r, "W", 3, 32).
				node("Conv", []string{"x", "cw"}, []string{"c"}, aInts("kernel_shape", 3, 3)).
				node("Flatten", []string{"c"}, []string{"f"}).
				node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1)).bytes(),
			nil, []string{"Conv"}},
		{"conv weight of the wrong rank",
			newTestGraph(13).input("x", -1, 1, 6, 6).output("logits").
				randInit(r, "cw", 2, 9).randInit(r, "W", 3, 32).
				node("Conv", []string{"x", "cw"}, []string{"c"}).
				node("Flatten", []string{"c"}, []string{"f"}).
				node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1)).bytes(),
			nil, []string{"Conv"}},
		{"conv kernel larger than the image",
			newTestGraph(13).input("x", -1, 1, 6, 6).output("logits").
				randInit(r, "cw", 2, 1, 9, 9).randInit(r, "W", 3, 32).
				node("Conv", []string{"x", "cw"}, []string{"c"}).
				node("Flatten", []string{"c"}, []string{"f"}).
				node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1)).bytes(),
			nil, []string{"Conv"}},
		{"gemm of mismatched sizes",
			newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").randInit(r, "W", 3, 15).
				node("Flatten", x, []string{"f"}).
				node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1)).bytes(),
			nil, []string{"Gemm"}},
		{"missing required input",
			gemm(head(13).node("Flatten", x, []string{"f"}).node("Add", []string{"f"}, []string{"a"}), "a").bytes(),
			nil, []string{"Add"}},
		{"attribute of the wrong type",
			gemm(head(13).node("Flatten", x, []string{"f"}, aString("axis", "one")), "f").bytes(),
			nil, []string{"Flatten", "axis"}},
		{"axis out of range",
			gemm(head(13).node("Flatten", x, []string{"f"}, aInt("axis", 9)), "f").bytes(),
			nil, []string{"Flatten", "axis"}},
		{"intermediate above the limit",
			gemm(head(13).initInts("shape", 1<<16, 1<<16).
				node("ConstantOfShape", []string{"shape"}, []string{"big"}).
				node("Add", []string{"x", "big"}, []string{"a"}).
				node("Flatten", []string{"a"}, []string{"f"}), "f").bytes(),
			nil, []string{"exceeds the limit"}},
		{"tensor of 2^40 elements without data",
			gemm(head(13).init("huge", []int{1 << 20, 1 << 20}, nil).node("Flatten", x, []string{"f"}), "f").bytes(),
			nil, []string{`"huge"`, "exceeds the limit"}},
		{"tensor of 2^40 elements under a huge limit",
			gemm(head(13).init("huge", []int{1 << 20, 1 << 20}, nil).node("Flatten", x, []string{"f"}), "f").bytes(),
			[]Option{WithMaxTensorElements(1 << 50)}, []string{`"huge"`, "needs 4398046511104"}},
		{"tensor of 2^63 elements", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Initializer[0].Dims = []int64{1 << 31, 1 << 31, 2}
		}), []Option{WithMaxTensorElements(math.MaxInt64)}, []string{`"W"`}},
		{"empty tensor with huge dimensions", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, &pb.TensorProto{Name: proto.String("e"),
				Dims: []int64{0, 1 << 40, 1 << 40}, DataType: proto.Int32(dtFloat)})
		}), nil, []string{`"e"`, "exceeds the limit"}},
		{"weights above a small limit", base().bytes(), []Option{WithMaxTensorElements(40)}, []string{`"W"`, "limit of 40"}},
		{"raw data too short", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Initializer[0].RawData = m.Graph.Initializer[0].RawData[:7]
		}), nil, []string{`"W"`, "7 bytes"}},
		{"float data too long", withOpset(base(), func(m *pb.ModelProto) {
			w := m.Graph.Initializer[0]
			w.RawData, w.FloatData = nil, make([]float32, 49)
		}), nil, []string{`"W"`, "49 values"}},
		{"string tensor", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Initializer[0].DataType = proto.Int32(int32(pb.TensorProto_STRING))
		}), nil, []string{`"W"`, "STRING"}},
		{"unknown element type", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.Initializer[0].DataType = proto.Int32(1234)
		}), nil, []string{`"W"`, "1234"}},
		{"external data from memory", withOpset(base(), func(m *pb.ModelProto) {
			w := m.Graph.Initializer[0]
			w.RawData, w.DataLocation = nil, pb.TensorProto_EXTERNAL.Enum()
			w.ExternalData = []*pb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}
		}), nil, []string{`"W"`, "external data"}},
		{"sparse initializer", withOpset(base(), func(m *pb.ModelProto) {
			m.Graph.SparseInitializer = []*pb.SparseTensorProto{{}}
		}), nil, []string{"sparse"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := loadNoPanic(t, tc.name, tc.model, tc.opts...)
			if err == nil {
				exercise(t, tc.name, m)
				t.Fatalf("loaded; want an error mentioning %q", tc.want)
			}
			if err == errPanicked {
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			// Inspect describes what it can and reports the same problem.
			in, ierr := inspectNoPanic(t, tc.model)
			if ierr == nil && (in.Runnable || in.Problem == "") && len(tc.opts) == 0 {
				t.Errorf("Inspect says runnable=%v problem=%q", in.Runnable, in.Problem)
			}
		})
	}
}

func TestInspectUnsupported(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tg := gemmModel(r)
	tg.g.Node = append([]*pb.NodeProto{{OpType: proto.String("NonMaxSuppression"), Name: proto.String("nms"),
		Input: []string{"x"}, Output: []string{"unused"}}}, tg.g.Node...)
	in, err := inspectNoPanic(t, tg.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if in.Runnable || !strings.Contains(in.Problem, "NonMaxSuppression") || !strings.Contains(in.Problem, `"nms"`) ||
		!strings.Contains(in.Problem, "opset 13") {
		t.Errorf("runnable=%v problem=%q", in.Runnable, in.Problem)
	}
	found := false
	for _, op := range in.Ops {
		if op.Op == "NonMaxSuppression" {
			found = !op.Supported
		}
	}
	if !found {
		t.Errorf("ops %+v do not list NonMaxSuppression as unsupported", in.Ops)
	}
	if len(in.Inputs) != 1 || in.Inputs[0].Name != "x" {
		t.Errorf("inputs %+v", in.Inputs)
	}
}

func TestBadCalls(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	m, err := Load(convModel(r).bytes())
	if err != nil {
		t.Fatal(err)
	}
	sz := 36
	good := make([]float32, 2*sz)
	for i := range good {
		good[i] = r.Float32()
	}
	nan := append([]float32(nil), good...)
	nan[40] = float32(math.NaN())
	inf := append([]float32(nil), good...)
	inf[3] = float32(math.Inf(-1))
	pinf := append([]float32(nil), good...)
	pinf[71] = float32(math.Inf(1))
	seed := func(z, dz []float32) {
		for i := range dz {
			dz[i] = 1
		}
	}
	call := func(name string, f func() error, want ...string) {
		t.Helper()
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s panicked: %v\n%s", name, r, debug.Stack())
					err = errPanicked
				}
			}()
			err = f()
		}()
		if err == nil {
			t.Errorf("%s: no error; want one mentioning %q", name, want)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", name, err, w)
			}
		}
	}
	for _, c := range []struct {
		name string
		x    []float32
		want []string
	}{
		{"not a multiple of one image", good[:sz+5], []string{"41 values", "36"}},
		{"less than one image", good[:7], []string{"7 values"}},
		{"empty", nil, []string{"0 values"}},
		{"NaN", nan, []string{"NaN", "image 1"}},
		{"-Inf", inf, []string{"-Inf", "image 0"}},
		{"+Inf", pinf, []string{"+Inf", "image 1"}},
	} {
		n := max(1, len(c.x)/sz)
		call("Logits "+c.name, func() error { return m.Logits(make([]float32, n*3), c.x) }, c.want...)
		call("Grad "+c.name, func() error { return m.Grad(make([]float32, len(c.x)), c.x, seed) }, c.want...)
		call("VJP "+c.name, func() error { _, err := m.VJP(c.x, make([]float32, n*3)); return err }, c.want...)
		call("CrossEntropyGrad "+c.name, func() error { _, _, err := m.CrossEntropyGrad(c.x, make([]int, n)); return err }, c.want...)
		call("Activations "+c.name, func() error { _, _, err := m.Activations(c.x, "c"); return err }, c.want...)
		call("VJPAt "+c.name, func() error { _, err := m.VJPAt(c.x, "c", make([]float32, n*32)); return err }, c.want...)
		call("ParamGrads "+c.name, func() error { _, err := m.ParamGrads(c.x, seed); return err }, c.want...)
	}
	call("Logits buffer too small", func() error { return m.Logits(make([]float32, 5), good) }, "5 values")
	call("Logits buffer too large", func() error { return m.Logits(make([]float32, 7), good) }, "7 values")
	call("Grad buffer too small", func() error { return m.Grad(make([]float32, sz), good, seed) }, "36 values")
	call("VJP cotangent of the wrong size", func() error { _, err := m.VJP(good, make([]float32, 5)); return err }, "5 values")
	call("CrossEntropyGrad too few labels", func() error { _, _, err := m.CrossEntropyGrad(good, []int{1}); return err }, "1 labels")
	call("CrossEntropyGrad too many labels", func() error { _, _, err := m.CrossEntropyGrad(good, []int{1, 2, 0}); return err }, "3 labels")
	call("CrossEntropyGrad label out of range", func() error { _, _, err := m.CrossEntropyGrad(good, []int{1, 3}); return err }, "label 3")
	call("CrossEntropyGrad negative label", func() error { _, _, err := m.CrossEntropyGrad(good, []int{-1, 0}); return err }, "label -1")
	call("SoftmaxCrossEntropyGrad short logits", func() error {
		return SoftmaxCrossEntropyGrad(make([]float32, 6), make([]float32, 5), []int{0, 1}, 3)
	}, "need 6 logits")
	call("SoftmaxCrossEntropyGrad short cotangent", func() error {
		return SoftmaxCrossEntropyGrad(make([]float32, 2), make([]float32, 6), []int{0, 1}, 3)
	}, "2 cotangents")
	call("SoftmaxCrossEntropyGrad no classes", func() error {
		return SoftmaxCrossEntropyGrad(nil, nil, []int{0}, 0)
	}, "0 classes")
	call("Activations unknown tensor", func() error { _, _, err := m.Activations(good, "nope"); return err }, `"nope"`)
	call("VJPAt unknown tensor", func() error { _, err := m.VJPAt(good, "nope", nil); return err }, `"nope"`)
	call("VJPAt cotangent of the wrong size", func() error { _, err := m.VJPAt(good, "c", make([]float32, 3)); return err }, "3 values")
	call("SetParam unknown", func() error { return m.SetParam("nope", nil) }, `"nope"`)
	call("SetParam wrong size", func() error { return m.SetParam("W", make([]float32, 3)) }, "3")
	call("ParamValues unknown", func() error { _, err := m.ParamValues("nope"); return err }, `"nope"`)

	// After all that, the model still works and agrees with itself.
	a := make([]float32, 6)
	if err := m.Logits(a, good); err != nil {
		t.Fatal(err)
	}
	b := make([]float32, 3)
	if err := m.Logits(b, good[sz:]); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		if a[3+i] != b[i] {
			t.Fatalf("batch-2 logits %v, image 1 alone %v", a[3:], b)
		}
	}
}

// A model that mixes the images of a batch into one row of logits works at
// batch 1 only; at other batch sizes it must fail, not hand back a buffer
// of the wrong size.
func TestBatchMixingModel(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	b := newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").randInit(r, "W", 3, 16).
		node("ReduceMean", []string{"x"}, []string{"s"}, aInts("axes", 0), aInt("keepdims", 1)).
		node("Flatten", []string{"s"}, []string{"f"}).
		node("Gemm", []string{"f", "W"}, []string{"logits"}, aInt("transB", 1)).bytes()
	m, err := loadNoPanic(t, "mixing", b)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 32)
	for _, f := range []func() error{
		func() error { return m.Logits(make([]float32, 6), x) },
		func() error { return m.Grad(make([]float32, 32), x, func(z, dz []float32) {}) },
		func() error { _, _, err := m.CrossEntropyGrad(x, []int{0, 1}); return err },
		func() error { _, err := m.VJP(x, make([]float32, 6)); return err },
		func() error { _, err := m.ParamGrads(x, func(z, dz []float32) {}); return err },
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("panicked: %v\n%s", r, debug.Stack())
				}
			}()
			if err := f(); err == nil || !strings.Contains(err.Error(), "N×classes") {
				t.Errorf("batch 2: err = %v", err)
			}
		}()
	}
	if err := m.Logits(make([]float32, 3), x[:16]); err != nil {
		t.Errorf("batch 1: %v", err)
	}
}

// A model whose batch axis is fixed refuses other batch sizes with an error.
func TestFixedBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	tg := gemmModel(r)
	tg.g.Input[0] = valueInfo("x", dtFloat, []int{1, 1, 4, 4})
	m, err := Load(tg.bytes())
	if err != nil {
		t.Fatal(err)
	}
	err = m.Logits(make([]float32, 6), make([]float32, 32))
	if err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("batch 2 on a batch-1 model: %v", err)
	}
	if err := m.Logits(make([]float32, 3), make([]float32, 16)); err != nil {
		t.Errorf("batch 1: %v", err)
	}
}

// externalModel writes gemmModel with W stored in a file beside it (or
// wherever loc says) and returns the model's path.
func externalModel(t *testing.T, dir string, tg *testGraph, loc string, extra ...*pb.StringStringEntryProto) string {
	t.Helper()
	m := &pb.ModelProto{}
	if err := proto.Unmarshal(tg.bytes(), m); err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Graph.Initializer {
		if w.GetName() != "W" {
			continue
		}
		w.RawData = nil
		w.DataLocation = pb.TensorProto_EXTERNAL.Enum()
		w.ExternalData = append([]*pb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(loc)}}, extra...)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func kv(k, v string) *pb.StringStringEntryProto {
	return &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)}
}

func TestExternalData(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	tg := gemmModel(r)
	var wRaw []byte
	for _, w := range tg.g.Initializer {
		if w.GetName() == "W" {
			wRaw = append([]byte(nil), w.RawData...)
		}
	}
	embedded, err := Load(tg.bytes())
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*16)
	for i := range x {
		x[i] = r.Float32()
	}
	want := make([]float32, 6)
	if err := embedded.Logits(want, x); err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	dir := filepath.Join(root, "model")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p string, b []byte) {
		t.Helper()
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "w.bin"), wRaw)
	write(filepath.Join(dir, "sub", "w.bin"), wRaw)
	padded := append(append(make([]byte, 100), wRaw...), make([]byte, 10)...)
	write(filepath.Join(dir, "padded.bin"), padded)
	write(filepath.Join(dir, "short.bin"), wRaw[:len(wRaw)-4])
	write(filepath.Join(root, "outside.bin"), wRaw)
	if err := os.Symlink(filepath.Join(root, "outside.bin"), filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(dir, "uplink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("w.bin", filepath.Join(dir, "inlink.bin")); err != nil {
		t.Fatal(err)
	}

	good := []struct {
		name  string
		loc   string
		extra []*pb.StringStringEntryProto
	}{
		{"beside the model", "w.bin", nil},
		{"in a sub-folder", "sub/w.bin", nil},
		{"through ./", "./sub/../w.bin", nil},
		{"offset and length", "padded.bin", []*pb.StringStringEntryProto{kv("offset", "100"), kv("length", "192")}},
		{"symlink inside the folder", "inlink.bin", nil},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			m, err := loadFileNoPanic(t, externalModel(t, dir, tg, tc.loc, tc.extra...))
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 6)
			if err := m.Logits(got, x); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("logits %v, embedded weights give %v", got, want)
				}
			}
			// Saving embeds the weights: the copy loads from memory.
			var buf bytes.Buffer
			if err := m.WriteONNX(&buf); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(buf.Bytes()); err != nil {
				t.Errorf("saved copy: %v", err)
			}
		})
	}

	bad := []struct {
		name  string
		loc   string
		extra []*pb.StringStringEntryProto
		want  string
	}{
		{"parent folder", "../outside.bin", nil, "outside the model's folder"},
		{"parent via sub-folder", "sub/../../outside.bin", nil, "outside the model's folder"},
		{"absolute path", "/etc/passwd", nil, "not a relative path"},
		{"absolute path to the file", filepath.Join(root, "outside.bin"), nil, "not a relative path"},
		{"backslashes", `..\outside.bin`, nil, "not a relative path"},
		{"symlink to outside", "link.bin", nil, "outside the model's folder"},
		{"symlinked folder to outside", "uplink/outside.bin", nil, "outside the model's folder"},
		{"no location", "", nil, "not a relative path"},
		{"missing file", "nope.bin", nil, "nope.bin"},
		{"a folder", "sub", nil, "sub"},
		{"file too short", "short.bin", nil, "short.bin"},
		{"length disagrees with the shape", "padded.bin", []*pb.StringStringEntryProto{kv("length", "100")}, "length 100"},
		{"offset past the end", "w.bin", []*pb.StringStringEntryProto{kv("offset", "1000000")}, "w.bin"},
		{"negative offset", "w.bin", []*pb.StringStringEntryProto{kv("offset", "-4")}, "offset -4"},
		{"offset not a number", "w.bin", []*pb.StringStringEntryProto{kv("offset", "ten")}, "offset"},
		{"huge offset", "padded.bin", []*pb.StringStringEntryProto{kv("offset", "9223372036854775800")}, "padded.bin"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadFileNoPanic(t, externalModel(t, dir, tg, tc.loc, tc.extra...))
			if err == nil {
				t.Fatalf("loaded; want an error mentioning %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"W"`) {
				t.Errorf("error %q should name tensor \"W\" and mention %q", err, tc.want)
			}
		})
	}

	// A shape claiming far more than the file holds fails on the file's
	// size, before anything that large is allocated.
	t.Run("huge shape, small file", func(t *testing.T) {
		huge := newTestGraph(13).input("x", -1, 1, 4, 4).output("logits").randInit(r, "W2", 3, 16).
			node("Flatten", []string{"x"}, []string{"f"}).
			node("Gemm", []string{"f", "W2"}, []string{"logits"}, aInt("transB", 1))
		huge.g.Initializer = append(huge.g.Initializer, &pb.TensorProto{Name: proto.String("W"),
			Dims: []int64{1 << 20, 1 << 20}, DataType: proto.Int32(dtFloat)})
		_, err := loadFileNoPanic(t, externalModel(t, dir, huge, "w.bin"), WithMaxTensorElements(1<<50))
		if err == nil || !strings.Contains(err.Error(), "w.bin") {
			t.Errorf("err = %v", err)
		}
	})

	// A FIFO must not block the loader.
	t.Run("fifo", func(t *testing.T) {
		p := filepath.Join(dir, "fifo.bin")
		if err := mkfifo(p); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		_, err := loadFileNoPanic(t, externalModel(t, dir, tg, "fifo.bin"))
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("err = %v", err)
		}
	})
}

// Truncating a protobuf file mostly fails at the first length prefix that
// reaches past the end; these variants cut the graph itself: its first k
// nodes, every node but one, and every initializer but one.
func TestTruncatedGraphs(t *testing.T) {
	full := readFixture(t, zooLeNet)
	var orig pb.ModelProto
	if err := proto.Unmarshal(full, &orig); err != nil {
		t.Fatal(err)
	}
	variants := map[string]*pb.ModelProto{}
	nodes, inits := orig.GetGraph().GetNode(), orig.GetGraph().GetInitializer()
	for k := range nodes {
		m := proto.Clone(&orig).(*pb.ModelProto)
		m.Graph.Node = m.Graph.Node[:k]
		variants["first "+strconv.Itoa(k)+" nodes"] = m
		m = proto.Clone(&orig).(*pb.ModelProto)
		m.Graph.Node = append(m.Graph.Node[:k:k], m.Graph.Node[k+1:]...)
		variants["without node "+strconv.Itoa(k)] = m
		m = proto.Clone(&orig).(*pb.ModelProto)
		m.Graph.Node = append(append(m.Graph.Node[:k:k], m.Graph.Node[k+1:]...), m.Graph.Node[k])
		variants["node "+strconv.Itoa(k)+" last"] = m
	}
	for k := range inits {
		m := proto.Clone(&orig).(*pb.ModelProto)
		m.Graph.Initializer = append(m.Graph.Initializer[:k:k], m.Graph.Initializer[k+1:]...)
		variants["without initializer "+strconv.Itoa(k)] = m
		m = proto.Clone(&orig).(*pb.ModelProto)
		w := m.Graph.Initializer[k]
		if len(w.RawData) > 0 {
			w.RawData = w.RawData[:len(w.RawData)/2]
		} else {
			w.Dims = append(w.Dims, 2)
		}
		variants["half of initializer "+strconv.Itoa(k)] = m
	}
	for name, m := range variants {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := loadNoPanic(t, name, b)
		if err == nil {
			exercise(t, name, got)
			if name != "node "+strconv.Itoa(len(nodes)-1)+" last" { // the last node stays last
				t.Errorf("%s: loaded", name)
			}
		}
	}
}
