package zoo

import (
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
)

func TestLeNetAccuracy(t *testing.T) {
	m, err := Load(Default)
	if err != nil {
		t.Fatal(err)
	}
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	n := 2000
	if testing.Short() {
		n = 500
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, n*784)
	d.Batch(idx, x)
	z := make([]float32, n*10)
	if err := m.Logits(z, x); err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i := 0; i < n; i++ {
		best := 0
		for j := 1; j < 10; j++ {
			if z[i*10+j] > z[i*10+best] {
				best = j
			}
		}
		if best == d.Labels[i] {
			correct++
		}
	}
	// The model scored 98.63% on all 10000 test images in PyTorch.
	if acc := float64(correct) / float64(n); acc < 0.97 {
		t.Errorf("accuracy %.4f on the first %d test images, want >= 0.97", acc, n)
	}
	if _, err := Load("nope"); err == nil {
		t.Error("unknown model loaded")
	}
}
