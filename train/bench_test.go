package train

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
)

// BenchmarkTrainStep times one training step at batch 64 — forward in
// training mode, backward to the weights, SGD with momentum, weights set —
// the unit testdata/torch/bench_train.py measures for PyTorch.
func BenchmarkTrainStep(b *testing.B) {
	for _, name := range []string{"lenet", "resnet"} {
		b.Run(fmt.Sprintf("%s/batch64", name), func(b *testing.B) {
			m, err := arch.Build(name, []int{1, 28, 28}, 10, 1)
			if err != nil {
				b.Fatal(err)
			}
			benchTrainStep(b, m)
		})
	}
}

// BenchmarkTrainFixture is the training step on the PyTorch exports of
// testdata/torch/bench (bench_models.py): LeNet-5 and the quarter-width
// ResNet-18 with its BatchNorm layers kept. testdata/torch/compare.py
// times the same step in PyTorch.
func BenchmarkTrainFixture(b *testing.B) {
	for _, name := range []string{"lenet", "resnet18q_train"} {
		b.Run(name, func(b *testing.B) {
			path := "../testdata/torch/bench/" + name + ".onnx"
			if _, err := os.Stat(path); err != nil {
				b.Skip(err)
			}
			m, err := models.LoadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			benchTrainStep(b, m)
		})
	}
}

func benchTrainStep(b *testing.B, m *models.Model) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 64
	size := 1
	for _, d := range m.InputShape() {
		size *= d
	}
	k := m.NumClasses()
	x := make([]float32, n*size)
	for i := range x {
		x[i] = r.Float32()
	}
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(k)
	}
	params := m.Params()
	values := make([][]float32, len(params))
	for i, p := range params {
		if !p.Buffer {
			values[i], _ = m.ParamValues(p.Name)
		}
	}
	opt := &SGD{Momentum: 0.9}
	step := func(s uint64) {
		grads, err := m.TrainGrads(x, s, func(z, dz []float32) { meanCrossEntropy(dz, z, y, k) })
		if err != nil {
			b.Fatal(err)
		}
		for i, p := range params {
			if p.Buffer {
				grads[i] = nil
			}
		}
		opt.Step(values, grads, 0.05)
		if err := m.SetParams(values); err != nil {
			b.Fatal(err)
		}
	}
	step(0)
	b.ResetTimer()
	i := uint64(1)
	for b.Loop() {
		step(i)
		i++
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
}
