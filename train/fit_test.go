package train

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
)

// The bar: a LeNet trained on MNIST for one epoch reaches ≥ 97%
// test accuracy.
func TestLeNetOneEpoch(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for one epoch")
	}
	m, err := arch.Build("lenet", []int{1, 28, 28}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := datasets.MNIST("train")
	if err != nil {
		t.Fatal(err)
	}
	te, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Fit(m, tr, Config{Epochs: 1, Batch: 64, LR: 0.05, Optimizer: &SGD{Momentum: 0.9}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, te.Len())
	for i := range idx {
		idx[i] = i
	}
	acc, err := Accuracy(m, te, idx, 500)
	if err != nil {
		t.Fatal(err)
	}
	e := res.Epochs[0]
	t.Logf("LeNet, 1 epoch SGD(0.05, μ 0.9), batch 64: train loss %.4f, %.0f images/s, test accuracy %.2f%%", e.TrainLoss, e.ImagesPerSec, 100*acc)
	if acc < 0.97 {
		t.Errorf("test accuracy %.4f, want >= 0.97", acc)
	}
}

// Same seed, same bytes; a different seed, different weights.
func TestFitReproducible(t *testing.T) {
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	d = d.Sample(512, 3)
	run := func(seed uint64) []byte {
		m, err := arch.Build("vgg", []int{1, 28, 28}, 10, 7)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Fit(m, d, Config{Epochs: 2, Batch: 64, LR: 0.01, Optimizer: NewAdam(), Seed: seed,
			CropPad: 2, RotateDeg: 10, Scale: 0.1, ValFraction: 0.25, Patience: 1})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := m.WriteONNX(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b, c := run(1), run(1), run(2)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different models")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same model")
	}
}

func TestOptimizers(t *testing.T) {
	// Minimise ½‖p‖² from p = 1: the gradient is p.
	for name, o := range map[string]Optimizer{"sgd": &SGD{}, "momentum": &SGD{Momentum: 0.9}, "nesterov": &SGD{Momentum: 0.9, Nesterov: true}, "adam": NewAdam()} {
		p := [][]float32{{1, -2}}
		for i := 0; i < 300; i++ {
			g := [][]float32{{p[0][0], p[0][1]}}
			o.Step(p, g, 0.05)
		}
		if math.Abs(float64(p[0][0])) > 0.05 || math.Abs(float64(p[0][1])) > 0.1 {
			t.Errorf("%s did not converge: %v", name, p[0])
		}
	}
	// One SGD-momentum step matches PyTorch's first step: p −= lr·g.
	o := &SGD{Momentum: 0.9, WeightDecay: 0.1}
	p := [][]float32{{2}}
	o.Step(p, [][]float32{{1}}, 0.5)
	if want := float32(2 - 0.5*(1+0.1*2)); p[0][0] != want {
		t.Errorf("first SGD step %v, want %v", p[0][0], want)
	}
	// Adam's first step moves each weight by lr (bias-corrected).
	a := NewAdam()
	q := [][]float32{{3, 3}}
	a.Step(q, [][]float32{{0.5, -100}}, 0.1)
	if math.Abs(float64(q[0][0])-2.9) > 1e-5 || math.Abs(float64(q[0][1])-3.1) > 1e-5 {
		t.Errorf("first Adam step %v, want [2.9 3.1]", q[0])
	}
}

func TestSchedules(t *testing.T) {
	c := Cyclical{Base: 0.5, Cycle: 100}
	if c.LR(0) != 0.5 || c.LR(100) != 0.5 || math.Abs(c.LR(50)-0.25) > 1e-12 || c.LR(99) > 0.001 {
		t.Errorf("cyclical: %v %v %v %v", c.LR(0), c.LR(50), c.LR(99), c.LR(100))
	}
	cs := Cosine{Base: 1, Total: 10}
	if cs.LR(0) != 1 || math.Abs(cs.LR(5)-0.5) > 1e-12 || cs.LR(10) != 0 {
		t.Errorf("cosine: %v %v %v", cs.LR(0), cs.LR(5), cs.LR(10))
	}
	s := StepDecay{Base: 1, Gamma: 0.1, Every: 3}
	if s.LR(2) != 1 || math.Abs(s.LR(3)-0.1) > 1e-12 {
		t.Errorf("step: %v %v", s.LR(2), s.LR(3))
	}
}

func TestCheckpoints(t *testing.T) {
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := arch.Build("mlp", []int{1, 28, 28}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Fit(m, d.Sample(256, 1), Config{Epochs: 2, Batch: 64, LR: 0.05, Seed: 1, CheckpointDir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"epoch_001.onnx", "epoch_002.onnx"} {
		if _, err := models.LoadFile(filepath.Join(dir, name)); err != nil {
			t.Errorf("checkpoint %s: %v", name, err)
		}
	}
	if _, err := Fit(m, d.Sample(64, 1), Config{Epochs: 1, Batch: 64, LR: 0.05, CheckpointDir: filepath.Join(dir, "missing", "deeper")}); err == nil {
		t.Error("a checkpoint folder that does not exist was accepted")
	}
}

// trainOnly is a Trainable that is not a *models.Model (and cannot be
// saved): Fit trains it through the interface.
type trainOnly struct{ m *models.Model }

func (w trainOnly) InputShape() []int                       { return w.m.InputShape() }
func (w trainOnly) NumClasses() int                         { return w.m.NumClasses() }
func (w trainOnly) Logits(dst, x []float32) error           { return w.m.Logits(dst, x) }
func (w trainOnly) Params() []models.Param                  { return w.m.Params() }
func (w trainOnly) SetParams(v [][]float32) error           { return w.m.SetParams(v) }
func (w trainOnly) ParamValues(n string) ([]float32, error) { return w.m.ParamValues(n) }
func (w trainOnly) Grad(dx, x []float32, c func(z, dz []float32)) error {
	return w.m.Grad(dx, x, c)
}
func (w trainOnly) TrainGrads(x []float32, s uint64, c func(z, dz []float32)) ([][]float32, error) {
	return w.m.TrainGrads(x, s, c)
}

// The Inputs and Loss hooks see every step; with the identity and the
// default loss they change nothing, bit for bit, and any Trainable trains.
func TestFitHooks(t *testing.T) {
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	d = d.Sample(256, 5)
	weights := func(cfg Config, wrap bool) ([]byte, int) {
		m, err := arch.Build("lenet", []int{1, 28, 28}, 10, 3)
		if err != nil {
			t.Fatal(err)
		}
		var tm Trainable = m
		if wrap {
			tm = trainOnly{m}
		}
		res, err := Fit(tm, d, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := m.WriteONNX(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes(), res.Steps
	}
	base := Config{Epochs: 1, Batch: 64, LR: 0.05, Seed: 2}
	want, steps := weights(base, false)
	var inputs, losses int
	hooked := base
	hooked.Inputs = func(step int, x []float32, y []int) ([]float32, error) {
		if step != inputs {
			t.Errorf("Inputs called for step %d, want %d", step, inputs)
		}
		inputs++
		return x, nil
	}
	hooked.Loss = func(dz, z []float32, y []int) (float64, int) {
		losses++
		return meanCrossEntropy(dz, z, y, 10)
	}
	got, _ := weights(hooked, true)
	if inputs != steps || losses != steps {
		t.Errorf("%d steps, Inputs called %d times, Loss %d", steps, inputs, losses)
	}
	if !bytes.Equal(got, want) {
		t.Error("identity hooks through the Trainable interface changed the weights")
	}
	// A wrong-sized Inputs result is an error, not a crash.
	bad := base
	bad.Inputs = func(int, []float32, []int) ([]float32, error) { return make([]float32, 3), nil }
	m, _ := arch.Build("lenet", []int{1, 28, 28}, 10, 3)
	if _, err := Fit(m, d, bad); err == nil {
		t.Error("short Inputs result accepted")
	}
	// A model that cannot be saved cannot be checkpointed.
	ck := base
	ck.CheckpointDir = t.TempDir()
	if _, err := Fit(trainOnly{m}, d, ck); err == nil {
		t.Error("checkpoints of an unsavable model accepted")
	}
}
