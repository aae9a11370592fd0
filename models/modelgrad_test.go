package models

import (
	"math/rand/v2"
	"testing"
)

// Whole models: input VJPs and weight gradients against central finite
// differences in float64.

func lenetLike(r *rand.Rand) *testGraph {
	return newTestGraph(13).input("x", -1, 1, 12, 12).
		init("mean", []int{}, []float32{0.13}).init("std", []int{}, []float32{0.31}).
		randInit(r, "c1w", 4, 1, 3, 3).randInit(r, "c1b", 4).randInit(r, "c2w", 6, 4, 3, 3).randInit(r, "c2b", 6).
		randInit(r, "f1w", 10, 24).randInit(r, "f1b", 10).randInit(r, "f2w", 3, 10).randInit(r, "f2b", 3).
		node("Sub", []string{"x", "mean"}, []string{"a"}).node("Div", []string{"a", "std"}, []string{"n"}).
		node("Conv", []string{"n", "c1w", "c1b"}, []string{"c1"}, aInts("pads", 1, 1, 1, 1)).
		node("Relu", []string{"c1"}, []string{"r1"}).
		node("MaxPool", []string{"r1"}, []string{"p1"}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2)).
		node("Conv", []string{"p1", "c2w", "c2b"}, []string{"c2"}).
		node("Relu", []string{"c2"}, []string{"r2"}).
		node("MaxPool", []string{"r2"}, []string{"p2"}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2)).
		node("Flatten", []string{"p2"}, []string{"f"}).
		node("Gemm", []string{"f", "f1w", "f1b"}, []string{"g1"}, aInt("transB", 1)).
		node("Relu", []string{"g1"}, []string{"r3"}).
		node("Gemm", []string{"r3", "f2w", "f2b"}, []string{"y"}, aInt("transB", 1)).output("y")
}

func bn(t *testGraph, r *rand.Rand, name, in, out string, c int) *testGraph {
	v := make([]float32, c)
	for i := range v {
		v[i] = float32(0.5 + r.Float64())
	}
	return t.randInit(r, name+"s", c).randInit(r, name+"b", c).randInit(r, name+"m", c).init(name+"v", []int{c}, v).
		node("BatchNormalization", []string{in, name + "s", name + "b", name + "m", name + "v"}, []string{out})
}

func resnetLike(r *rand.Rand) *testGraph {
	t := newTestGraph(13).input("x", -1, 1, 8, 8).randInit(r, "w0", 4, 1, 3, 3).
		randInit(r, "w1", 4, 4, 3, 3).randInit(r, "w2", 4, 4, 3, 3).randInit(r, "w3", 8, 4, 3, 3).randInit(r, "w4", 8, 8, 3, 3).
		randInit(r, "wd", 8, 4, 1, 1).randInit(r, "fw", 3, 8).randInit(r, "fb", 3).
		node("Conv", []string{"x", "w0"}, []string{"c0"}, aInts("pads", 1, 1, 1, 1))
	t = bn(t, r, "bn0", "c0", "b0", 4).node("Relu", []string{"b0"}, []string{"r0"})
	// Basic block, identity shortcut.
	t = t.node("Conv", []string{"r0", "w1"}, []string{"c1"}, aInts("pads", 1, 1, 1, 1))
	t = bn(t, r, "bn1", "c1", "b1", 4).node("Relu", []string{"b1"}, []string{"r1"}).
		node("Conv", []string{"r1", "w2"}, []string{"c2"}, aInts("pads", 1, 1, 1, 1))
	t = bn(t, r, "bn2", "c2", "b2", 4).node("Add", []string{"b2", "r0"}, []string{"s1"}).node("Relu", []string{"s1"}, []string{"o1"})
	// Basic block, stride 2 with a 1×1 projection shortcut.
	t = t.node("Conv", []string{"o1", "w3"}, []string{"c3"}, aInts("pads", 1, 1, 1, 1), aInts("strides", 2, 2))
	t = bn(t, r, "bn3", "c3", "b3", 8).node("Relu", []string{"b3"}, []string{"r3"}).
		node("Conv", []string{"r3", "w4"}, []string{"c4"}, aInts("pads", 1, 1, 1, 1))
	t = bn(t, r, "bn4", "c4", "b4", 8).node("Conv", []string{"o1", "wd"}, []string{"d"}, aInts("strides", 2, 2))
	t = bn(t, r, "bnd", "d", "bd", 8).node("Add", []string{"b4", "bd"}, []string{"s2"}).node("Relu", []string{"s2"}, []string{"o2"}).
		node("GlobalAveragePool", []string{"o2"}, []string{"gap"}).node("Flatten", []string{"gap"}, []string{"f"}).
		node("Gemm", []string{"f", "fw", "fb"}, []string{"y"}, aInt("transB", 1)).output("y")
	return t
}

