package models

import (
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// loadViT is the vit reference architecture as package arch builds it for
// 1×16×16 images (testdata/arch/vit.onnx, kept in step by its tests).
func loadViT(t *testing.T) *Model {
	t.Helper()
	m, err := LoadFile(filepath.Join("testdata", "arch", "vit.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func vitInput(n int, shape []int) []float32 {
	r := rand.New(rand.NewPCG(21, 22))
	x := make([]float32, n*numel(shape))
	for i := range x {
		x[i] = r.Float32()
	}
	return x
}

// The same call gives the same bits on one core as on several: the
// batched attention products, LayerNorm's rows and its parameter
// gradients are split so that every value is computed the same way.
func TestViTCoreCountInvariance(t *testing.T) {
	m := loadViT(t)
	x := vitInput(24, []int{1, 16, 16})
	y := make([]int, 24)
	for i := range y {
		y[i] = i % 10
	}
	seed := func(z, dz []float32) { _ = SoftmaxCrossEntropyGrad(dz, z, y, 10) }
	run := func() ([]float32, [][]float32) {
		dx, _, err := m.CrossEntropyGrad(x, y)
		if err != nil {
			t.Fatal(err)
		}
		gp, err := m.ParamGrads(x, seed)
		if err != nil {
			t.Fatal(err)
		}
		return dx, gp
	}
	a, pa := run()
	prev := runtime.GOMAXPROCS(1)
	b, pb := run()
	runtime.GOMAXPROCS(prev)
	if !slices.Equal(a, b) {
		t.Fatalf("input gradient differs between %d cores and 1", prev)
	}
	for i := range pa {
		if !slices.Equal(pa[i], pb[i]) {
			t.Fatalf("gradient of %s differs between %d cores and 1", m.Params()[i].Name, prev)
		}
	}
}

// A compiled vit program runs forward and backward without allocating,
// on one core and on several.
func TestViTNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	m := loadViT(t)
	const batch = 16
	p, err := compile[float32](m.g, compileOptions{inputShapes: [][]int{{batch, 1, 16, 16}}, inputGrad: true, paramGrad: true, maxElements: 1 << 28})
	if err != nil {
		t.Fatal(err)
	}
	p.loadParams(m.g)
	copy(p.data[p.inputs[0]], vitInput(batch, []int{1, 16, 16}))
	out := p.outputs[0]
	f := func() {
		p.forward()
		p.zeroGrads()
		for i := range p.grad[out] {
			p.grad[out][i] = 1
		}
		p.backward(p.seedStep(out))
	}
	f()
	time.Sleep(time.Millisecond) // let the GEMM helpers park
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	if got := testing.AllocsPerRun(3, f); got != 0 {
		t.Errorf("%v allocations per forward and backward pass on one core", got)
	}
	runtime.GOMAXPROCS(2)
	var d uint64
	for range 5 {
		f()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 3 {
			f()
		}
		runtime.ReadMemStats(&after)
		if d = after.Mallocs - before.Mallocs; d == 0 {
			break
		}
	}
	if d != 0 {
		t.Errorf("%d allocations in 3 passes on 2 cores", d)
	}
}
