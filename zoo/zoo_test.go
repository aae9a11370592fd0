package zoo

import (
	"strings"
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

func TestDigitsZoo(t *testing.T) {
	entries, err := DigitsModels()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 24 {
		t.Fatalf("manifest lists %d models, want 24 (2 sources × 3 architectures × 4 balances)", len(entries))
	}
	total, embedded := 0, 0
	for _, e := range entries {
		if !e.Embedded {
			continue
		}
		embedded++
		name := DigitsPrefix + strings.TrimSuffix(e.File, ".onnx")
		b, err := Bytes(name)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
		if got := SHA256(name); got != e.SHA256 {
			t.Errorf("%s: sha256 %s, manifest %s", name, got, e.SHA256)
		}
		m, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if m.NumClasses() != 10 {
			t.Errorf("%s: %d classes", name, m.NumClasses())
		}
	}
	for _, n := range Names() {
		if strings.Contains(n, "csgld") {
			b, _ := Bytes(n)
			total += len(b)
		}
	}
	t.Logf("%d of 24 zoo models embedded, %d bytes with the cSGLD set", embedded, total)
	if embedded < 18 {
		t.Errorf("only %d models embedded", embedded)
	}
	if total > 8<<20 {
		t.Errorf("embedded digits zoo is %d bytes, over 8 MB", total)
	}
}
