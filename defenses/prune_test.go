package defenses

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/onnxcheck"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/zoo"
)

func zooBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := zoo.Bytes(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Unstructured pruning zeroes exactly round(S·n) weights of each tensor
// (layer scope) or of all of them (global scope), and they are the
// smallest: every kept weight is at least as large in magnitude as every
// pruned one (in its tensor, or overall).
func TestPruneMagnitudeExact(t *testing.T) {
	data := zooBytes(t, "digits/mnist_lenet_b50")
	orig, _ := models.Load(data)
	for _, scope := range []string{ScopeLayer, ScopeGlobal} {
		for _, s := range []float64{0, 0.5, 0.8, 0.9, 0.37} {
			p, err := Prune(data, PruneConfig{Sparsity: s, Scope: scope})
			if err != nil {
				t.Fatal(err)
			}
			r := p.Report
			if r.Prunable != 6*25+16*6*25+120*400+84*120+10*84 {
				t.Fatalf("prunable %d", r.Prunable)
			}
			var keptMin, prunedMax float64 = math.Inf(1), 0
			for _, tn := range r.Tensors {
				before, _ := orig.ParamValues(tn.Name)
				after, _ := p.Model.ParamValues(tn.Name)
				zeros := 0
				tMin, tMax := math.Inf(1), 0.0
				for j := range after {
					a := math.Abs(float64(before[j]))
					if after[j] == 0 {
						zeros++
						tMax = max(tMax, a)
					} else {
						if after[j] != before[j] {
							t.Fatalf("%s[%d] changed from %v to %v", tn.Name, j, before[j], after[j])
						}
						tMin = min(tMin, a)
					}
				}
				if scope == ScopeLayer {
					if want := int(math.Round(s * float64(len(after)))); zeros != want {
						t.Errorf("layer %v: %s has %d zeros, want %d", s, tn.Name, zeros, want)
					}
					if tMax > tMin {
						t.Errorf("layer %v: %s pruned |w| %v above kept %v", s, tn.Name, tMax, tMin)
					}
				}
				keptMin, prunedMax = min(keptMin, tMin), max(prunedMax, tMax)
			}
			if want := int(math.Round(s * float64(r.Prunable))); scope == ScopeGlobal && r.Zeros != want {
				t.Errorf("global %v: %d zeros, want %d", s, r.Zeros, want)
			}
			if scope == ScopeGlobal && prunedMax > keptMin {
				t.Errorf("global %v: pruned |w| %v above kept %v", s, prunedMax, keptMin)
			}
			// Biases are untouched.
			for _, name := range []string{"conv1.bias", "fc1.bias", "fc3.bias"} {
				a, _ := orig.ParamValues(name)
				b, _ := p.Model.ParamValues(name)
				for j := range a {
					if a[j] != b[j] {
						t.Fatalf("%s changed", name)
					}
				}
			}
		}
	}
}

// The mask keeps pruned weights at zero through fine-tuning steps.
func TestMaskApply(t *testing.T) {
	p, err := Prune(zooBytes(t, "digits/mnist_mobilenet_b50"), PruneConfig{Sparsity: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	ps := p.Model.Params()
	vals := make([][]float32, len(ps))
	for i, par := range ps {
		vals[i], _ = p.Model.ParamValues(par.Name)
		for j := range vals[i] {
			vals[i][j] += 1 // a step that moves everything
		}
	}
	p.Mask.Apply(vals)
	for i, pr := range p.Mask.Pruned {
		for j, z := range pr {
			if z && vals[i][j] != 0 {
				t.Fatalf("%s[%d] = %v after Apply", ps[i].Name, j, vals[i][j])
			}
		}
	}
	// BatchNorm weights are not pruned.
	for i, par := range ps {
		if strings.HasSuffix(par.Name, "1.weight") && len(par.Shape) == 1 && p.Mask.Pruned[i] != nil {
			t.Errorf("BatchNorm %s is masked", par.Name)
		}
	}
}

func mnistBatch(t testing.TB, n int) []float32 {
	t.Helper()
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, n*784)
	d.Batch(idx, x)
	return x
}

// Structured pruning removes whole channels: the file shrinks, the model
// runs, and at sparsity 0 it computes what the original does.
func TestPruneChannels(t *testing.T) {
	x := mnistBatch(t, 16)
	for _, c := range []struct {
		model    string
		prunable int // layers that lose channels
		minRatio float64
	}{
		{"digits/mnist_lenet_b50", 4, 3},
		{"digits/mnist_mobilenet_b50", 4, 2.5},
	} {
		data := zooBytes(t, c.model)
		orig, _ := models.Load(data)
		z0 := make([]float32, 16*10)
		if err := orig.Logits(z0, x); err != nil {
			t.Fatal(err)
		}
		same, err := Prune(data, PruneConfig{Sparsity: 0, Structured: Channel})
		if err != nil {
			t.Fatal(err)
		}
		z := make([]float32, 16*10)
		if err := same.Model.Logits(z, x); err != nil {
			t.Fatal(err)
		}
		for j := range z {
			if z[j] != z0[j] {
				t.Fatalf("%s at sparsity 0: logits differ", c.model)
			}
		}
		p, err := Prune(data, PruneConfig{Sparsity: 0.5, Structured: Channel})
		if err != nil {
			t.Fatal(err)
		}
		r := p.Report
		pruned := 0
		for _, tn := range r.Tensors {
			if tn.Skipped == "" {
				pruned++
				if tn.KeptChannels != tn.Channels-int(math.Round(0.5*float64(tn.Channels))) {
					t.Errorf("%s: %s keeps %d of %d channels", c.model, tn.Name, tn.KeptChannels, tn.Channels)
				}
			}
		}
		if pruned != c.prunable {
			t.Errorf("%s: %d layers pruned, want %d: %+v", c.model, pruned, c.prunable, r.Tensors)
		}
		if ratio := float64(r.BytesBefore) / float64(r.BytesAfter); ratio < c.minRatio {
			t.Errorf("%s: file %d → %d bytes, only %.2f× smaller", c.model, r.BytesBefore, r.BytesAfter, ratio)
		}
		if r.ParamsAfter >= r.ParamsBefore/2 || len(p.ONNX) != r.BytesAfter {
			t.Errorf("%s: %d → %d parameters", c.model, r.ParamsBefore, r.ParamsAfter)
		}
		if err := p.Model.Logits(z, x); err != nil {
			t.Fatal(err)
		}
		if err := models.CheckFinite("logits", z); err != nil {
			t.Fatal(err)
		}
	}
}

// Removing channels equals zeroing them where nothing constant flows on:
// in LeNet, zeroing a pruned conv filter and its bias makes the channel
// 0 after Relu, so the structurally pruned model computes exactly what
// the original does with those filters zeroed.
func TestPruneChannelsMatchZeroedFilters(t *testing.T) {
	data := zooBytes(t, "digits/mnist_lenet_b50")
	p, err := Prune(data, PruneConfig{Sparsity: 0.5, Structured: Channel})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := models.Load(data)
	// Zero the pruned output units of every pruned layer: the rows whose
	// L1 norm ranks lowest, as keptChannels chose them.
	for _, layer := range []struct{ w, b string }{{"conv1.weight", "conv1.bias"}, {"conv2.weight", "conv2.bias"}, {"fc1.weight", "fc1.bias"}, {"fc2.weight", "fc2.bias"}} {
		w, _ := ref.ParamValues(layer.w)
		b, _ := ref.ParamValues(layer.b)
		var shape []int
		for _, par := range ref.Params() {
			if par.Name == layer.w {
				shape = par.Shape
			}
		}
		kept := keptChannels(w, shape, 0, 0.5)
		keep := map[int]bool{}
		for _, k := range kept {
			keep[k] = true
		}
		inner := len(w) / shape[0]
		for c := 0; c < shape[0]; c++ {
			if !keep[c] {
				for j := c * inner; j < (c+1)*inner; j++ {
					w[j] = 0
				}
				b[c] = 0
			}
		}
		_ = ref.SetParam(layer.w, w)
		_ = ref.SetParam(layer.b, b)
	}
	x := mnistBatch(t, 32)
	za, zb := make([]float32, 320), make([]float32, 320)
	if err := ref.Logits(za, x); err != nil {
		t.Fatal(err)
	}
	if err := p.Model.Logits(zb, x); err != nil {
		t.Fatal(err)
	}
	for j := range za {
		if math.Abs(float64(za[j]-zb[j])) > 1e-4 {
			t.Fatalf("logit %d: zeroed %v, pruned %v", j, za[j], zb[j])
		}
	}
}

func TestPruneErrors(t *testing.T) {
	data := zooBytes(t, "digits/mnist_lenet_b50")
	for _, c := range []struct {
		cfg  PruneConfig
		want string
	}{
		{PruneConfig{Sparsity: 1}, "must be in [0, 1)"},
		{PruneConfig{Sparsity: -0.1}, "must be in [0, 1)"},
		{PruneConfig{Sparsity: math.NaN()}, "must be in [0, 1)"},
		{PruneConfig{Sparsity: 0.5, Scope: "net"}, "--scope"},
		{PruneConfig{Sparsity: 0.5, Structured: "filter"}, "--structured"},
		{PruneConfig{Sparsity: 0.5, Scope: ScopeGlobal, Structured: Channel}, "unstructured"},
	} {
		if _, err := Prune(data, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	// A residual network: the layers whose channels meet in an Add stay
	// whole, and the report says why.
	m, err := arch.Build("resnet", []int{1, 8, 8}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prune(writeModel(t, m), PruneConfig{Sparsity: 0.5, Structured: Channel})
	if err != nil {
		t.Fatal(err)
	}
	skipped, pruned := 0, 0
	for _, tn := range p.Report.Tensors {
		if tn.Skipped != "" {
			skipped++
			if !strings.Contains(tn.Skipped, "Add") && !strings.Contains(tn.Skipped, "output") {
				t.Errorf("%s skipped: %s", tn.Name, tn.Skipped)
			}
		} else {
			pruned++
		}
	}
	if skipped == 0 || pruned == 0 {
		t.Errorf("resnet: %d layers pruned, %d skipped", pruned, skipped)
	}
}

func writeModel(t testing.TB, m *models.Model) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := m.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A structured-pruned MobileNet — BatchNorm, depthwise groups, Clip,
// global pooling — means the same in an independent runtime
// (testdata/onnxref/onnxref.py) and passes onnx.checker. (LeNet's pruning
// is checked against zeroed filters above.)
func TestPruneChannelsIndependentRuntime(t *testing.T) {
	if ok, why := onnxcheck.Available(); !ok {
		t.Skip(why)
	}
	if testing.Short() {
		t.Skip("runs Python")
	}
	const n = 3
	x := mnistBatch(t, n)
	dir := t.TempDir()
	xp := filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(xp, npy.NewFloat32([]int{n, 1, 28, 28}, x)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"digits/mnist_mobilenet_b50"} {
		p, err := Prune(zooBytes(t, name), PruneConfig{Sparsity: 0.5, Structured: Channel})
		if err != nil {
			t.Fatal(err)
		}
		mp := filepath.Join(dir, "pruned.onnx")
		if err := os.WriteFile(mp, p.ONNX, 0o644); err != nil {
			t.Fatal(err)
		}
		z := make([]float32, n*10)
		if err := p.Model.Logits(z, x); err != nil {
			t.Fatal(err)
		}
		yp := filepath.Join(dir, "y.npy")
		out, err := exec.Command(onnxcheck.Python, "../testdata/onnxref/onnxref.py", mp, xp, yp).CombinedOutput()
		if err != nil {
			t.Fatalf("onnxref: %v\n%s", err, out)
		}
		ref, err := npy.ReadFile(yp)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Float32()
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for j := range z {
			worst = max(worst, math.Abs(float64(z[j]-want[j])))
		}
		if worst > 1e-4 {
			t.Errorf("%s: advmatrix and onnxref differ by up to %g", name, worst)
		}
		onnxcheck.Check(t, mp)
	}
}

func TestKeptChannels(t *testing.T) {
	// Four channels of two weights each, L1 norms 3, 1, 2, 1: at 0.5 the
	// two with norm 1 go (ties: the lower index first).
	w := []float32{1, -2, 0.5, 0.5, 2, 0, -1, 0}
	if got := keptChannels(w, []int{4, 2}, 0, 0.5); !equalInts(got, []int{0, 2}) {
		t.Errorf("kept %v", got)
	}
	// Along axis 1 (a Gemm weight stored K×N): columns.
	if got := keptChannels([]float32{1, 9, 2, 8}, []int{2, 2}, 1, 0.5); !equalInts(got, []int{1}) {
		t.Errorf("kept %v", got)
	}
	// Never all.
	if got := keptChannels([]float32{1, 2}, []int{2, 1}, 0, 0.99); len(got) != 1 {
		t.Errorf("kept %v", got)
	}
	g, s := gather([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, []int{2, 3, 2}, map[int][]int{1: {0, 2}, 2: {1}})
	if len(s) != 3 || s[0] != 2 || s[1] != 2 || s[2] != 1 || !equalFloats(g, []float32{1, 5, 7, 11}) {
		t.Errorf("gather %v %v", g, s)
	}
}

// equalInts compares a, sorted in place, with b.
func equalInts(a, b []int) bool {
	sort.Ints(a)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
