package models

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// reluChain is a tiny model whose input is h×h and whose activations are
// as large: x, Relu ×3, GlobalAveragePool, Flatten.
func reluChain(h int) []byte {
	return newTestGraph(13).input("x", -1, 1, h, h).
		node("Relu", []string{"x"}, []string{"a"}).node("Relu", []string{"a"}, []string{"b"}).
		node("Relu", []string{"b"}, []string{"c"}).node("GlobalAveragePool", []string{"c"}, []string{"p"}).
		node("Flatten", []string{"p"}, []string{"y"}).output("y").bytes()
}

// TestActivationBudget: a few hundred bytes of ONNX declaring a
// 16384×16384 input would need gigabytes of activations; loading it must
// fail with an error naming the largest tensors before anything that
// large is allocated, and the limit is an option.
func TestActivationBudget(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(256 << 20))
	model := reluChain(16384)
	if len(model) > 1000 {
		t.Fatalf("test model is %d bytes", len(model))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Load(model)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "WithMaxActivationBytes") || !strings.Contains(err.Error(), `"x" [1 1 16384 16384]`) {
		t.Fatalf("Load = %v, want an error naming the input and the option", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("refusing the model allocated %d bytes", grew)
	}
	t.Log(err)

	// The same graph at a small size loads, unless the limit is lower still.
	small := reluChain(64)
	if _, err := Load(small); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(small, WithMaxActivationBytes(1000)); err == nil || !strings.Contains(err.Error(), "limit of 1000 B") {
		t.Errorf("Load with a 1000-byte limit = %v", err)
	}
	m, err := Load(model, WithMaxActivationBytes(math.MaxInt64), WithMaxTensorElements(1<<20))
	if err == nil || m != nil {
		t.Errorf("the per-tensor limit still applies with a raised activation limit: %v", err)
	}
}

// TestPlannedMemory checks that the planner shares memory — a forward
// program of a deep network needs far less than the sum of its tensors —
// and that sharing changes no result: logits and input gradients are bit
// for bit those of a program in which every tensor has its own memory,
// also when a Pass runs its backward pass twice.
func TestPlannedMemory(t *testing.T) {
	for _, name := range []string{"lenet", "resnet18q", "mobilenetv2h", "vgg"} {
		t.Run(name, func(t *testing.T) {
			m, err := LoadFile(filepath.Join(torchDir, "bench", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			x := make([]float32, n*m.imageSize())
			r := rand.New(rand.NewPCG(1, 2))
			for i := range x {
				x[i] = r.Float32()
			}
			shapes := [][]int{append([]int{n}, m.inShape...)}
			planned, err := compile[float32](m.g, compileOptions{inputShapes: shapes, maxElements: 1 << 28})
			if err != nil {
				t.Fatal(err)
			}
			whole, err := compile[float32](m.g, compileOptions{inputShapes: shapes, keepAll: true, maxElements: 1 << 28})
			if err != nil {
				t.Fatal(err)
			}
			sum := whole.arenaLen()
			arena := planned.arenaLen()
			t.Logf("forward: %d floats planned for %d floats of tensors", arena, sum)
			// LeNet's two largest tensors, the first convolution's output
			// and its ReLU, are live together: a third is all it can save.
			if arena >= sum || name != "lenet" && arena*3 > sum {
				t.Errorf("forward program plans %d floats for %d floats of tensors", arena, sum)
			}

			ref, err := compile[float32](m.g, compileOptions{inputShapes: shapes, inputGrad: true, keepAll: true, maxElements: 1 << 28})
			if err != nil {
				t.Fatal(err)
			}
			ref.loadParams(m.g)
			ref.setInput(0, x)
			ref.forward()
			ref.zeroGrads()
			v := ref.grad[ref.outputs[0]]
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
			v = append([]float32(nil), v...)
			ref.backward(ref.seedStep(ref.outputs[0]))
			wantLogits, wantDX := ref.output(0), ref.grad[ref.inputs[0]]

			ps, err := m.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			if i := firstDiff(ps.Logits(), wantLogits); i >= 0 {
				t.Errorf("logits[%d] = %v, unplanned %v", i, ps.Logits()[i], wantLogits[i])
			}
			for pass := 0; pass < 2; pass++ {
				dx := make([]float32, len(x))
				if err := ps.VJP(dx, v); err != nil {
					t.Fatal(err)
				}
				if i := firstDiff(dx, wantDX); i >= 0 {
					t.Fatalf("VJP %d: dx[%d] = %v, unplanned %v", pass, i, dx[i], wantDX[i])
				}
			}
		})
	}
}

func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
