package arch

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/internal/onnxcheck"
	"github.com/advmatrix/advmatrix/models"
)

func archBytes(t *testing.T, m *models.Model) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := m.WriteONNX(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// trainableParams counts parameters as PyTorch's parameters() does:
// without BatchNorm's running statistics (buffers there).
func trainableParams(m *models.Model) int {
	n := 0
	for _, p := range m.Params() {
		if !strings.HasSuffix(p.Name, ".running_mean") && !strings.HasSuffix(p.Name, ".running_var") {
			n += numel(p.Shape)
		}
	}
	return n
}

func allFinite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

func TestArchBuild(t *testing.T) {
	if got := Architectures(); strings.Join(got, ",") != "mlp,lenet,resnet,vgg,mobilenet,vit" {
		t.Fatalf("Architectures() = %v", got)
	}
	for _, arch := range Architectures() {
		for _, shape := range [][]int{{1, 28, 28}, {3, 32, 32}} {
			t.Run(fmt.Sprintf("%s/%dx%dx%d", arch, shape[0], shape[1], shape[2]), func(t *testing.T) { testArch(t, arch, shape) })
		}
	}
}

func testArch(t *testing.T, arch string, shape []int) {
	const classes = 10
	m, err := Build(arch, shape, classes, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.InputShape(); len(got) != 3 || got[0] != shape[0] || got[1] != shape[1] || got[2] != shape[2] {
		t.Fatalf("InputShape %v, want %v", got, shape)
	}
	if m.NumClasses() != classes {
		t.Fatalf("NumClasses %d", m.NumClasses())
	}
	t.Logf("%s %v: %d trainable parameters (%d with BatchNorm running statistics) in %d tensors, ops %v",
		arch, shape, trainableParams(m), m.NumParams(), len(m.Params()), m.OpCounts())

	d := numel(shape)
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 3*d)
	for i := range x {
		x[i] = r.Float32()
	}
	var first []float32
	for _, batch := range []int{1, 3} {
		xb := x[:batch*d]
		z := make([]float32, batch*classes)
		if err := m.Logits(z, xb); err != nil {
			t.Fatal(err)
		}
		if !allFinite(z) {
			t.Fatalf("batch %d: non-finite logits %v", batch, z)
		}
		if batch == 1 {
			first = z
		} else {
			for i := range first {
				if math.Abs(float64(first[i]-z[i])) > 1e-5*max(1, math.Abs(float64(first[i]))) {
					t.Errorf("logit %d of image 0: %v at batch 1, %v at batch %d", i, first[i], z[i], batch)
				}
			}
		}
		y := make([]int, batch)
		for i := range y {
			y[i] = (3*i + 1) % classes
		}
		dx, z2, err := m.CrossEntropyGrad(xb, y)
		if err != nil {
			t.Fatal(err)
		}
		if len(dx) != len(xb) || !allFinite(dx) {
			t.Fatalf("batch %d: input gradient of length %d (want %d) or not finite", batch, len(dx), len(xb))
		}
		nonzero := false
		for _, g := range dx {
			nonzero = nonzero || g != 0
		}
		if !nonzero {
			t.Errorf("batch %d: the input gradient is zero", batch)
		}
		for i := range z {
			if z[i] != z2[i] {
				t.Fatalf("batch %d: CrossEntropyGrad logit %d is %v, Logits gave %v", batch, i, z2[i], z[i])
			}
		}
	}

	// Round trip: export, load, same logits and same bytes.
	data := archBytes(t, m)
	back, err := models.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	z1 := make([]float32, 3*classes)
	z2 := make([]float32, 3*classes)
	if err := m.Logits(z1, x); err != nil {
		t.Fatal(err)
	}
	if err := back.Logits(z2, x); err != nil {
		t.Fatal(err)
	}
	for i := range z1 {
		if z1[i] != z2[i] {
			t.Fatalf("logit %d: %v built, %v after WriteONNX and Load", i, z1[i], z2[i])
		}
	}
	if !bytes.Equal(data, archBytes(t, back)) {
		t.Error("re-exporting the loaded model changed its bytes")
	}
	path := filepath.Join(t.TempDir(), arch+".onnx")
	if err := m.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	onnxcheck.Check(t, path) // last: it skips when python3-onnx is missing
}

func TestArchBuildDeterministic(t *testing.T) {
	for _, arch := range Architectures() {
		a, err := Build(arch, []int{1, 28, 28}, 10, 42)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Build(arch, []int{1, 28, 28}, 10, 42)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Build(arch, []int{1, 28, 28}, 10, 43)
		if err != nil {
			t.Fatal(err)
		}
		ba, bb, bc := archBytes(t, a), archBytes(t, b), archBytes(t, c)
		if !bytes.Equal(ba, bb) {
			t.Errorf("%s: the same seed gave different bytes", arch)
		}
		if bytes.Equal(ba, bc) {
			t.Errorf("%s: seeds 42 and 43 gave the same bytes", arch)
		}
	}
}

// TestArchInit checks PyTorch's default initialisation: Conv and Linear
// weights and biases U(±1/√fan_in), BatchNorm and LayerNorm (1, 0, 0, 1),
// and the ViT's class token 0 and position embedding N(0, 0.02²).
func TestArchInit(t *testing.T) {
	for _, arch := range Architectures() {
		m, err := Build(arch, []int{3, 32, 32}, 10, 7)
		if err != nil {
			t.Fatal(err)
		}
		shapes := map[string][]int{}
		for _, p := range m.Params() {
			shapes[p.Name] = p.Shape
		}
		for _, p := range m.Params() {
			v, _ := m.ParamValues(p.Name)
			switch p.Name {
			case "class_token":
				for i, x := range v {
					if x != 0 {
						t.Fatalf("%s: %s[%d] = %v, want 0", arch, p.Name, i, x)
					}
				}
				continue
			case "encoder.pos_embedding":
				var sq float64
				for _, x := range v {
					sq += float64(x) * float64(x)
				}
				if std := math.Sqrt(sq / float64(len(v))); math.Abs(std-0.02) > 0.002 {
					t.Errorf("%s: %s has standard deviation %v, want about 0.02", arch, p.Name, std)
				}
				continue
			}
			dot := strings.LastIndexByte(p.Name, '.')
			module, kind := p.Name[:dot], p.Name[dot+1:]
			w := shapes[module+".weight"]
			if strings.HasPrefix(kind, "in_proj_") { // nn.MultiheadAttention's packed projection
				w = shapes[module+".in_proj_weight"]
			}
			isBN := len(w) == 1
			if isBN {
				want := map[string]float32{"weight": 1, "bias": 0, "running_mean": 0, "running_var": 1}[kind]
				for i, x := range v {
					if x != want {
						t.Fatalf("%s: %s[%d] = %v, want %v", arch, p.Name, i, x, want)
					}
				}
				continue
			}
			fanIn := numel(w[1:])
			bound := 1 / math.Sqrt(float64(fanIn))
			var sum, sq float64
			for _, x := range v {
				if math.Abs(float64(x)) > bound {
					t.Fatalf("%s: %s = %v outside ±%v", arch, p.Name, x, bound)
				}
				sum += float64(x)
				sq += float64(x) * float64(x)
			}
			if n := float64(len(v)); n >= 1000 {
				std := math.Sqrt(sq/n - (sum/n)*(sum/n))
				if want := bound / math.Sqrt(3); math.Abs(std-want) > 0.1*want {
					t.Errorf("%s: %s has standard deviation %v, want about %v", arch, p.Name, std, want)
				}
			}
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for _, c := range []struct {
		arch    string
		shape   []int
		classes int
		want    string
	}{
		{"alexnet", []int{1, 28, 28}, 10, "known: mlp, lenet, resnet, vgg, mobilenet, vit"},
		{"mlp", []int{28, 28}, 10, "want C×H×W"},
		{"mlp", []int{1, 0, 28}, 10, "between 1 and"},
		{"resnet", []int{1, -3, 28}, 10, "between 1 and"},
		{"vgg", []int{3, 1024, 1024}, 10, "more than"},
		{"lenet", []int{1, 8, 8}, 10, "too small: layer conv2"},
		{"vgg", []int{1, 3, 3}, 10, "too small: layer features.13"},
		{"mlp", []int{1, 28, 28}, 1, "at least 2"},
	} {
		_, err := Build(c.arch, c.shape, c.classes, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%q, %v, %d): error %v, want one containing %q", c.arch, c.shape, c.classes, err, c.want)
		}
	}
	// The smallest inputs that fit still build.
	for _, c := range []struct {
		arch  string
		shape []int
	}{{"lenet", []int{1, 12, 12}}, {"vgg", []int{1, 4, 4}}, {"resnet", []int{1, 1, 1}}, {"mobilenet", []int{2, 1, 1}}, {"mlp", []int{1, 1, 1}}} {
		if _, err := Build(c.arch, c.shape, 2, 1); err != nil {
			t.Errorf("Build(%q, %v): %v", c.arch, c.shape, err)
		}
	}
}

var update = flag.Bool("update", false, "rewrite ../testdata/arch, the models the engine's gradient checks run on")

// TestGradientFixtures keeps models/testdata/arch in step with Build: the
// engine's whole-model float64 gradient checks (TestArchGradients in
// package models) run on these files, one per architecture for 1×16×16
// images, with BatchNorm's parameters moved off their initial values as
// training would. With shift 0 and running mean 0 an activation that is
// exactly zero (a window of ReLU or Clip zeros through a bias-free conv)
// stays exactly zero into the next ReLU or Clip, whose kink is there; the
// one-sided derivative PyTorch uses (ReLU'(0) = 0, Clip passing at its
// bound) would then differ from the central difference by design.
func TestGradientFixtures(t *testing.T) {
	for _, arch := range Architectures() {
		m, err := Build(arch, []int{1, 16, 16}, 10, 3)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(8, 9))
		bn := map[string]bool{}
		for _, p := range m.Params() {
			if module, ok := strings.CutSuffix(p.Name, ".running_var"); ok {
				bn[module] = true
			}
		}
		for _, p := range m.Params() {
			dot := strings.LastIndexByte(p.Name, '.')
			if dot < 0 || !bn[p.Name[:dot]] {
				continue
			}
			lo, hi := -0.2, 0.2 // shift and running mean
			if kind := p.Name[dot+1:]; kind == "weight" || kind == "running_var" {
				lo, hi = 0.5, 1.5
			}
			v := make([]float32, numel(p.Shape))
			for i := range v {
				v[i] = float32(lo + (hi-lo)*r.Float64())
			}
			if err := m.SetParam(p.Name, v); err != nil {
				t.Fatal(err)
			}
		}
		got := archBytes(t, m)
		path := filepath.Join("..", "testdata", "arch", arch+".onnx")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./models/arch -run GradientFixtures -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Build no longer gives %s; if the change is intended, rerun with -update", arch, path)
		}
	}
}
