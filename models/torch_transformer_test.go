package models

import (
	"fmt"
	"path/filepath"
	"testing"
)

// Transformer-era classifiers exported by PyTorch (testdata/torch, made by
// make_transformer_fixtures.py): torchvision's ViT, ConvNeXt, Swin and
// MaxViT and a timm-style DeiT at reduced size, random weights. Logits and
// input gradients must match PyTorch's in float32, and in float64 the
// engine must agree with PyTorch's float64 to rounding.
func TestTorchTransformerFixtures(t *testing.T) {
	for _, c := range []struct {
		model string
		// f64 is the float64 tolerance: the graphs compute what the float64
		// modules compute except where the exporter folded a BatchNorm into
		// the convolution before it, in float32 (MaxViT's stem and MBConv).
		f64 float64
	}{
		{"vit_tiny", 1e-9}, {"convnext_tiny", 1e-9}, {"swin_tiny", 1e-9}, {"deit_tiny", 1e-9}, {"maxvit_tiny", 1e-6},
	} {
		for _, opset := range []int{13, 17} {
			t.Run(fmt.Sprintf("%s_op%d", c.model, opset), func(t *testing.T) {
				if testing.Short() && c.model == "swin_tiny" {
					t.Skip("large graph in -short mode")
				}
				m, err := LoadFile(filepath.Join(torchDir, fmt.Sprintf("%s_op%d.onnx", c.model, opset)))
				if err != nil {
					t.Fatal(err)
				}
				if m.Opset() != int64(opset) {
					t.Errorf("opset %d, want %d", m.Opset(), opset)
				}
				compareWithTorch(t, m, c.model, readNPY32(t, c.model+"_x.npy"), readNPYInts(t, c.model+"_y.npy"), c.f64)
			})
		}
	}
}

// compareWithTorch checks logits, the input gradient of the summed
// cross-entropy and the VJP of <name>_v.npy against PyTorch's, in float32
// and (to tolerance f64) float64, and that one image alone gives the same
// logits as in the batch.
func compareWithTorch(t *testing.T, m *Model, name string, x []float32, y []int, f64 float64) {
	t.Helper()
	wantLogits := readNPY32(t, name+"_logits.npy")
	logits := make([]float32, len(wantLogits))
	if err := m.Logits(logits, x); err != nil {
		t.Fatal(err)
	}
	_, d := closeRel(logits, wantLogits, 1e-5)
	t.Logf("logits vs PyTorch float32: max rel %.2g", d)
	if d > 1e-5 {
		t.Errorf("logits differ from PyTorch's by %.2g (relative to the largest)", d)
	}
	grad, _, err := m.CrossEntropyGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	v := readNPY32(t, name+"_v.npy")
	vjp, err := m.VJP(x, v)
	if err != nil {
		t.Fatal(err)
	}
	// No ReLU kinks here (GELU is smooth), so float32 agrees closely.
	for _, c := range []struct {
		what      string
		got, want []float32
	}{{"input gradient", grad, readNPY32(t, name+"_grad.npy")}, {"VJP", vjp, readNPY32(t, name+"_vjp.npy")}} {
		nr := normRel(c.got, c.want)
		_, worst := closeRel(c.got, c.want, 1e-4)
		t.Logf("float32 %s vs PyTorch float32: norm rel %.2g, max rel %.2g", c.what, nr, worst)
		if nr > 1e-4 {
			t.Errorf("float32 %s disagrees with PyTorch: norm rel %.2g", c.what, nr)
		}
	}
	g64, v64 := inputGrads64(t, m, x, y, v)
	for _, c := range []struct {
		what string
		got  []float64
		file string
	}{{"input gradient", g64, name + "_grad_f64.npy"}, {"VJP", v64, name + "_vjp_f64.npy"}} {
		want := readNPY64(t, c.file)
		i, d := maxRel64(c.got, want)
		t.Logf("float64 %s vs PyTorch float64: max rel %.2g", c.what, d)
		if d > f64 {
			t.Errorf("float64 %s[%d] = %g, PyTorch %g (rel %.2g)", c.what, i, c.got[i], want[i], d)
		}
	}
	k := m.NumClasses()
	one := make([]float32, k)
	sz := len(x) / len(y)
	if err := m.Logits(one, x[sz:2*sz]); err != nil {
		t.Fatal(err)
	}
	if i, d := closeRel(one, wantLogits[k:2*k], 1e-5); i >= 0 {
		t.Errorf("batch-1 logits[%d] off by %.2g", i, d)
	}
}

// The vit reference architecture is torchvision's VisionTransformer:
// Build("vit", [1,28,28], ...) with the weights of torchvision's ViT in that
// configuration (testdata/arch/vit_torchvision.onnx, made and checked by
// package arch) computes torchvision's logits and gradients, in float64 to
// rounding.
func TestViTArchMatchesTorchvision(t *testing.T) {
	m, err := LoadFile(filepath.Join("testdata", "arch", "vit_torchvision.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	compareWithTorch(t, m, "vit_arch", readNPY32(t, "mnist8_x.npy"), readNPYInts(t, "mnist8_y.npy"), 1e-9)
}
