package models

import (
	"bytes"
	"math"
	"testing"
)

func lenetFixture(t *testing.T) (*Model, []float32, []int) {
	t.Helper()
	m, err := LoadFile("../testdata/torch/lenet_op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	return m, readNPY32(t, "mnist8_x.npy"), readNPYInts(t, "mnist8_y.npy")
}

func TestVJPAtNamedTensors(t *testing.T) {
	m, x, _ := lenetFixture(t)
	names := m.TensorNames()
	out := names[len(names)-1]
	v := readNPY32(t, "lenet_v.npy")
	a, err := m.VJP(x, v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.VJPAt(x, out, v)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("VJPAt(logits)[%d] = %v, VJP %v", i, b[i], a[i])
		}
	}
	// An intermediate tensor: ⟨VJPAt(x, h, w), d⟩ is the directional
	// derivative of ⟨w, h(x)⟩ along d. h is the first convolution's
	// output, affine in x (past the ReLU and the max-pool, whose ties on
	// MNIST's flat background make finite differences one-sided).
	var hidden string
	for _, n := range names {
		if acts, _, err := m.Activations(x, n); err == nil && len(acts[0]) == 8*6*28*28 {
			hidden = n
			break
		}
	}
	if hidden == "" {
		t.Fatal("no 8×6×28×28 tensor found")
	}
	acts, shapes, err := m.Activations(x, hidden)
	if err != nil {
		t.Fatal(err)
	}
	if len(shapes[0]) != 4 || shapes[0][1] != 6 || shapes[0][2] != 28 {
		t.Fatalf("shape %v", shapes[0])
	}
	w := make([]float32, len(acts[0]))
	for i := range w {
		w[i] = float32(math.Sin(float64(i)))
	}
	g, err := m.VJPAt(x, hidden, w)
	if err != nil {
		t.Fatal(err)
	}
	d := make([]float32, len(x))
	for i := range d {
		d[i] = float32(math.Cos(float64(3 * i)))
	}
	dot := func(a, b []float32) float64 {
		s := 0.0
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	const eps = 1e-3
	xp, xm := make([]float32, len(x)), make([]float32, len(x))
	for i := range x {
		xp[i], xm[i] = x[i]+eps*d[i], x[i]-eps*d[i]
	}
	ap, _, err := m.Activations(xp, hidden)
	if err != nil {
		t.Fatal(err)
	}
	am, _, _ := m.Activations(xm, hidden)
	num := (dot(w, ap[0]) - dot(w, am[0])) / (2 * eps)
	ana := dot(g, d)
	if math.Abs(num-ana) > 1e-3*math.Abs(ana) {
		t.Errorf("directional derivative: VJPAt gives %v, finite difference %v", ana, num)
	}
	if _, err := m.VJPAt(x, "no-such-tensor", w); err == nil {
		t.Error("unknown tensor name accepted")
	}
	if _, err := m.VJPAt(x, hidden, w[:10]); err == nil {
		t.Error("wrong cotangent size accepted")
	}
}

// The gradient of the logits' cotangent with respect to the last layer's
// bias is the cotangent summed over the batch: an exact identity.
func TestParamGrads(t *testing.T) {
	m, x, y := lenetFixture(t)
	params := m.Params()
	if len(params) != 10 || m.NumParams() != 61706 {
		t.Fatalf("%d parameter tensors, %d parameters", len(params), m.NumParams())
	}
	var dzSum [10]float64
	grads, err := m.ParamGrads(x, func(z, dz []float32) {
		if err := SoftmaxCrossEntropyGrad(dz, z, y, 10); err != nil {
			t.Fatal(err)
		}
		for i, v := range dz {
			dzSum[i%10] += float64(v)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	last := len(params) - 1
	if params[last].Shape[0] != 10 || len(params[last].Shape) != 1 {
		t.Fatalf("last parameter %v is not the output bias", params[last])
	}
	for i, g := range grads[last] {
		if math.Abs(float64(g)-dzSum[i]) > 1e-6 {
			t.Errorf("bias gradient %d = %v, want %v", i, g, dzSum[i])
		}
	}
	// Every weight tensor gets a gradient.
	for i, g := range grads {
		nz := 0
		for _, v := range g {
			if v != 0 {
				nz++
			}
		}
		if nz == 0 {
			t.Errorf("parameter %s has an all-zero gradient", params[i].Name)
		}
	}
	// SetParam takes effect at the next call; the old values restore the logits.
	z0 := make([]float32, 80)
	_ = m.Logits(z0, x)
	old, _ := m.ParamValues(params[last].Name)
	bumped := append([]float32(nil), old...)
	bumped[3] += 1
	if err := m.SetParam(params[last].Name, bumped); err != nil {
		t.Fatal(err)
	}
	z1 := make([]float32, 80)
	_ = m.Logits(z1, x)
	if d := z1[3] - z0[3]; math.Abs(float64(d)-1) > 1e-5 {
		t.Errorf("bias +1 moved logit 3 by %v", d)
	}
	if err := m.SetParam(params[last].Name, old); err != nil {
		t.Fatal(err)
	}
	_ = m.Logits(z1, x)
	for i := range z0 {
		if z0[i] != z1[i] {
			t.Fatalf("restoring the weights did not restore logit %d", i)
		}
	}
	if err := m.SetParam(params[last].Name, old[:3]); err == nil {
		t.Error("wrong-sized SetParam accepted")
	}
}

// Kernels cache rearranged weights between calls; changing a weight must
// reach every cache (forward and both backward layouts).
func TestSetParamReachesCachedWeights(t *testing.T) {
	m, x, y := lenetFixture(t)
	g0, z0, err := m.CrossEntropyGrad(x, y) // fills the caches
	if err != nil {
		t.Fatal(err)
	}
	conv := m.Params()[0]
	if len(conv.Shape) != 4 {
		t.Fatalf("first parameter %v is not a convolution weight", conv)
	}
	w, _ := m.ParamValues(conv.Name)
	for i := range w {
		w[i] *= -1.5
	}
	if err := m.SetParam(conv.Name, w); err != nil {
		t.Fatal(err)
	}
	g1, z1, err := m.CrossEntropyGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh model with the same weights is the reference.
	var buf bytes.Buffer
	if err := m.WriteONNX(&buf); err != nil {
		t.Fatal(err)
	}
	fresh, err := Load(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	g2, z2, err := fresh.CrossEntropyGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if same(z0, z1) || same(g0, g1) {
		t.Fatal("changing a convolution weight did not change the logits or gradient")
	}
	if !same(z1, z2) || !same(g1, g2) {
		t.Error("after SetParam, logits or gradient differ from a freshly loaded model with the same weights")
	}
}

func TestPass(t *testing.T) {
	m, x, _ := lenetFixture(t)
	v := readNPY32(t, "lenet_v.npy")
	want, err := m.VJP(x, v)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	z := make([]float32, 80)
	_ = m.Logits(z, x)
	for i, l := range ps.Logits() {
		if l != z[i] {
			t.Fatalf("pass logit %d = %v, Logits %v", i, l, z[i])
		}
	}
	dx := make([]float32, len(x))
	for rep := 0; rep < 2; rep++ { // a pass serves several VJPs
		if err := ps.VJP(dx, v); err != nil {
			t.Fatal(err)
		}
		for i := range dx {
			if dx[i] != want[i] {
				t.Fatalf("rep %d: pass VJP[%d] = %v, VJP %v", rep, i, dx[i], want[i])
			}
		}
	}
	if err := ps.VJP(dx, v[:3]); err == nil {
		t.Error("short cotangent accepted")
	}
	ps.Close()
	ps.Close()
	if err := ps.VJP(dx, v); err == nil {
		t.Error("VJP on a closed pass accepted")
	}
}
