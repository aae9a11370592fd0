package attacks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
)

func lenet(t *testing.T) models.Classifier {
	t.Helper()
	m, err := models.LoadFile("../testdata/torch/lenet_op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mlp(t *testing.T) models.Classifier {
	t.Helper()
	m, err := models.LoadFile("../testdata/torch/mlp_op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mnistBatch(t *testing.T, n int) ([]float32, []int) {
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
	return x, append([]int(nil), d.Labels[:n]...)
}

func checkInvariants(t *testing.T, name string, c *Config, x, adv []float32) {
	t.Helper()
	for off := 0; off < len(x); off += 784 {
		var l2 float64
		for j := off; j < off+784; j++ {
			d := float64(adv[j] - x[j])
			if adv[j] < 0 || adv[j] > 1 || math.IsNaN(float64(adv[j])) {
				t.Fatalf("%s: pixel %d = %v outside [0,1]", name, j, adv[j])
			}
			if c.Norm == Linf && math.Abs(d) > c.Eps+1e-7 {
				t.Fatalf("%s: pixel %d moved %v > ε=%v", name, j, d, c.Eps)
			}
			l2 += d * d
		}
		if c.Norm == L2 && math.Sqrt(l2) > c.Eps*(1+1e-5) {
			t.Fatalf("%s: image %d moved %v > ε=%v in L2", name, off/784, math.Sqrt(l2), c.Eps)
		}
	}
}

// TestInvariants checks every variant of the gradient family: the ε-ball
// and [0,1] hold, the same seed gives the same bytes, and the attack works
// — white-box on one surrogate it fools most of the images the surrogate
// gets right (or, targeted, hits some targets), so an attack that returned
// its input would fail here.
func TestInvariants(t *testing.T) {
	x, y := mnistBatch(t, 16)
	ms := []models.Classifier{lenet(t), mlp(t)}
	l2 := PGD(1.5, 0.3, 5)
	l2.Norm, l2.Name = L2, "pgd-l2"
	targeted := IFGSM(0.2, 0.05, 5)
	targeted.Name = "ifgsm-random-target"
	least := MIFGSM(0.2, 0.05, 5, 1)
	least.Name = "mifgsm-least-likely"
	restarts := PGD(0.2, 0.05, 3)
	restarts.Restarts = 2
	fused := DIFGSM(0.2, 0.05, 4, 1)
	fused.Fusion = FuseLoss
	up := DIFGSM(0.2, 0.05, 4, 1)
	up.DI = Diversity{P: 1, Rate: 1.2}
	leastTargets, err := LeastLikelyTargets(t.Context(), ms, x, y, 8)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[*Config][]int{targeted: RandomTargets(y, 10, 4), least: leastTargets}
	for _, c := range []*Config{FGSM(0.25), IFGSM(0.2, 0.05, 5), PGD(0.3, 0.05, 5), MIFGSM(0.2, 0.05, 5, 1),
		DIFGSM(0.2, 0.05, 5, 1), TIFGSM(0.2, 0.05, 5, 1), RFGSM(0.2, 0.1, 3), l2, targeted, least, restarts, fused, up} {
		b := Batch{X: x, Labels: y, Targets: targets[c], Seed: 3}
		for _, sur := range [][]models.Classifier{ms[:1], ms} {
			adv, err := c.Craft(t.Context(), sur, b)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			checkInvariants(t, c.Name, c, x, adv)
			// Reproducible: the same seed gives the same bytes.
			again, _ := c.Craft(t.Context(), sur, b)
			for i := range adv {
				if adv[i] != again[i] {
					t.Fatalf("%s: not reproducible at %d", c.Name, i)
				}
			}
			if len(sur) == 1 {
				checkEffective(t, c.Name, sur[0], x, adv, y, b.Targets)
			}
		}
	}
}

// checkEffective fails t unless the attack fooled at least a quarter of
// the images m gets right when clean (untargeted) or hit at least one
// target (targeted; least-likely targets are hard at these budgets).
func checkEffective(t *testing.T, name string, m models.Classifier, x, adv []float32, y, targets []int) {
	t.Helper()
	k := m.NumClasses()
	zc, za := make([]float32, len(y)*k), make([]float32, len(y)*k)
	if err := m.Logits(zc, x); err != nil {
		t.Fatal(err)
	}
	if err := m.Logits(za, adv); err != nil {
		t.Fatal(err)
	}
	s, err := metrics.ScoreVictim(zc, za, y, targets, k)
	if err != nil {
		t.Fatal(err)
	}
	if targets != nil {
		if hit := s.TargetedSuccess; hit.Num == 0 {
			t.Errorf("%s: white-box targeted success %d/%d", name, hit.Num, hit.Den)
		}
		return
	}
	if r := s.ASROnCorrect; r.Den == 0 || r.Value < 0.25 {
		t.Errorf("%s: white-box ASR on correct %d/%d", name, r.Num, r.Den)
	}
}

func equalBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func TestReductions(t *testing.T) {
	x, y := mnistBatch(t, 12)
	ms := []models.Classifier{lenet(t)}
	run := func(c *Config) []float32 {
		adv, err := c.Craft(t.Context(), ms, Batch{X: x, Labels: y})
		if err != nil {
			t.Fatal(err)
		}
		return adv
	}
	// I-FGSM with T=1, α=ε is FGSM.
	if i := equalBits(run(IFGSM(0.1, 0.1, 1)), run(FGSM(0.1))); i >= 0 {
		t.Errorf("I-FGSM(T=1, α=ε) differs from FGSM at %d", i)
	}
	mi0 := MIFGSM(0.1, 0.02, 6, 0)
	// MI with μ=0 is I-FGSM.
	if i := equalBits(run(mi0), run(IFGSM(0.1, 0.02, 6))); i >= 0 {
		t.Errorf("MI-FGSM(μ=0) differs from I-FGSM at %d", i)
	}
	mi := MIFGSM(0.1, 0.02, 6, 1)
	base := run(mi)
	// DI with p=0 is MI.
	di := DIFGSM(0.1, 0.02, 6, 1)
	di.DI.P = 0
	if i := equalBits(run(di), base); i >= 0 {
		t.Errorf("DI(p=0) differs from MI at %d", i)
	}
	// TI with a 1×1 kernel is MI (with p=0 for DI).
	ti := TIFGSM(0.1, 0.02, 6, 1)
	ti.DI.P, ti.TIKernel = 0, 1
	if i := equalBits(run(ti), base); i >= 0 {
		t.Errorf("TI(1×1) differs from MI at %d", i)
	}
	// The paper's L1 normalisation and torchattacks' mean |g| agree.
	l1 := MIFGSM(0.1, 0.02, 6, 1)
	l1.L1Norm = true
	if i := equalBits(run(l1), base); i >= 0 {
		t.Errorf("L1 and mean-abs normalisations differ at %d", i)
	}
	// One surrogate fused with itself is the surrogate.
	adv2, err := mi.Craft(t.Context(), []models.Classifier{ms[0], ms[0]}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if i := equalBits(adv2, base); i >= 0 {
		t.Errorf("an ensemble of two identical models differs from one at %d", i)
	}
}

// <D(x), g> = <x, Dᵀ(g)>: the input-diversity gradient is the adjoint.
func TestDiversityAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, d := range []Diversity{{P: 1, Rate: 0.9}, {P: 1, Rate: 1.1}, {P: 1, Rate: 0.7}} {
		for rep := 0; rep < 5; rep++ {
			const c, w, n = 2, 13, 3
			dv := d.draw(c, w, w, r)
			x := make([]float32, n*c*w*w)
			g := make([]float32, len(x))
			for i := range x {
				x[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			dx := make([]float32, len(x))
			gx := make([]float32, len(x))
			dv.apply(dx, x, n)
			dv.adjoint(gx, g, n)
			var a, b float64
			for i := range x {
				a += float64(dx[i]) * float64(g[i])
				b += float64(x[i]) * float64(gx[i])
			}
			if math.Abs(a-b) > 1e-4*math.Abs(a)+1e-4 {
				t.Errorf("rate %v (rnd %d, size %d): <Dx,g> = %v, <x,Dᵀg> = %v", d.Rate, dv.rnd, dv.size, a, b)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	x, y := mnistBatch(t, 2)
	ms := []models.Classifier{lenet(t)}
	for _, c := range []*Config{FGSM(-0.1), IFGSM(0.1, 0.01, 0), {Name: "nan", Eps: math.NaN(), Steps: 1}} {
		if _, err := c.Craft(t.Context(), ms, Batch{X: x, Labels: y}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := FGSM(0.1).Craft(t.Context(), ms, Batch{X: x, Labels: []int{1, 11}}); err == nil {
		t.Error("label 11 accepted for 10 classes")
	}
	if _, err := FGSM(0.1).Craft(t.Context(), ms, Batch{X: x[:700], Labels: y}); err == nil {
		t.Error("short input accepted")
	}
	if _, err := FGSM(0.1).Craft(t.Context(), nil, Batch{X: x, Labels: y}); err == nil {
		t.Error("no surrogates accepted")
	}
	small, _ := arch.SoftmaxRegression([]int{1, 28, 28}, 3, make([]float32, 3*784), make([]float32, 3))
	if _, err := FGSM(0.1).Craft(t.Context(), []models.Classifier{ms[0], small}, Batch{X: x, Labels: []int{0, 1}}); err == nil {
		t.Error("surrogates with different class counts accepted")
	}
}

// A set of identical surrogates attacked one per step is I-FGSM on the
// one model (cSGLD acceptance test (c)); distinct ones are used in turn.
func TestOnePerStep(t *testing.T) {
	x, y := mnistBatch(t, 8)
	m := lenet(t)
	c := IFGSM(0.2, 0.02, 7)
	want, err := c.Craft(t.Context(), []models.Classifier{m}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	set := IFGSM(0.2, 0.02, 7)
	set.OnePerStep = true
	got, err := set.Craft(t.Context(), []models.Classifier{m, m, m}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if i := equalBits(got, want); i >= 0 {
		t.Errorf("three identical samples one per step differ from I-FGSM at %d", i)
	}
	// With two different models, each step uses one: the result differs
	// from both single-model attacks and from the fused ensemble.
	other := mlp(t)
	mixed, err := set.Craft(t.Context(), []models.Classifier{m, other}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	fused, _ := c.Craft(t.Context(), []models.Classifier{m, other}, Batch{X: x, Labels: y})
	justOther, _ := c.Craft(t.Context(), []models.Classifier{other}, Batch{X: x, Labels: y})
	if equalBits(mixed, want) < 0 || equalBits(mixed, fused) < 0 || equalBits(mixed, justOther) < 0 {
		t.Error("one-per-step over two models equals a single model or the fused ensemble")
	}
	checkInvariants(t, "one-per-step", set, x, mixed)
}
