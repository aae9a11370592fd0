package models

import (
	"math"
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

// Training mode: BatchNorm's gradient flows through the batch statistics,
// Dropout's through its mask.
func TestTrainingModeGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	g := newTestGraph(13).input("x", -1, 3, 5, 5).randInit(r, "w", 4, 3, 3, 3).
		randInit(r, "fw", 2, 100).randInit(r, "fb", 2).init("ratio", []int{}, []float32{0.3}).
		node("Conv", []string{"x", "w"}, []string{"c"}, aInts("pads", 1, 1, 1, 1))
	g = bn(g, r, "bn", "c", "b", 4).node("Relu", []string{"b"}, []string{"h"}).
		node("Flatten", []string{"h"}, []string{"f"}).
		node("Dropout", []string{"f", "ratio"}, []string{"d"}).
		node("Gemm", []string{"d", "fw", "fb"}, []string{"y"}, aInt("transB", 1)).output("y")
	checkGradientsMode(t, g.bytes(), [][]int{{4, 3, 5, 5}}, 3, true)
	checkGradientsMode(t, resnetLike(rand.New(rand.NewPCG(1, 99))).bytes(), [][]int{{3, 1, 8, 8}}, 4, true)
}

// TrainGrads updates BatchNorm's running statistics as PyTorch does:
// running = 0.9·running + 0.1·batch, with the unbiased batch variance.
func TestTrainGradsRunningStats(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	g := newTestGraph(13).input("x", -1, 2, 3, 3).randInit(r, "fw", 3, 18).
		init("s", []int{2}, []float32{1, 1}).init("b", []int{2}, []float32{0, 0}).
		init("m", []int{2}, []float32{0.5, -1}).init("v", []int{2}, []float32{2, 3}).
		node("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"n"}, aFloat("momentum", 0.9)).
		node("Flatten", []string{"n"}, []string{"f"}).
		node("Gemm", []string{"f", "fw"}, []string{"y"}, aInt("transB", 1)).output("y")
	m, err := Load(g.bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if want := p.Name == "m" || p.Name == "v"; p.Buffer != want {
			t.Errorf("parameter %s: Buffer = %v", p.Name, p.Buffer)
		}
	}
	x := make([]float32, 4*18)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	grads, err := m.TrainGrads(x, 1, func(z, dz []float32) { copy(dz, z) })
	if err != nil {
		t.Fatal(err)
	}
	for ch := 0; ch < 2; ch++ {
		var s, ss float64
		for n := 0; n < 4; n++ {
			for i := 0; i < 9; i++ {
				s += float64(x[n*18+ch*9+i])
			}
		}
		mu := s / 36
		for n := 0; n < 4; n++ {
			for i := 0; i < 9; i++ {
				d := float64(x[n*18+ch*9+i]) - mu
				ss += d * d
			}
		}
		rm, _ := m.ParamValues("m")
		rv, _ := m.ParamValues("v")
		wantM := 0.9*[]float64{0.5, -1}[ch] + 0.1*mu
		wantV := 0.9*[]float64{2, 3}[ch] + 0.1*ss/35
		if math.Abs(float64(rm[ch])-wantM) > 1e-5 || math.Abs(float64(rv[ch])-wantV) > 1e-5 {
			t.Errorf("channel %d: running mean %v var %v, want %v %v", ch, rm[ch], rv[ch], wantM, wantV)
		}
	}
	for i, p := range m.Params() {
		nz := false
		for _, v := range grads[i] {
			nz = nz || v != 0
		}
		if p.Buffer && nz {
			t.Errorf("buffer %s got a gradient", p.Name)
		}
	}
}
