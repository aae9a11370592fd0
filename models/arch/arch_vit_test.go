package arch

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/models"
)

const torchDir = "../../testdata/torch"

func readNPY32(t *testing.T, name string) []float32 {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(torchDir, name))
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestViTTorchvisionFixture: the vit architecture is torchvision's
// VisionTransformer. With the state_dict of torchvision's ViT configured
// as Build("vit", [1,28,28], ...) (make_transformer_fixtures.py) loaded by
// name — every name and shape matches — it gives torchvision's logits and
// input gradient in float32. The model with those weights is kept as
// models/testdata/arch/vit_torchvision.onnx, where the engine's tests
// compare its float64 gradients with torchvision's (to rounding).
func TestViTTorchvisionFixture(t *testing.T) {
	m, err := Build("vit", []int{1, 28, 28}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	w, err := npy.ReadNPZ(filepath.Join(torchDir, "vit_arch_weights.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != len(m.Params()) {
		t.Errorf("torchvision has %d tensors in its state_dict, Build %d parameters", len(w), len(m.Params()))
	}
	for _, p := range m.Params() {
		a, ok := w[p.Name]
		if !ok {
			t.Errorf("parameter %s %v is not in torchvision's state_dict", p.Name, p.Shape)
			continue
		}
		if fmt.Sprint(a.Shape) != fmt.Sprint(p.Shape) {
			t.Errorf("%s: shape %v, torchvision %v", p.Name, p.Shape, a.Shape)
			continue
		}
		v, err := a.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetParam(p.Name, v); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		return
	}
	x := readNPY32(t, "mnist8_x.npy")
	a, err := npy.ReadFile(filepath.Join(torchDir, "mnist8_y.npy"))
	if err != nil {
		t.Fatal(err)
	}
	y, err := a.Ints()
	if err != nil {
		t.Fatal(err)
	}
	z := make([]float32, 80)
	if err := m.Logits(z, x); err != nil {
		t.Fatal(err)
	}
	g, _, err := m.CrossEntropyGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want []float32
		tol       float64
	}{{"logits", z, readNPY32(t, "vit_arch_logits.npy"), 1e-5}, {"input gradient", g, readNPY32(t, "vit_arch_grad.npy"), 1e-4}} {
		var num, den float64
		for i := range c.want {
			d := float64(c.got[i] - c.want[i])
			num += d * d
			den += float64(c.want[i]) * float64(c.want[i])
		}
		rel := math.Sqrt(num / den)
		t.Logf("%s vs torchvision float32: norm rel %.2g", c.what, rel)
		if rel > c.tol {
			t.Errorf("%s differ from torchvision's: norm rel %.2g", c.what, rel)
		}
	}
	got := archBytes(t, m)
	path := filepath.Join("..", "testdata", "arch", "vit_torchvision.onnx")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./models/arch -run ViTTorchvision -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Build with torchvision's weights no longer gives %s; if the change is intended, rerun with -update", path)
	}
}

// LayerNorm has no batch statistics and vit no Dropout: the training-mode
// forward pass is the inference pass, bit for bit, and so are the
// parameter gradients.
func TestViTTrainingModeIsInference(t *testing.T) {
	m, err := Build("vit", []int{1, 28, 28}, 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 3*784)
	for i := range x {
		x[i] = float32(i%97) / 97
	}
	y := []int{1, 5, 9}
	z := make([]float32, 30)
	if err := m.Logits(z, x); err != nil {
		t.Fatal(err)
	}
	var zt []float32
	cot := func(z, dz []float32) {
		zt = append(zt[:0], z...)
		_ = models.SoftmaxCrossEntropyGrad(dz, z, y, 10)
	}
	gt, err := m.TrainGrads(x, 7, cot)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(z, zt) {
		t.Fatalf("training-mode logits %v, inference %v", zt, z)
	}
	gi, err := m.ParamGrads(x, cot)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gt {
		if !slices.Equal(gt[i], gi[i]) {
			t.Fatalf("parameter %s: training-mode gradient differs from the inference one", m.Params()[i].Name)
		}
	}
}
