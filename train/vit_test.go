package train

import (
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models/arch"
)

// The vit reference architecture trains: eight epochs of Adam on 500 MNIST
// images take it from chance to well above it. (ViTs need far more data
// than a LeNet; this checks that gradients flow and the optimizer moves
// every part of the network, not the accuracy a full run reaches.)
func TestViTTrainsOnMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for eight epochs")
	}
	m, err := arch.Build("vit", []int{1, 28, 28}, 10, 1)
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
	idx := make([]int, 1000)
	for i := range idx {
		idx[i] = i
	}
	before, err := Accuracy(m, te, idx, 500)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Fit(m, tr.Sample(500, 1), Config{Epochs: 8, Batch: 64, LR: 1e-3, Optimizer: NewAdam(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	after, err := Accuracy(m, te, idx, 500)
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.Epochs[0], res.Epochs[len(res.Epochs)-1]
	t.Logf("vit on 500 MNIST images, 8 epochs Adam 1e-3: train loss %.3f → %.3f, %.0f images/s; test accuracy %.1f%% → %.1f%% (1000 images)",
		first.TrainLoss, last.TrainLoss, last.ImagesPerSec, 100*before, 100*after)
	if after < 0.35 || after < before+0.2 {
		t.Errorf("test accuracy %.3f after training (%.3f before), want >= 0.35 and 0.2 above", after, before)
	}
}
