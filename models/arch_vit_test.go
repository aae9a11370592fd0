package models

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

func vitInput(n int, shape []int) []float32 {
	r := rand.New(rand.NewPCG(21, 22))
	x := make([]float32, n*numel(shape))
	for i := range x {
		x[i] = r.Float32()
	}
	return x
}

// LayerNorm has no batch statistics and vit no Dropout: the training-mode
// forward pass is the inference pass, bit for bit, and so are the
// parameter gradients.
func TestViTTrainingModeIsInference(t *testing.T) {
	m, err := Build("vit", []int{1, 28, 28}, 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	x := vitInput(3, []int{1, 28, 28})
	y := []int{1, 5, 9}
	z := make([]float32, 30)
	if err := m.Logits(z, x); err != nil {
		t.Fatal(err)
	}
	var zt []float32
	seed := func(z, dz []float32) {
		zt = append(zt[:0], z...)
		_ = SoftmaxCrossEntropyGrad(dz, z, y, 10)
	}
	gt, err := m.TrainGrads(x, 7, seed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(z, zt) {
		t.Fatalf("training-mode logits %v, inference %v", zt, z)
	}
	gi, err := m.ParamGrads(x, seed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gt {
		if !slices.Equal(gt[i], gi[i]) {
			t.Fatalf("parameter %s: training-mode gradient differs from the inference one", m.Params()[i].Name)
		}
	}
}

// The same call gives the same bits on one core as on several: the
// batched attention products, LayerNorm's rows and its parameter
// gradients are split so that every value is computed the same way.
func TestViTCoreCountInvariance(t *testing.T) {
	m, err := Build("vit", []int{3, 32, 32}, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	x := vitInput(24, []int{3, 32, 32})
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
	m, err := Build("vit", []int{3, 32, 32}, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 16
	p, err := compile[float32](m.g, compileOptions{inputShapes: [][]int{{batch, 3, 32, 32}}, inputGrad: true, paramGrad: true, maxElements: 1 << 28})
	if err != nil {
		t.Fatal(err)
	}
	p.loadParams(m.g)
	copy(p.data[p.inputs[0]], vitInput(batch, []int{3, 32, 32}))
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
