package surrogates

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/train"
)

func trainData(t *testing.T) *datasets.Dataset {
	t.Helper()
	d, err := datasets.MNIST("train")
	if err != nil {
		t.Fatal(err)
	}
	return d.Sample(512, 11) // 8 batches of 64
}

func build(t *testing.T, archName string) *models.Model {
	t.Helper()
	m, err := arch.Build(archName, []int{1, 28, 28}, 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// smallCSGLD: 2 cycles of 3 epochs of 8 steps; noise in the last epoch of
// a cycle, samples after the last two → 4 files.
func smallCSGLD() CSGLD {
	return CSGLD{Cycles: 2, CycleEpochs: 3, Saves: 2, NoiseEpochs: 1, LR0: 0.5, WeightDecay: 5e-4, Batch: 64, Seed: 3}
}

func runCSGLD(t *testing.T, c CSGLD, dir string) ([]string, []StepInfo, []EpochInfo) {
	t.Helper()
	var steps []StepInfo
	var epochs []EpochInfo
	c.OnStep = func(s StepInfo) { steps = append(steps, s) }
	files, err := c.Run(build(t, "mlp"), trainData(t), dir, func(e EpochInfo) { epochs = append(epochs, e) })
	if err != nil {
		t.Fatal(err)
	}
	return files, steps, epochs
}

func readAll(t *testing.T, files []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// Acceptance (a), (b) and (d) of algorithms.md §4, and the noise's effect.
func TestCSGLD(t *testing.T) {
	c := smallCSGLD()
	dir := t.TempDir()
	files, steps, epochs := runCSGLD(t, c, dir)
	const nb, kc = 8, 24

	// (a) η₀ at the start of every cycle, η₀/2 at mid-cycle, decaying in
	// between.
	if len(steps) != 2*kc {
		t.Fatalf("%d steps, want %d", len(steps), 2*kc)
	}
	for cyc := 0; cyc < 2; cyc++ {
		if lr := steps[cyc*kc].LR; lr != c.LR0 {
			t.Errorf("cycle %d starts at lr %v, want %v", cyc, lr, c.LR0)
		}
		if lr := steps[cyc*kc+kc/2].LR; math.Abs(lr-c.LR0/2) > 1e-15 {
			t.Errorf("cycle %d mid-cycle lr %v, want %v", cyc, lr, c.LR0/2)
		}
		for k := 1; k < kc; k++ {
			if steps[cyc*kc+k].LR >= steps[cyc*kc+k-1].LR {
				t.Errorf("lr does not decrease within cycle %d at step %d", cyc, k)
			}
		}
	}
	// (b) noise only in the last NoiseEpochs epochs of each cycle, with
	// the reference's scale √(2aη)/nb.
	for _, s := range steps {
		want := s.Epoch%3 == 2
		if (s.NoiseStd > 0) != want {
			t.Errorf("step %d (epoch %d): noise std %v, want noise %v", s.Step, s.Epoch, s.NoiseStd, want)
		}
		if want && math.Abs(s.NoiseStd-math.Sqrt(2*s.LR)/nb) > 1e-15 {
			t.Errorf("step %d: noise std %v, want √(2η)/nb = %v", s.Step, s.NoiseStd, math.Sqrt(2*s.LR)/nb)
		}
		if s.Cycle != s.Epoch/3 || s.Epoch != s.Step/nb {
			t.Errorf("step %d: epoch %d cycle %d", s.Step, s.Epoch, s.Cycle)
		}
	}
	var saved []string
	for i, e := range epochs {
		if e.Noise != (i%3 == 2) {
			t.Errorf("epoch %d reports noise %v", i, e.Noise)
		}
		if (e.Saved != "") != (i%3 >= 1) {
			t.Errorf("epoch %d saved %q", i, e.Saved)
		}
		if e.Saved != "" {
			saved = append(saved, e.Saved)
		}
	}
	// Exactly cycles × saves files, each loads and runs.
	if len(files) != c.Cycles*c.Saves || strings.Join(saved, ",") != strings.Join(files, ",") {
		t.Fatalf("files %v, saved %v; want %d", files, saved, c.Cycles*c.Saves)
	}
	onnx, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if len(onnx) != len(files) {
		t.Errorf("%d .onnx files in the folder, want %d", len(onnx), len(files))
	}
	set, ms, err := LoadSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	if set.Mode != OnePerStep || len(ms) != 4 || set.Manifest.Method != "csgld" {
		t.Fatalf("set %+v with %d models", set, len(ms))
	}
	var sch CSGLDSchedule
	if err := json.Unmarshal(set.Manifest.Schedule, &sch); err != nil || sch.CycleSteps != kc || sch.BatchesPerEpoch != nb || sch.Momentum != 0 {
		t.Errorf("schedule %+v (%v)", sch, err)
	}
	te, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, 256)
	for i := range idx {
		idx[i] = i
	}
	for i, m := range ms {
		acc, err := train.Accuracy(m, te, idx, 128)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("sample %d: test accuracy %.1f%% (256 images)", i, 100*acc)
		// Samples 0 and 2 precede their cycle's noisy epoch; with 8
		// batches per epoch the reference's noise scale √(2η)/nb is
		// large, so the noisy ones only need to beat chance.
		if floor := []float64{0.4, 0.15}[i%2]; acc < floor {
			t.Errorf("sample %d: test accuracy %.3f < %.2f, the chain did not learn", i, acc, floor)
		}
	}
	var ac attacks.Config
	set.Apply(&ac)
	if !ac.OnePerStep {
		t.Error("Apply did not set OnePerStep")
	}

	// (d) the same seed gives byte-identical samples and manifest.
	dir2 := t.TempDir()
	files2, _, _ := runCSGLD(t, c, dir2)
	a, b := readAll(t, files), readAll(t, files2)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("sample %d differs between two runs with one seed", i)
		}
	}
	m1, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	m2, _ := os.ReadFile(filepath.Join(dir2, ManifestName))
	if !bytes.Equal(m1, m2) {
		t.Error("manifests differ between two runs with one seed")
	}
	// The noise is really applied, and only where it should be: without
	// noise the sample before the first noisy epoch is the same, the
	// one after it is not.
	c.NoiseEpochs = 0
	files3, steps3, _ := runCSGLD(t, c, t.TempDir())
	for _, s := range steps3 {
		if s.NoiseStd != 0 {
			t.Fatalf("step %d has noise with NoiseEpochs 0", s.Step)
		}
	}
	d := readAll(t, files3)
	if !bytes.Equal(a[0], d[0]) {
		t.Error("a sample taken before any noise depends on the noise setting")
	}
	if bytes.Equal(a[1], d[1]) {
		t.Error("the noisy epoch left the weights as without noise")
	}
}

