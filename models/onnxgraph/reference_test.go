package onnxgraph

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/onnxcheck"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/zoo"
)

// Ensembles of the embedded digits models, written by Combine, give the
// same logits in an independent runtime — testdata/onnxref/onnxref.py, a
// NumPy evaluator over Debian's python3-onnx — as in advmatrix, and pass
// onnx.checker.
func TestCombineIndependentRuntime(t *testing.T) {
	if ok, why := onnxcheck.Available(); !ok {
		t.Skip(why)
	}
	if testing.Short() {
		t.Skip("runs Python")
	}
	var ms []Member
	for _, name := range []string{"digits/mnist_lenet_b50", "digits/mnist_mobilenet_b50", "digits/mnist_mlp_b50", "digits/mnist_lenet_b20"} {
		b, err := zoo.Bytes(name)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, Member{Name: name, ONNX: b})
	}
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	x := make([]float32, n*784)
	d.Batch([]int{0, 1, 2, 3, 4, 5}, x)
	dir := t.TempDir()
	xp := filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(xp, npy.NewFloat32([]int{n, 1, 28, 28}, x)); err != nil {
		t.Fatal(err)
	}
	for _, agg := range []string{"mean-logits", "mean-softmax", "log-mean-softmax", "crossmax:k=3", "crossmax-median"} {
		t.Run(agg, func(t *testing.T) {
			a, _ := ParseAggregation(agg)
			data, err := Combine(ms, a)
			if err != nil {
				t.Fatal(err)
			}
			mp := filepath.Join(dir, "ensemble.onnx")
			if err := os.WriteFile(mp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := models.Load(data)
			if err != nil {
				t.Fatal(err)
			}
			z := make([]float32, n*10)
			if err := m.Logits(z, x); err != nil {
				t.Fatal(err)
			}
			yp := filepath.Join(dir, "y.npy")
			out, err := exec.Command(onnxcheck.Python, "../../testdata/onnxref/onnxref.py", mp, xp, yp).CombinedOutput()
			if err != nil {
				t.Fatalf("onnxref: %v\n%s", err, out)
			}
			ref, err := npy.ReadFile(yp)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Float32()
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, v := range z {
				w := float64(want[i])
				worst = max(worst, math.Abs(float64(v)-w)/max(1, math.Abs(w)))
			}
			t.Logf("%s: largest difference from the NumPy runtime %.2g (relative)", agg, worst)
			if worst > 1e-4 {
				t.Errorf("%s differs from the independent runtime by %.3g", agg, worst)
			}
			onnxcheck.Check(t, mp)
		})
	}
}
