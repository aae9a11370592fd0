package attacks

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/advmatrix/advmatrix/models"
)

// toy is a 2-class classifier on 1×1×3 images without Forward: z = (Σx, −Σx).
type toy struct{}

func (toy) InputShape() []int { return []int{1, 1, 3} }
func (toy) NumClasses() int   { return 2 }
func (toy) Logits(dst, x []float32) error {
	if len(x)%3 != 0 || len(dst) != 2*len(x)/3 {
		return errors.New("bad sizes")
	}
	for i := 0; i < len(x)/3; i++ {
		s := x[3*i] + x[3*i+1] + x[3*i+2]
		dst[2*i], dst[2*i+1] = s, -s
	}
	return nil
}
func (t toy) Grad(dx, x []float32, seed func(z, dz []float32)) error {
	n := len(x) / 3
	z := make([]float32, 2*n)
	if err := t.Logits(z, x); err != nil {
		return err
	}
	dz := make([]float32, 2*n)
	seed(z, dz)
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			dx[3*i+j] = dz[2*i] - dz[2*i+1]
		}
	}
	return nil
}

func TestCountedToy(t *testing.T) {
	c := Count(toy{})
	if c.CanForward() {
		t.Fatal("toy has no Forward")
	}
	if _, ok := c.Classifier().(models.Forwarder); ok {
		t.Fatal("Classifier() of a classifier without Forward must not offer Forward")
	}
	if _, err := c.Forward(make([]float32, 3)); err == nil {
		t.Fatal("Forward on a classifier without it succeeded")
	}
	x := make([]float32, 4*3)
	if err := c.Logits(make([]float32, 8), x); err != nil {
		t.Fatal(err)
	}
	if c.Forwards() != 4 || c.Grads() != 0 {
		t.Fatalf("after Logits of 4: forwards %d grads %d", c.Forwards(), c.Grads())
	}
	if err := c.Grad(make([]float32, 6), x[:6], func(z, dz []float32) { dz[0] = 1 }); err != nil {
		t.Fatal(err)
	}
	if c.Forwards() != 6 || c.Grads() != 2 {
		t.Fatalf("after Grad of 2: forwards %d grads %d", c.Forwards(), c.Grads())
	}
	// Failed calls are not counted.
	if err := c.Logits(make([]float32, 3), x); err == nil {
		t.Fatal("bad buffer accepted")
	}
	if c.Forwards() != 6 {
		t.Fatalf("a failed call was counted: %d", c.Forwards())
	}
	if c.Seconds() < 0 {
		t.Fatal("negative time")
	}
	c.Reset()
	if c.Forwards() != 0 || c.Grads() != 0 || c.Seconds() != 0 {
		t.Fatal("Reset left counts")
	}
	// Concurrent callers are counted exactly.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				_ = c.Logits(make([]float32, 4), x[:6])
				_ = c.Classifier().Grad(make([]float32, 3), x[:3], func(z, dz []float32) {})
			}
		}()
	}
	wg.Wait()
	if c.Forwards() != 8*100*3 || c.Grads() != 8*100 {
		t.Fatalf("concurrent: forwards %d grads %d", c.Forwards(), c.Grads())
	}
}

func TestCountedModel(t *testing.T) {
	m := mlp(t).(*models.Model)
	c := Count(m)
	if !c.CanForward() || c.Classifier() != models.Classifier(c) {
		t.Fatal("a *models.Model wrapper must pass Forward through")
	}
	x, y := mnistBatch(t, 5)
	p, err := c.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 5*10)
	if err := m.Logits(want, x); err != nil {
		t.Fatal(err)
	}
	for i, v := range p.Logits() {
		if v != want[i] {
			t.Fatalf("logit %d: %v through the pass, %v directly", i, v, want[i])
		}
	}
	if c.Forwards() != 5 || c.Grads() != 0 {
		t.Fatalf("after Forward of 5: forwards %d grads %d", c.Forwards(), c.Grads())
	}
	// Each VJP through the held pass counts its images as gradients.
	dx, dz := make([]float32, len(x)), make([]float32, 5*10)
	for i := range y {
		dz[i*10+y[i]] = 1
	}
	for range 2 {
		if err := p.VJP(dx, dz); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	if c.Forwards() != 5 || c.Grads() != 10 {
		t.Fatalf("after two VJPs of 5: forwards %d grads %d", c.Forwards(), c.Grads())
	}

	// A fused-logit ensemble of two counted models: FGSM takes one forward
	// and one VJP per image and member; the counted attack gives the same
	// bytes as the uncounted one.
	c.Reset()
	c2 := Count(lenet(t))
	adv, err := FGSM(0.1).Craft(t.Context(), []models.Classifier{c, c2}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := FGSM(0.1).Craft(t.Context(), []models.Classifier{m, lenet(t)}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	for i := range adv {
		if adv[i] != ref[i] {
			t.Fatalf("counting changed the attack at %d: %v vs %v", i, adv[i], ref[i])
		}
	}
	for i, cc := range []*Counted{c, c2} {
		if cc.Forwards() != 5 || cc.Grads() != 5 {
			t.Errorf("member %d: forwards %d grads %d, want 5 and 5", i, cc.Forwards(), cc.Grads())
		}
	}
	// Loss fusion goes through Grad: again one of each per image.
	c.Reset()
	cfg := IFGSM(0.1, 0.01, 3)
	cfg.Fusion = FuseLoss
	if _, err := cfg.Craft(t.Context(), []models.Classifier{c, Count(toyMNIST{m}).Classifier()}, Batch{X: x, Labels: y}); err != nil {
		t.Fatal(err)
	}
	if c.Forwards() != 15 || c.Grads() != 15 {
		t.Errorf("loss fusion, 3 steps of 5: forwards %d grads %d", c.Forwards(), c.Grads())
	}
}

// toyMNIST hides a model's Forward.
type toyMNIST struct{ m *models.Model }

func (t toyMNIST) InputShape() []int             { return t.m.InputShape() }
func (t toyMNIST) NumClasses() int               { return t.m.NumClasses() }
func (t toyMNIST) Logits(dst, x []float32) error { return t.m.Logits(dst, x) }
func (t toyMNIST) Grad(dx, x []float32, seed func(z, dz []float32)) error {
	return t.m.Grad(dx, x, seed)
}

// An attack spends its time in the models: wall time within 2× of the time
// inside forward and gradient calls (plus a little fixed cost). The margin
// is wide so that a busy machine does not fail it; it catches an attack
// whose own bookkeeping rivals the models (the measured ratio, 1.05× for
// PGD-20 on LeNet on a quiet machine, is logged).
func TestNoHiddenOverhead(t *testing.T) {
	x, y := mnistBatch(t, 128)
	c := Count(lenet(t))
	start := time.Now()
	if _, err := PGD(0.3, 0.01, 20).Craft(t.Context(), []models.Classifier{c}, Batch{X: x, Labels: y}); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start).Seconds()
	inside := c.Seconds()
	t.Logf("PGD-20 on 128 images: wall %.3f s, inside the model %.3f s (%.2f×)", wall, inside, wall/inside)
	if wall > 2*inside+0.05 {
		t.Errorf("wall %.3f s is more than 2× the %.3f s spent in the model", wall, inside)
	}
}
