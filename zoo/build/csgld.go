package build

import (
	"fmt"
	"path/filepath"

	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/surrogates"
	"github.com/advmatrix/advmatrix/train"
)

// The zoo's Bayesian surrogate set: cSGLD samples of a LeNet on MNIST.
// Cycles of three epochs with the last two saved (the low-rate end of the
// cycle, as the reference saves) and Langevin noise in the last epoch;
// η₀ = 0.2 (the CIFAR default 0.5 diverges for LeNet on MNIST), weight
// decay 5e-4 as the reference.
func init() {
	RegisterStep(Step{
		Name: "csgld",
		Help: "a cSGLD surrogate set: 6 LeNet samples on MNIST (3 cycles × 3 epochs, 2 saves per cycle)",
		Run:  runCSGLD,
	})
}

// CSGLDResult is what the csgld step adds to zoo.json.
type CSGLDResult struct {
	Dir        string    `json:"dir"`
	Manifest   string    `json:"manifest"`
	Files      []string  `json:"files"`
	Accuracies []float64 `json:"test_accuracies"`
	Cycles     int       `json:"cycles"`
	CycleEps   int       `json:"cycle_epochs"`
	Saves      int       `json:"saves_per_cycle"`
	LR0        float64   `json:"lr0"`
	Seed       uint64    `json:"seed"`
}

func runCSGLD(ctx *StepContext) (any, error) {
	d, err := ctx.TrainData("mnist")
	if err != nil {
		return nil, err
	}
	m, err := arch.Build("lenet", []int{d.Shape[0], d.Shape[1], d.Shape[2]}, 10, ctx.Seed)
	if err != nil {
		return nil, err
	}
	c := surrogates.CSGLD{Cycles: 3, CycleEpochs: 3, Saves: 2, NoiseEpochs: 1, LR0: 0.2, WeightDecay: 5e-4, Batch: 64, Seed: ctx.Seed}
	dir := filepath.Join(ctx.Dir, "csgld_mnist_lenet")
	files, err := c.Run(m, d, dir, func(e surrogates.EpochInfo) {
		if ctx.Log != nil {
			fmt.Fprintf(ctx.Log, "csgld cycle %d epoch %d: loss %.4f, train %.2f%%, noise %v\n", e.Cycle, e.Epoch, e.TrainLoss, 100*e.TrainAccuracy, e.Noise)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("csgld: %w", err)
	}
	res := &CSGLDResult{Dir: "csgld_mnist_lenet", Manifest: "csgld_mnist_lenet/set.json", Cycles: c.Cycles, CycleEps: c.CycleEpochs,
		Saves: c.Saves, LR0: c.LR0, Seed: c.Seed}
	test, err := ctx.TestData("mnist")
	if err != nil {
		return nil, err
	}
	idx := make([]int, test.Len())
	for i := range idx {
		idx[i] = i
	}
	for _, f := range files {
		s, err := models.LoadFile(f)
		if err != nil {
			return nil, err
		}
		acc, err := train.Accuracy(s, test, idx, 500)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(ctx.Dir, f)
		res.Files = append(res.Files, rel)
		res.Accuracies = append(res.Accuracies, acc)
	}
	return res, nil
}