func mobilenetLike(r *rand.Rand) *testGraph {
	t := newTestGraph(13).input("x", -1, 1, 9, 9).init("lo", []int{}, []float32{0}).init("hi", []int{}, []float32{6}).
		randInit(r, "w0", 6, 1, 3, 3).randInit(r, "dw", 6, 1, 3, 3).randInit(r, "pw", 6, 6, 1, 1).
		randInit(r, "ex", 12, 6, 1, 1).randInit(r, "dw2", 12, 1, 3, 3).randInit(r, "pj", 6, 12, 1, 1).
		randInit(r, "fw", 4, 6).randInit(r, "fb", 4).
		node("Conv", []string{"x", "w0"}, []string{"c0"}, aInts("pads", 1, 1, 1, 1), aInts("strides", 2, 2))
	t = bn(t, r, "bn0", "c0", "b0", 6).node("Clip", []string{"b0", "lo", "hi"}, []string{"r0"}).
		node("Conv", []string{"r0", "dw"}, []string{"c1"}, aInts("pads", 1, 1, 1, 1), aInt("group", 6))
	t = bn(t, r, "bn1", "c1", "b1", 6).node("Clip", []string{"b1", "lo", "hi"}, []string{"r1"}).
		node("Conv", []string{"r1", "pw"}, []string{"c2"})
	t = bn(t, r, "bn2", "c2", "b2", 6)
	// Inverted residual: expand, depthwise, project, add.
	t = t.node("Conv", []string{"b2", "ex"}, []string{"c3"})
	t = bn(t, r, "bn3", "c3", "b3", 12).node("Clip", []string{"b3", "lo", "hi"}, []string{"r3"}).
		node("Conv", []string{"r3", "dw2"}, []string{"c4"}, aInts("pads", 1, 1, 1, 1), aInt("group", 12))
	t = bn(t, r, "bn4", "c4", "b4", 12).node("Clip", []string{"b4", "lo", "hi"}, []string{"r4"}).
		node("Conv", []string{"r4", "pj"}, []string{"c5"})
	t = bn(t, r, "bn5", "c5", "b5", 6).node("Add", []string{"b5", "b2"}, []string{"s"}).
		node("GlobalAveragePool", []string{"s"}, []string{"gap"}).node("Flatten", []string{"gap"}, []string{"f"}).
		node("Gemm", []string{"f", "fw", "fb"}, []string{"y"}, aInt("transB", 1)).output("y")
	return t
}

func TestModelGradients(t *testing.T) {
	for i, tc := range []struct {
		name  string
		build func(*rand.Rand) *testGraph
		shape []int
	}{
		{"LeNet-like", lenetLike, []int{3, 1, 12, 12}},
		{"ResNet-like", resnetLike, []int{3, 1, 8, 8}},
		{"MobileNet-like", mobilenetLike, []int{3, 1, 9, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 99))
			checkGradients(t, tc.build(r).bytes(), [][]int{tc.shape}, uint64(100+i))
		})
	}
}
