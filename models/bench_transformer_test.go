package models

import (
	"math/rand/v2"
	"testing"
)

// Forward + input-gradient throughput of the transformer fixtures at batch
// 16: the cost of one attack step. The PyTorch side, same models and
// batch: see the closing note of the transformer issue.
func BenchmarkTransformers(b *testing.B) {
	for _, name := range []string{"vit_tiny", "convnext_tiny", "swin_tiny", "deit_tiny", "maxvit_tiny"} {
		b.Run(name, func(b *testing.B) {
			m, err := LoadFile("../testdata/torch/" + name + "_op17.onnx")
			if err != nil {
				b.Fatal(err)
			}
			const batch = 16
			r := rand.New(rand.NewPCG(1, 1))
			x := make([]float32, batch*numel(m.InputShape()))
			for i := range x {
				x[i] = r.Float32()
			}
			y := make([]int, batch)
			for i := range y {
				y[i] = i % 10
			}
			dx := make([]float32, len(x))
			seed := func(z, dz []float32) { _ = SoftmaxCrossEntropyGrad(dz, z, y, 10) }
			step := func() {
				if err := m.Grad(dx, x, seed); err != nil {
					b.Fatal(err)
				}
			}
			step()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				step()
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
