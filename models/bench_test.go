package models

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Forward + input-VJP throughput at batch 64, the cost of one attack step.
// PyTorch 1.13 on the same machine, 2 threads: testdata/torch/bench_torch.json.

func benchModel(b *testing.B, path string, batch int, withGrad bool) {
	m, err := LoadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, batch*m.imageSize())
	for i := range x {
		x[i] = r.Float32()
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = i % 10
	}
	dx := make([]float32, len(x))
	z := make([]float32, batch*10)
	seed := func(z, dz []float32) { _ = SoftmaxCrossEntropyGrad(dz, z, y, 10) }
	step := func() {
		if withGrad {
			if err := m.Grad(dx, x, seed); err != nil {
				b.Fatal(err)
			}
		} else if err := m.Logits(z, x); err != nil {
			b.Fatal(err)
		}
	}
	step() // compile for this batch size
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkLeNet(b *testing.B) {
	for _, g := range []bool{false, true} {
		b.Run(fmt.Sprintf("batch64/grad=%v", g), func(b *testing.B) { benchModel(b, "../testdata/torch/lenet_op13.onnx", 64, g) })
	}
}

func BenchmarkResNet18(b *testing.B) {
	for _, g := range []bool{false, true} {
		b.Run(fmt.Sprintf("batch64/grad=%v", g), func(b *testing.B) { benchModel(b, "../testdata/torch/resnet18_op13.onnx", 64, g) })
	}
}

func BenchmarkMobileNetV2(b *testing.B) {
	b.Run("batch64/grad=true", func(b *testing.B) { benchModel(b, "../testdata/torch/mobilenet_v2_op13.onnx", 64, true) })
}

// BenchmarkFixtures times the architectures of testdata/torch/bench
// (bench_models.py), forward only and forward + input VJP, at batch 64:
// the advmatrix half of testdata/torch/compare.py. The full-width CIFAR
// ResNet-18 is too large to commit; it runs when ADVMATRIX_BENCH_CIFAR
// names the folder bench_models.py --cifar wrote it to.
func BenchmarkFixtures(b *testing.B) {
	models := []string{"mlp", "lenet", "resnet18q", "mobilenetv2h", "vgg", "resnet18"}
	for _, name := range models {
		path := filepath.Join(torchDir, "bench", name+".onnx")
		if name == "resnet18" {
			path = filepath.Join(os.Getenv("ADVMATRIX_BENCH_CIFAR"), name+".onnx")
		}
		for _, op := range []string{"forward", "grad"} {
			b.Run(name+"/"+op, func(b *testing.B) {
				if _, err := os.Stat(path); err != nil {
					b.Skipf("%v (see testdata/torch/bench_models.py)", err)
				}
				benchModel(b, path, 64, op == "grad")
			})
		}
	}
}

// TestNoMemoryGrowth runs 1,000 gradient calls and checks that the heap
// does not grow: programs are compiled once and their buffers reused.
func TestNoMemoryGrowth(t *testing.T) {
	m, err := LoadFile("../testdata/torch/lenet_op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	const batch = 16
	x := make([]float32, batch*784)
	for i := range x {
		x[i] = float32(i%255) / 255
	}
	y := make([]int, batch)
	dx := make([]float32, len(x))
	seed := func(z, dz []float32) { _ = SoftmaxCrossEntropyGrad(dz, z, y, 10) }
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for i := 0; i < 20; i++ {
		_ = m.Grad(dx, x, seed)
	}
	before := heap()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := m.Grad(dx, x, seed); err != nil {
			t.Fatal(err)
		}
	})
	after := heap()
	t.Logf("heap %d → %d bytes over 1000 calls; %.1f allocations per call", before, after, allocs)
	if after > before+1<<20 {
		t.Errorf("heap grew from %d to %d bytes over 1000 calls", before, after)
	}
	if allocs > 20 {
		t.Errorf("%.0f allocations per Grad call; the hot path should not allocate", allocs)
	}
}
