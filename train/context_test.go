package train

import (
	"context"
	"errors"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models/arch"
)

// FitContext stops at the batch after its context is cancelled.
func TestFitContextCancelled(t *testing.T) {
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	d = d.Sample(256, 1)
	m, err := arch.Build("mlp", []int{1, 28, 28}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	batches := 0
	cfg := Config{Epochs: 2, Batch: 32, LR: 0.05, Seed: 1, Progress: func(done, total int) {
		if batches++; batches == 3 {
			cancel()
		}
	}}
	if _, err := FitContext(ctx, m, d, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("FitContext after cancel: %v", err)
	}
	if batches != 3 {
		t.Errorf("%d batches ran, want 3", batches)
	}
}
