package models

import (
	"runtime"
	"sync"
	"testing"
)

// Calls from several goroutines give the same results as sequential calls,
// and never write into the caller's input.
func TestConcurrentCalls(t *testing.T) {
	m, err := LoadFile("../testdata/torch/lenet_op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	inputs := make([][]float32, 6)
	want := make([][]float32, len(inputs))
	for i := range inputs {
		n := 1 + i%3
		inputs[i] = make([]float32, n*784)
		for j := range inputs[i] {
			inputs[i][j] = float32((j*7+i*13)%256) / 255
		}
		y := make([]int, n)
		want[i], _, err = m.CrossEntropyGrad(inputs[i], y)
		if err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 20; rep++ {
				i := (w + rep) % len(inputs)
				orig := append([]float32(nil), inputs[i]...)
				got, _, err := m.CrossEntropyGrad(inputs[i], make([]int, len(inputs[i])/784))
				if err != nil {
					t.Error(err)
					return
				}
				for j := range got {
					if got[j] != want[i][j] {
						t.Errorf("goroutine %d: gradient %d of input %d differs: %v vs %v", w, j, i, got[j], want[i][j])
						return
					}
				}
				for j := range orig {
					if orig[j] != inputs[i][j] {
						t.Errorf("input %d was modified", i)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// Results do not depend on the batch a sample is computed in, nor on the
// number of cores (the parallel chunking depends only on the batch size).
func TestBatchInvariance(t *testing.T) {
	m, err := LoadFile("../testdata/torch/lenet_op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	const n = 11
	x := make([]float32, n*784)
	for j := range x {
		x[j] = float32((j*31)%256) / 255
	}
	z := make([]float32, n*10)
	if err := m.Logits(z, x); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		one := make([]float32, 10)
		if err := m.Logits(one, x[i*784:(i+1)*784]); err != nil {
			t.Fatal(err)
		}
		for j := range one {
			if d := one[j] - z[i*10+j]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("image %d logit %d: %v alone, %v in a batch", i, j, one[j], z[i*10+j])
			}
		}
	}
}

// The same call gives the same bits on one core as on several.
func TestCoreCountInvariance(t *testing.T) {
	m, err := LoadFile("../testdata/torch/lenet_op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	x := make([]float32, n*784)
	for j := range x {
		x[j] = float32((j*17)%256) / 255
	}
	y := make([]int, n)
	a, _, err := m.CrossEntropyGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	b, _, err := m.CrossEntropyGrad(x, y)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("gradient %d: %v with %d cores, %v with 1", i, a[i], prev, b[i])
		}
	}
}