// Acceptance (c): OnePerStep over S copies of one sample is I-FGSM on
// that one model, bit for bit.
func TestIdenticalSamplesReduceToIFGSM(t *testing.T) {
	m := build(t, "lenet")
	d := trainData(t)
	if _, err := train.Fit(m, d, train.Config{Epochs: 1, Batch: 64, LR: 0.05, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sample.onnx")
	if err := m.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	var copies []models.Classifier
	for range 3 {
		c, err := models.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		copies = append(copies, c)
	}
	te, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	n := 32
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, n*784)
	te.Batch(idx, x)
	y := te.Labels[:n]
	set := &Set{Files: []string{path, path, path}, Mode: OnePerStep}
	multi := attacks.IFGSM(0.1, 0.01, 20)
	set.Apply(multi)
	if !multi.OnePerStep {
		t.Fatal("Apply did not set OnePerStep")
	}
	a, err := multi.Craft(t.Context(), copies, attacks.Batch{X: x, Labels: y, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	b, err := attacks.IFGSM(0.1, 0.01, 20).Craft(t.Context(), copies[:1], attacks.Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("value %d: %v with 3 identical samples, %v with the one model", i, a[i], b[i])
		}
	}
	if bytes.Equal(f32bytes(a), f32bytes(x)) {
		t.Error("the attack did not move the images")
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		u := math.Float32bits(f)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

// Acceptance (e): LGV writes Epochs×PerEpoch distinct copies; the last is
// the final model (BatchNorm statistics included).
func TestLGV(t *testing.T) {
	d := trainData(t)
	for _, arch := range []string{"lenet", "vgg"} {
		m := build(t, arch)
		if _, err := train.Fit(m, d, train.Config{Epochs: 1, Batch: 64, LR: 0.05, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		l := DefaultLGV()
		l.Epochs, l.Seed = 2, 4
		if arch == "vgg" {
			l.Epochs, l.PerEpoch = 1, 3 // 8 batches in 3 parts: after steps 3, 6, 8
		}
		dir := t.TempDir()
		var saved []string
		files, err := l.Run(m, d, dir, func(e EpochInfo) { saved = append(saved, e.Saved) })
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != l.Samples() || len(saved) != l.Epochs {
			t.Fatalf("%s: %d files, %d epochs; want %d", arch, len(files), len(saved), l.Samples())
		}
		set, ms, err := LoadSet(filepath.Join(dir, ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		if set.Mode != OnePerStep || len(ms) != len(files) || set.Manifest.Method != "lgv" {
			t.Fatalf("%s: set %+v", arch, set)
		}
		wantSteps := []int{2, 4, 6, 8, 10, 12, 14, 16}
		if arch == "vgg" {
			wantSteps = []int{3, 6, 8}
		}
		for i, s := range set.Manifest.Samples {
			if s.Step != wantSteps[i] {
				t.Errorf("%s: sample %d after step %d, want %d", arch, i, s.Step, wantSteps[i])
			}
		}
		bs := readAll(t, files)
		for i := range bs {
			for j := range i {
				if bytes.Equal(bs[i], bs[j]) {
					t.Errorf("%s: copies %d and %d are identical", arch, j, i)
				}
			}
		}
		var final bytes.Buffer
		if err := m.WriteONNX(&final); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bs[len(bs)-1], final.Bytes()) {
			t.Errorf("%s: the last copy is not the final model", arch)
		}
		if saved[len(saved)-1] != files[len(files)-1] {
			t.Errorf("%s: epoch reports %v", arch, saved)
		}
	}
}

func TestBadParameters(t *testing.T) {
	good := smallCSGLD()
	for _, tc := range []struct {
		mod  func(*CSGLD)
		want string
	}{
		{func(c *CSGLD) { c.Cycles = 0 }, "cycles"},
		{func(c *CSGLD) { c.CycleEpochs = 0 }, "cycle epochs"},
		{func(c *CSGLD) { c.Saves = 4 }, "saves per cycle 4 must be in [1, cycle epochs 3]"},
		{func(c *CSGLD) { c.Saves = 0 }, "saves per cycle"},
		{func(c *CSGLD) { c.NoiseEpochs = 5 }, "noise epochs 5"},
		{func(c *CSGLD) { c.NoiseEpochs = -1 }, "noise epochs"},
		{func(c *CSGLD) { c.LR0 = 0 }, "initial learning rate"},
		{func(c *CSGLD) { c.LR0 = math.NaN() }, "initial learning rate"},
		{func(c *CSGLD) { c.WeightDecay = -1 }, "weight decay"},
		{func(c *CSGLD) { c.Alpha = 1.5 }, "alpha"},
		{func(c *CSGLD) { c.Batch = 0 }, "batch"},
	} {
		c := good
		tc.mod(&c)
		_, err := c.Run(nil, nil, t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", c, err, tc.want)
		}
	}
	if _, err := good.Run(build(t, "mlp"), nil, t.TempDir(), nil); err == nil {
		t.Error("no data: no error")
	}
	lg := DefaultLGV()
	for _, tc := range []struct {
		mod  func(*LGV)
		want string
	}{
		{func(l *LGV) { l.Epochs = 0 }, "epochs"},
		{func(l *LGV) { l.PerEpoch = 0 }, "copies per epoch"},
		{func(l *LGV) { l.LR = -1 }, "learning rate"},
		{func(l *LGV) { l.Momentum = 1 }, "momentum"},
		{func(l *LGV) { l.WeightDecay = math.Inf(1) }, "weight decay"},
		{func(l *LGV) { l.Batch = 0 }, "batch"},
		{func(l *LGV) { l.PerEpoch = 9 }, "9 copies per epoch need at least as many batches per epoch, have 8"},
	} {
		l := lg
		tc.mod(&l)
		_, err := l.Run(build(t, "mlp"), trainData(t), t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", l, err, tc.want)
		}
	}
}

func TestLoadSet(t *testing.T) {
	dir := t.TempDir()
	m := build(t, "mlp")
	for _, name := range []string{"b.onnx", "a.onnx"} {
		if err := m.SaveFile(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// A folder without a manifest: its .onnx files, fused.
	set, ms, err := LoadSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	if set.Mode != AllAtOnce || len(ms) != 2 || filepath.Base(set.Files[0]) != "a.onnx" {
		t.Fatalf("plain folder: %+v", set)
	}
	c := attacks.IFGSM(0.1, 0.01, 5)
	c.OnePerStep = true
	set.Apply(c)
	if c.OnePerStep {
		t.Error("AllAtOnce left OnePerStep set")
	}
	// A manifest: hashes checked, paths kept inside the folder.
	b, _ := os.ReadFile(filepath.Join(dir, "a.onnx"))
	man := &Manifest{Method: "files", Mode: AllAtOnce, Samples: []Sample{{File: "a.onnx", SHA256: sha256Hex(b)}, {File: "b.onnx", SHA256: sha256Hex(b)}}}
	if err := WriteManifest(dir, man); err != nil {
		t.Fatal(err)
	}
	if set, ms, err = LoadSet(filepath.Join(dir, ManifestName)); err != nil || len(ms) != 2 || set.Mode != AllAtOnce {
		t.Fatalf("manifest: %+v, %v", set, err)
	}
	bad := func(mod func(*Manifest), want string) {
		t.Helper()
		mm := *man
		mm.Samples = append([]Sample(nil), man.Samples...)
		mod(&mm)
		if err := WriteManifest(dir, &mm); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadSet(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one mentioning %q", err, want)
		}
	}
	bad(func(m *Manifest) { m.Samples[1].SHA256 = strings.Repeat("0", 64) }, "the manifest says")
	bad(func(m *Manifest) { m.Samples[1].File = "../x.onnx" }, "inside the set's folder")
	bad(func(m *Manifest) { m.Samples[1].File = "a.onnx" }, "listed twice")
	bad(func(m *Manifest) { m.Samples = nil }, "no samples")
	bad(func(m *Manifest) { m.Samples[0].File = "c.onnx" }, "no such file")
	if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte(`{"format":"advmatrix-surrogate-set","version":1,"mode":"sometimes","samples":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadSet(dir); err == nil || !strings.Contains(err.Error(), `unknown surrogate-set mode "sometimes"`) {
		t.Errorf("bad mode: %v", err)
	}
	if _, _, err := LoadSet(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing path: no error")
	}
	// Members must agree on shape and classes.
	other, err := arch.Build("mlp", []int{1, 28, 28}, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	d2 := t.TempDir()
	m.SaveFile(filepath.Join(d2, "a.onnx"))
	other.SaveFile(filepath.Join(d2, "b.onnx"))
	if _, _, err := LoadSet(d2); err == nil || !strings.Contains(err.Error(), "5 classes") {
		t.Errorf("mixed classes: %v", err)
	}
}
