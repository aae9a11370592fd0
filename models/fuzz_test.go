package models

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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
	if b, err := os.ReadFile(zooLeNet); err != nil {
		tb.Fatalf("seed: %v", err)
	} else {
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
			if _, _, err := m.CrossEntropyGrad(x, make([]int, n)); err != nil && n == 1 {
				t.Logf("CrossEntropyGrad at batch 1: %v", err)
			}
			_, _ = m.ParamGrads(x, func(z, dz []float32) {})
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

// TestMutatedModels is a structure-aware complement to FuzzLoad: byte
// mutations of a protobuf rarely survive decoding, so this changes models
// the way a broken exporter or a hostile file would — attribute values,
// shape tensors, weight shapes, wiring, op types, opsets — and checks that
// loading and running them never panics. Each distinct panic site is
// reported once, with a reproducer; ADVMATRIX_CRASHERS=DIR also writes the
// reproducers there in the fuzzer's corpus format; ADVMATRIX_MUTATIONS=N
// runs N mutations instead of 20000, ADVMATRIX_MUTATION_SEED=S another
// sequence of them.
func TestMutatedModels(t *testing.T) {
	seed := uint64(31)
	if v, err := strconv.ParseUint(os.Getenv("ADVMATRIX_MUTATION_SEED"), 10, 64); err == nil {
		seed = v
	}
	r := rand.New(rand.NewPCG(seed, 32))
	var bases []*pb.ModelProto
	for _, s := range fuzzSeeds(t) {
		var m pb.ModelProto
		if proto.Unmarshal(s, &m) == nil && m.Graph != nil && len(m.Graph.Node) > 0 {
			if _, err := Load(s); err == nil {
				bases = append(bases, &m)
			}
		}
	}
	ops := SupportedOps()
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	if v, err := strconv.Atoi(os.Getenv("ADVMATRIX_MUTATIONS")); err == nil {
		iters = v // longer runs: ADVMATRIX_MUTATIONS=1000000
	}
	sites := map[string]bool{}
	for it := 0; it < iters; it++ {
		m := proto.Clone(bases[r.IntN(len(bases))]).(*pb.ModelProto)
		desc := mutate(r, m, ops, 1+r.IntN(3))
		b, err := proto.Marshal(m)
		if err != nil {
			continue
		}
		if dir := os.Getenv("ADVMATRIX_CRASHERS"); dir != "" {
			// An allocation too large for the machine is a fatal error,
			// not a panic: keep the input so that it can be found.
			_ = os.WriteFile(filepath.Join(dir, "last-input"), b, 0o644)
		}
		site, stack := panicSite(func() {
			got, err := Load(b, WithMaxTensorElements(fuzzMaxElements))
			if err != nil || numel(got.InputShape()) > 1e5 {
				return
			}
			sz := numel(got.InputShape())
			for _, n := range []int{1, 2} {
				x := make([]float32, n*sz)
				if got.Logits(make([]float32, n*got.NumClasses()), x) != nil {
					continue
				}
				_ = got.Grad(make([]float32, len(x)), x, func(z, dz []float32) {
					for i := range dz {
						dz[i] = 1
					}
				})
				_, _, _ = got.CrossEntropyGrad(x, make([]int, n))
				_, _ = got.ParamGrads(x, func(z, dz []float32) {})
			}
		})
		if site == "" || sites[site] {
			continue
		}
		sites[site] = true
		file := saveCrasher(t, b)
		t.Errorf("panic at %s after%s (reproducer %s)\n%s", site, desc, file, stack)
	}
}

// panicSite runs f and, if it panics, returns the function and line that
// panicked and the stack.
func panicSite(f func()) (site, stack string) {
	defer func() {
		if r := recover(); r != nil {
			stack = fmt.Sprintf("%v\n%s", r, debug.Stack())
			pcs := make([]uintptr, 32)
			n := runtime.Callers(3, pcs)
			frames := runtime.CallersFrames(pcs[:n])
			for {
				fr, more := frames.Next()
				if !strings.HasPrefix(fr.Function, "runtime.") {
					site = fmt.Sprintf("%s (%s:%d)", fr.Function, filepath.Base(fr.File), fr.Line)
					break
				}
				if !more {
					site = "unknown"
					break
				}
			}
		}
	}()
	f()
	return "", ""
}

// saveCrasher writes a crashing model in the fuzzer's corpus format to
// $ADVMATRIX_CRASHERS, if set, and returns its name.
func saveCrasher(t *testing.T, b []byte) string {
	name := fmt.Sprintf("%x", sha256.Sum256(b))[:16]
	dir := os.Getenv("ADVMATRIX_CRASHERS")
	if dir == "" {
		return name + " (set ADVMATRIX_CRASHERS=DIR to save it)"
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("go test fuzz v1\n[]byte("+strconv.Quote(string(b))+")\n"), 0o644); err != nil {
		t.Log(err)
	}
	return p
}

var interesting = []int64{-1 << 40, -7, -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 16, 1 << 20, 1 << 40}

func pick(r *rand.Rand) int64 { return interesting[r.IntN(len(interesting))] }

// mutate applies k random changes to m and describes them.
func mutate(r *rand.Rand, m *pb.ModelProto, ops []string, k int) string {
	g := m.Graph
	desc := ""
	for ; k > 0; k-- {
		n := g.Node[r.IntN(len(g.Node))]
		switch r.IntN(11) {
		case 0: // an int attribute
			if len(n.Attribute) > 0 {
				a := n.Attribute[r.IntN(len(n.Attribute))]
				a.I = proto.Int64(pick(r))
				desc += " attr " + a.GetName() + " of " + n.GetName()
			}
		case 1: // an ints attribute: change, grow or shrink
			for _, a := range n.Attribute {
				if len(a.Ints) == 0 {
					continue
				}
				switch r.IntN(3) {
				case 0:
					a.Ints[r.IntN(len(a.Ints))] = pick(r)
				case 1:
					a.Ints = append(a.Ints, pick(r))
				case 2:
					a.Ints = a.Ints[:r.IntN(len(a.Ints))]
				}
				desc += " ints " + a.GetName() + " of " + n.GetName()
				break
			}
		case 2: // a new attribute of a common name
			names := []string{"axis", "axes", "perm", "pads", "strides", "dilations", "group", "kernel_shape", "keepdims",
				"transA", "transB", "auto_pad", "ceil_mode", "to", "alpha", "beta", "epsilon", "split", "value", "mode", "count_include_pad"}
			name := names[r.IntN(len(names))]
			a := &pb.AttributeProto{Name: proto.String(name)}
			switch r.IntN(5) {
			case 0:
				a.Type, a.I = pb.AttributeProto_INT.Enum(), proto.Int64(pick(r))
			case 1:
				a.Type, a.Ints = pb.AttributeProto_INTS.Enum(), []int64{pick(r), pick(r), pick(r), pick(r)}[:r.IntN(5)]
			case 2:
				a.Type, a.F = pb.AttributeProto_FLOAT.Enum(), proto.Float32(float32(pick(r)))
			case 3:
				a.Type, a.S = pb.AttributeProto_STRING.Enum(), []byte([]string{"SAME_UPPER", "VALID", "NOTSET", "SAME_LOWER", "constant", "reflect", "edge", ""}[r.IntN(8)])
			case 4:
				a.Type = pb.AttributeProto_TENSOR.Enum()
				a.T = &pb.TensorProto{DataType: proto.Int32(int32([]int32{dtFloat, dtInt64, dtDouble, dtBool}[r.IntN(4)])),
					Dims: []int64{pick(r)}[:r.IntN(2)], RawData: make([]byte, r.IntN(17))}
			}
			n.Attribute = append(n.Attribute, a)
			desc += " new attr " + name + " on " + n.GetName()
		case 3: // another op type
			n.OpType = proto.String(ops[r.IntN(len(ops))])
			desc += " op of " + n.GetName() + " -> " + n.GetOpType()
		case 4: // rewire an input to another tensor
			if len(n.Input) > 0 {
				names := []string{""}
				for _, in := range g.Input {
					names = append(names, in.GetName())
				}
				for _, init := range g.Initializer {
					names = append(names, init.GetName())
				}
				for _, o := range g.Node {
					names = append(names, o.Output...)
				}
				n.Input[r.IntN(len(n.Input))] = names[r.IntN(len(names))]
				desc += " rewire " + n.GetName()
			}
		case 5: // drop or duplicate an input
			if len(n.Input) > 0 && r.IntN(2) == 0 {
				n.Input = n.Input[:len(n.Input)-1]
			} else if len(n.Input) > 0 {
				n.Input = append(n.Input, n.Input[r.IntN(len(n.Input))])
			}
			desc += " inputs of " + n.GetName()
		case 6: // an integer initializer's values (shapes, axes, pads, indices)
			for _, init := range g.Initializer {
				if len(init.Int64Data) > 0 && r.IntN(2) == 0 {
					init.Int64Data[r.IntN(len(init.Int64Data))] = pick(r)
					if r.IntN(3) == 0 {
						init.Int64Data = append(init.Int64Data, pick(r))
						init.Dims = []int64{int64(len(init.Int64Data))}
					}
					desc += " values of " + init.GetName()
					break
				}
			}
		case 7: // a weight's shape, keeping its element count or not
			init := g.Initializer[r.IntN(len(g.Initializer))]
			if len(init.Dims) > 0 {
				i := r.IntN(len(init.Dims))
				if r.IntN(2) == 0 && len(init.Dims) > 1 {
					j := (i + 1) % len(init.Dims)
					init.Dims[i], init.Dims[j] = init.Dims[j], init.Dims[i]
				} else {
					init.Dims[i] = 1 + r.Int64N(6)
					size := int64(1)
					for _, d := range init.Dims {
						size *= d
					}
					if init.GetDataType() == dtFloat && len(init.RawData) > 0 {
						init.RawData = make([]byte, 4*size)
					}
				}
			} else {
				init.Dims = []int64{1}
			}
			desc += " dims of " + init.GetName()
		case 8: // the image shape
			in := g.Input[0]
			dims := in.GetType().GetTensorType().GetShape().GetDim()
			if len(dims) > 0 {
				i := r.IntN(len(dims))
				switch r.IntN(3) {
				case 0:
					dims[i].Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: 1 + r.Int64N(9)}
				case 1:
					in.Type.GetTensorType().Shape.Dim = dims[:i]
				case 2:
					in.Type.GetTensorType().Shape.Dim = append(dims, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: 2}})
				}
			}
			desc += " image shape"
		case 9: // the opset
			m.OpsetImport[0].Version = proto.Int64(1 + r.Int64N(18))
			desc += " opset"
		case 10: // swap two nodes, or drop one
			i, j := r.IntN(len(g.Node)), r.IntN(len(g.Node))
			if r.IntN(2) == 0 {
				g.Node[i], g.Node[j] = g.Node[j], g.Node[i]
			} else if len(g.Node) > 1 {
				g.Node = append(g.Node[:i:i], g.Node[i+1:]...)
			}
			desc += " node order"
		}
	}
	return desc
}
