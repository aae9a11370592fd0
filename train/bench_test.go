package train

import (
	"fmt"
	"math/rand/v2"
	"testing"

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
			r := rand.New(rand.NewPCG(1, 1))
			const n = 64
			x := make([]float32, n*784)
			for i := range x {
				x[i] = r.Float32()
			}
			y := make([]int, n)
			for i := range y {
				y[i] = r.IntN(10)
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
				grads, err := m.TrainGrads(x, s, func(z, dz []float32) { meanCrossEntropy(dz, z, y, 10) })
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
		})
	}
}
