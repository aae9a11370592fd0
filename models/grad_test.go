package models

import (
	"math/rand/v2"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Every differentiable op's VJP against central finite differences, in
// float64, with respect to data inputs and weights.
func TestOpGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name   string
		build  func() *testGraph
		shapes [][]int
	}{
		{"Conv pad1 stride2 bias", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 7, 6).randInit(r, "w", 4, 3, 3, 3).randInit(r, "b", 4).
				node("Conv", []string{"x", "w", "b"}, []string{"y"}, aInts("pads", 1, 1, 1, 1), aInts("strides", 2, 2)).output("y")
		}, [][]int{{2, 3, 7, 6}}},
		{"Conv asymmetric pads dilation", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 8, 8).randInit(r, "w", 3, 2, 3, 2).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInts("pads", 1, 0, 2, 1), aInts("dilations", 2, 1)).output("y")
		}, [][]int{{5, 2, 8, 8}}},
		{"Conv 1x1 stride2", func() *testGraph {
			return newTestGraph(13).input("x", -1, 4, 6, 6).randInit(r, "w", 5, 4, 1, 1).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInts("strides", 2, 2)).output("y")
		}, [][]int{{3, 4, 6, 6}}},
		{"Conv 1x1 direct", func() *testGraph {
			return newTestGraph(13).input("x", -1, 4, 5, 5).randInit(r, "w", 6, 4, 1, 1).
				node("Conv", []string{"x", "w"}, []string{"y"}).output("y")
		}, [][]int{{3, 4, 5, 5}}},
		{"Conv 1x1 direct one image", func() *testGraph {
			return newTestGraph(13).input("x", -1, 4, 5, 5).randInit(r, "w", 6, 4, 1, 1).
				node("Conv", []string{"x", "w"}, []string{"y"}).output("y")
		}, [][]int{{1, 4, 5, 5}}},
		{"Conv large map, image at a time", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 33, 33).randInit(r, "w", 3, 2, 3, 3).randInit(r, "b", 3).
				node("Conv", []string{"x", "w", "b"}, []string{"y"}, aInts("pads", 1, 1, 1, 1)).output("y")
		}, [][]int{{3, 2, 33, 33}}},
		{"Conv 1x1 large map", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 33, 33).randInit(r, "w", 3, 2, 1, 1).
				node("Conv", []string{"x", "w"}, []string{"y"}).output("y")
		}, [][]int{{2, 2, 33, 33}}},
		{"Conv stride 1 asymmetric pads (shifted GEMM)", func() *testGraph {
			return newTestGraph(13).input("x", -1, 8, 16, 17).randInit(r, "w", 4, 8, 3, 2).randInit(r, "b", 4).
				node("Conv", []string{"x", "w", "b"}, []string{"y"}, aInts("pads", 2, 0, 1, 1)).output("y")
		}, [][]int{{2, 8, 16, 17}}},
		{"Conv stride 1 pads wider than the kernel (shifted GEMM)", func() *testGraph {
			return newTestGraph(13).input("x", -1, 8, 20, 20).randInit(r, "w", 3, 8, 3, 3).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInts("pads", 3, 4, 3, 2)).output("y")
		}, [][]int{{2, 8, 20, 20}}},
		{"Conv stride 1 several chunks (shifted GEMM)", func() *testGraph {
			return newTestGraph(13).input("x", -1, 8, 20, 20).randInit(r, "w", 3, 8, 3, 3).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInts("pads", 1, 1, 1, 1)).output("y")
		}, [][]int{{7, 8, 20, 20}}},
		{"Conv groups", func() *testGraph {
			return newTestGraph(13).input("x", -1, 4, 6, 6).randInit(r, "w", 6, 2, 3, 3).randInit(r, "b", 6).
				node("Conv", []string{"x", "w", "b"}, []string{"y"}, aInt("group", 2), aInts("pads", 1, 1, 1, 1)).output("y")
		}, [][]int{{2, 4, 6, 6}}},
		{"Conv depthwise stride2", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 7, 7).randInit(r, "w", 3, 1, 3, 3).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInt("group", 3), aInts("pads", 1, 1, 1, 1), aInts("strides", 2, 2)).output("y")
		}, [][]int{{5, 3, 7, 7}}},
		{"Conv depthwise stride1 one image", func() *testGraph {
			return newTestGraph(13).input("x", -1, 4, 5, 6).randInit(r, "w", 4, 1, 3, 3).randInit(r, "b", 4).
				node("Conv", []string{"x", "w", "b"}, []string{"y"}, aInt("group", 4), aInts("pads", 1, 1, 1, 1)).output("y")
		}, [][]int{{1, 4, 5, 6}}},
		{"Conv depthwise stride1 wide map (flat layout)", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 6, 17).randInit(r, "w", 3, 1, 3, 3).randInit(r, "b", 3).
				node("Conv", []string{"x", "w", "b"}, []string{"y"}, aInt("group", 3), aInts("pads", 1, 1, 1, 1)).output("y")
		}, [][]int{{2, 3, 6, 17}}},
		{"Conv depthwise 5x5 stride2 odd sizes", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 9, 8).randInit(r, "w", 2, 1, 5, 5).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInt("group", 2), aInts("pads", 2, 2, 2, 2), aInts("strides", 2, 2)).output("y")
		}, [][]int{{3, 2, 9, 8}}},
		{"Conv depthwise strides 2x1 dilation asymmetric pads", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 8, 7).randInit(r, "w", 3, 1, 3, 2).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInt("group", 3), aInts("pads", 2, 0, 1, 1),
					aInts("strides", 2, 1), aInts("dilations", 2, 3)).output("y")
		}, [][]int{{2, 3, 8, 7}}},
		{"Conv depthwise 1-D stride3", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 11).randInit(r, "w", 3, 1, 3).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInt("group", 3), aInts("pads", 1, 2), aInts("strides", 3)).output("y")
		}, [][]int{{2, 3, 11}}},
		{"Conv depthwise many images", func() *testGraph {
			return newTestGraph(13).input("x", -1, 5, 6, 6).randInit(r, "w", 5, 1, 3, 3).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInt("group", 5), aInts("pads", 1, 1, 1, 1), aInts("strides", 2, 2)).output("y")
		}, [][]int{{19, 5, 6, 6}}},
		{"Conv small map same width (shifted im2col)", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 4, 4).randInit(r, "w", 5, 3, 3, 3).randInit(r, "b", 5).
				node("Conv", []string{"x", "w", "b"}, []string{"y"}, aInts("pads", 1, 1, 1, 1)).output("y")
		}, [][]int{{3, 3, 4, 4}}},
		{"Conv same width dilation asymmetric pads (shifted im2col)", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 5, 3).randInit(r, "w", 3, 2, 2, 3).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInts("pads", 0, 1, 2, 3), aInts("dilations", 2, 2)).output("y")
		}, [][]int{{2, 2, 5, 3}}},
		{"Conv same width kernel wider than the image", func() *testGraph {
			return newTestGraph(13).input("x", -1, 1, 3, 2).randInit(r, "w", 2, 1, 3, 5).
				node("Conv", []string{"x", "w"}, []string{"y"}, aInts("pads", 1, 2, 1, 2)).output("y")
		}, [][]int{{1, 1, 3, 2}}},
		{"Conv auto_pad SAME_UPPER", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 5, 5).randInit(r, "w", 2, 2, 2, 2).
				node("Conv", []string{"x", "w"}, []string{"y"}, aString("auto_pad", "SAME_UPPER")).output("y")
		}, [][]int{{1, 2, 5, 5}}},
		{"Gemm transB bias", func() *testGraph {
			return newTestGraph(13).input("x", -1, 5).randInit(r, "w", 3, 5).randInit(r, "b", 3).
				node("Gemm", []string{"x", "w", "b"}, []string{"y"}, aInt("transB", 1), aFloat("alpha", 0.7), aFloat("beta", 1.3)).output("y")
		}, [][]int{{4, 5}}},
		{"Gemm transA", func() *testGraph {
			return newTestGraph(13).input("x", 5, 4).randInit(r, "w", 5, 3).
				node("Gemm", []string{"x", "w"}, []string{"y"}, aInt("transA", 1)).output("y")
		}, [][]int{{5, 4}}},
		{"MatMul batched", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 4).randInit(r, "w", 4, 2).
				node("MatMul", []string{"x", "w"}, []string{"y"}).output("y")
		}, [][]int{{2, 3, 4}}},
		{"MatMul broadcast batch", func() *testGraph {
			return newTestGraph(13).input("a", 2, 1, 3, 4).input("b", 5, 4, 2).
				node("MatMul", []string{"a", "b"}, []string{"y"}).output("y")
		}, [][]int{{2, 1, 3, 4}, {5, 4, 2}}},
		{"Add Mul Sub Div broadcast", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 4, 4).randInit(r, "s", 3, 1, 1).randInit(r, "c", 4).
				node("Mul", []string{"x", "s"}, []string{"a"}).node("Add", []string{"a", "c"}, []string{"b"}).
				node("Sub", []string{"b", "x"}, []string{"d"}).node("Div", []string{"d", "e"}, []string{"y"}).
				init("e", []int{1}, []float32{1.7}).output("y")
		}, [][]int{{2, 3, 4, 4}}},
		{"Pow", func() *testGraph {
			return newTestGraph(13).input("x", 6).init("p", []int{1}, []float32{2.5}).node("Abs", []string{"x"}, []string{"a"}).
				node("Pow", []string{"a", "p"}, []string{"y"}).output("y")
		}, [][]int{{6}}},
		{"unary chain", func() *testGraph {
			return newTestGraph(13).input("x", 3, 5).node("Sigmoid", []string{"x"}, []string{"a"}).node("Tanh", []string{"a"}, []string{"b"}).
				node("LeakyRelu", []string{"x"}, []string{"c"}, aFloat("alpha", 0.1)).node("Add", []string{"b", "c"}, []string{"d"}).
				node("Exp", []string{"d"}, []string{"e"}).node("Softplus", []string{"e"}, []string{"f"}).node("Log", []string{"f"}, []string{"g"}).
				node("Sqrt", []string{"f"}, []string{"h"}).node("Mul", []string{"g", "h"}, []string{"i"}).node("Neg", []string{"i"}, []string{"j"}).
				node("Elu", []string{"j"}, []string{"k"}).node("HardSigmoid", []string{"k"}, []string{"l"}).node("Reciprocal", []string{"f"}, []string{"m"}).
				node("Add", []string{"l", "m"}, []string{"y"}).output("y")
		}, [][]int{{3, 5}}},
		{"Relu HardSwish Clip", func() *testGraph {
			return newTestGraph(14).input("x", 4, 6).node("Relu", []string{"x"}, []string{"a"}).node("HardSwish", []string{"x"}, []string{"b"}).
				init("lo", []int{}, []float32{-0.3}).init("hi", []int{}, []float32{0.4}).node("Clip", []string{"x", "lo", "hi"}, []string{"c"}).
				node("Sum", []string{"a", "b", "c"}, []string{"y"}).output("y")
		}, [][]int{{4, 6}}},
		{"Identity Dropout Cast Where", func() *testGraph {
			t := newTestGraph(13).input("x", 3, 4).node("Identity", []string{"x"}, []string{"a"}).
				node("Dropout", []string{"a"}, []string{"b"}).node("Cast", []string{"b"}, []string{"c"}, aInt("to", int64(dtFloat))).
				node("Neg", []string{"x"}, []string{"n"}).node("ReduceMin", []string{"x"}, []string{"m"}, aInts("axes", 1), aInt("keepdims", 1)).
				node("Add", []string{"n", "m"}, []string{"nm"})
			t.g.Initializer = append(t.g.Initializer, &pb.TensorProto{Name: proto.String("cond"), Dims: []int64{4},
				DataType: proto.Int32(dtBool), RawData: []byte{1, 0, 0, 1}})
			return t.node("Where", []string{"cond", "c", "nm"}, []string{"y"}).output("y")
		}, [][]int{{3, 4}}},
		{"Max Min", func() *testGraph {
			return newTestGraph(13).input("a", 3, 4).input("b", 4).node("Max", []string{"a", "b"}, []string{"c"}).node("Min", []string{"c", "a"}, []string{"y"}).output("y")
		}, [][]int{{3, 4}, {4}}},
		{"Softmax LogSoftmax opset13", func() *testGraph {
			return newTestGraph(13).input("x", 2, 3, 4).node("Softmax", []string{"x"}, []string{"a"}, aInt("axis", 1)).
				node("LogSoftmax", []string{"x"}, []string{"b"}).node("Add", []string{"a", "b"}, []string{"y"}).output("y")
		}, [][]int{{2, 3, 4}}},
		{"Softmax opset11 coerced", func() *testGraph {
			return newTestGraph(11).input("x", 2, 3, 4).node("Softmax", []string{"x"}, []string{"y"}, aInt("axis", 1)).output("y")
		}, [][]int{{2, 3, 4}}},
		{"MaxPool pads stride", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 7, 7).node("MaxPool", []string{"x"}, []string{"y"},
				aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1)).output("y")
		}, [][]int{{2, 2, 7, 7}}},
		{"MaxPool ceil", func() *testGraph {
			return newTestGraph(13).input("x", -1, 1, 6, 6).node("MaxPool", []string{"x"}, []string{"y"},
				aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInt("ceil_mode", 1)).output("y")
		}, [][]int{{2, 1, 6, 6}}},
		{"AveragePool pads", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 5, 5).node("AveragePool", []string{"x"}, []string{"y"},
				aInts("kernel_shape", 3, 3), aInts("pads", 1, 1, 1, 1)).output("y")
		}, [][]int{{2, 2, 5, 5}}},
		{"AveragePool count_include_pad", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 5, 5).node("AveragePool", []string{"x"}, []string{"y"},
				aInts("kernel_shape", 2, 2), aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1), aInt("count_include_pad", 1)).output("y")
		}, [][]int{{2, 2, 5, 5}}},
		{"GlobalAveragePool GlobalMaxPool", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 4, 4).node("GlobalAveragePool", []string{"x"}, []string{"a"}).
				node("GlobalMaxPool", []string{"x"}, []string{"b"}).node("Add", []string{"a", "b"}, []string{"y"}).output("y")
		}, [][]int{{2, 3, 4, 4}}},
		{"BatchNormalization", func() *testGraph {
			return newTestGraph(13).input("x", -1, 3, 4, 4).randInit(r, "s", 3).randInit(r, "b", 3).randInit(r, "m", 3).
				init("v", []int{3}, []float32{0.5, 1.2, 2}).
				node("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y"}, aFloat("epsilon", 1e-3)).output("y")
		}, [][]int{{2, 3, 4, 4}}},
		{"Reshape Flatten Transpose Squeeze Unsqueeze", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 3, 4).initInts("shp", 0, -1).initInts("ax", 1).
				node("Transpose", []string{"x"}, []string{"a"}, aInts("perm", 0, 3, 1, 2)).node("Reshape", []string{"a", "shp"}, []string{"b"}).
				node("Unsqueeze", []string{"b", "ax"}, []string{"c"}).node("Squeeze", []string{"c", "ax"}, []string{"d"}).
				node("Flatten", []string{"d"}, []string{"y"}).output("y")
		}, [][]int{{2, 2, 3, 4}}},
		{"Slice Gather Concat Split", func() *testGraph {
			return newTestGraph(13).input("x", 4, 6).initInts("st", -1).initInts("en", 0).initInts("axs", 1).initInts("stp", -2).
				initInts("idx", 2, 0, 2).initInts("sp", 2, 4).
				node("Slice", []string{"x", "st", "en", "axs", "stp"}, []string{"a"}).
				node("Gather", []string{"x", "idx"}, []string{"b"}, aInt("axis", 1)).
				node("Split", []string{"x", "sp"}, []string{"c", "d"}, aInt("axis", 1)).
				node("Concat", []string{"a", "b", "c", "d"}, []string{"y"}, aInt("axis", 1)).output("y")
		}, [][]int{{4, 6}}},
		{"Pad constant reflect edge", func() *testGraph {
			return newTestGraph(13).input("x", 1, 2, 4, 4).initInts("p", 0, 0, 1, 2, 0, 0, 2, 1).
				node("Pad", []string{"x", "p"}, []string{"a"}).node("Pad", []string{"x", "p"}, []string{"b"}, aString("mode", "reflect")).
				node("Pad", []string{"x", "p"}, []string{"c"}, aString("mode", "edge")).node("Sum", []string{"a", "b", "c"}, []string{"y"}).output("y")
		}, [][]int{{1, 2, 4, 4}}},
		{"ReduceMean ReduceSum ReduceMax Expand", func() *testGraph {
			return newTestGraph(13).input("x", 2, 3, 4).initInts("ax", 1).initInts("shp", 3, 2, 1, 4).
				node("ReduceMean", []string{"x"}, []string{"a"}, aInts("axes", 2), aInt("keepdims", 1)).
				node("ReduceSum", []string{"x", "ax"}, []string{"b"}, aInt("keepdims", 1)).
				node("ReduceMax", []string{"x"}, []string{"c"}, aInts("axes", 1, 2), aInt("keepdims", 1)).
				node("Add", []string{"a", "b"}, []string{"d"}).node("Add", []string{"d", "c"}, []string{"e"}).
				node("Expand", []string{"e", "shp"}, []string{"y"}).output("y")
		}, [][]int{{2, 3, 4}}},
		{"Conv ReLU fused, ReLU output read twice", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 6, 6).randInit(r, "w1", 3, 2, 3, 3).randInit(r, "b1", 3).randInit(r, "w2", 3, 3, 1, 1).
				node("Conv", []string{"x", "w1", "b1"}, []string{"a"}, aInts("pads", 1, 1, 1, 1)).
				node("Relu", []string{"a"}, []string{"r"}).
				node("Conv", []string{"r", "w2"}, []string{"c"}).node("Relu", []string{"c"}, []string{"d"}).
				node("Add", []string{"d", "r"}, []string{"y"}).output("y")
		}, [][]int{{3, 2, 6, 6}}},
		{"Conv output read by ReLU and Add (not fused)", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 5, 5).randInit(r, "w", 2, 2, 3, 3).
				node("Conv", []string{"x", "w"}, []string{"a"}, aInts("pads", 1, 1, 1, 1), aInts("strides", 2, 2)).
				node("Relu", []string{"a"}, []string{"r"}).node("Add", []string{"a", "r"}, []string{"y"}).output("y")
		}, [][]int{{2, 2, 5, 5}}},
		{"residual block", func() *testGraph {
			return newTestGraph(13).input("x", -1, 2, 6, 6).randInit(r, "w1", 2, 2, 3, 3).randInit(r, "w2", 2, 2, 3, 3).
				randInit(r, "s", 2).randInit(r, "b", 2).randInit(r, "m", 2).init("v", []int{2}, []float32{0.7, 1.5}).
				node("Conv", []string{"x", "w1"}, []string{"a"}, aInts("pads", 1, 1, 1, 1)).
				node("BatchNormalization", []string{"a", "s", "b", "m", "v"}, []string{"bn"}).
				node("Relu", []string{"bn"}, []string{"r"}).
				node("Conv", []string{"r", "w2"}, []string{"c"}, aInts("pads", 1, 1, 1, 1)).
				node("Add", []string{"c", "x"}, []string{"d"}).node("Relu", []string{"d"}, []string{"e"}).
				node("GlobalAveragePool", []string{"e"}, []string{"f"}).node("Flatten", []string{"f"}, []string{"y"}).output("y")
		}, [][]int{{3, 2, 6, 6}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkGradients(t, tc.build().bytes(), tc.shapes, uint64(i+10))
		})
	}
}
