package attacks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
)

// trainSoftmaxRegression fits logits = W·x + b on MNIST with plain SGD
// (seeded), enough for the ~92% test accuracy of a shallow softmax
// classifier.
func trainSoftmaxRegression(t *testing.T, epochs int) *models.Model {
	t.Helper()
	d, err := datasets.MNIST("train")
	if err != nil {
		t.Fatal(err)
	}
	const k, dim = 10, 784
	w := make([]float64, k*dim)
	b := make([]float64, k)
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, dim)
	p := make([]float64, k)
	lr := 0.05
	for e := 0; e < epochs; e++ {
		for _, i := range r.Perm(d.Len()) {
			d.Image(i, x)
			mx := math.Inf(-1)
			for c := 0; c < k; c++ {
				s := b[c]
				row := w[c*dim : (c+1)*dim]
				for j, v := range x {
					s += row[j] * float64(v)
				}
				p[c] = s
				mx = math.Max(mx, s)
			}
			var z float64
			for c := range p {
				p[c] = math.Exp(p[c] - mx)
				z += p[c]
			}
			for c := range p {
				g := p[c] / z
				if c == d.Labels[i] {
					g--
				}
				b[c] -= lr * g
				row := w[c*dim : (c+1)*dim]
				for j, v := range x {
					row[j] -= lr * g * float64(v)
				}
			}
		}
		lr /= 2
	}
	w32 := make([]float32, len(w))
	for i, v := range w {
		w32[i] = float32(v)
	}
	b32 := []float32{}
	for _, v := range b {
		b32 = append(b32, float32(v))
	}
	m, err := arch.SoftmaxRegression([]int{1, 28, 28}, k, w32, b32)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func errorRate(t *testing.T, m models.Classifier, x []float32, y []int) float64 {
	t.Helper()
	z := make([]float32, len(y)*10)
	if err := m.Logits(z, x); err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for i, label := range y {
		row := z[i*10 : (i+1)*10]
		p := 0
		for j := range row {
			if row[j] > row[p] {
				p = j
			}
		}
		if p != label {
			wrong++
		}
	}
	return float64(wrong) / float64(len(y))
}

// Goodfellow et al. (2015): FGSM at ε = 0.25 makes a shallow softmax
// classifier on MNIST err on 99.9% of test images.
func TestFGSMLogisticRegression(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	m := trainSoftmaxRegression(t, 2)
	x, y := mnistBatch(t, 2000)
	clean := errorRate(t, m, x, y)
	adv, err := FGSM(0.25).Craft(t.Context(), []models.Classifier{m}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	attacked := errorRate(t, m, adv, y)
	t.Logf("softmax regression on 2000 MNIST test images: clean error %.1f%%, FGSM ε=0.25 error %.1f%%", 100*clean, 100*attacked)
	if clean > 0.12 {
		t.Errorf("clean error %.3f: the regression did not train", clean)
	}
	if attacked < 0.9 {
		t.Errorf("FGSM error %.3f, want > 0.9", attacked)
	}
}

// The engine's input gradient of a softmax regression equals the closed
// form Wᵀ(softmax(z) − e_y).
func TestLogisticGradientClosedForm(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const k, dim = 4, 12
	w := make([]float32, k*dim)
	b := make([]float32, k)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	m, err := arch.SoftmaxRegression([]int{1, 3, 4}, k, w, b)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*dim)
	for i := range x {
		x[i] = r.Float32()
	}
	y := []int{1, 3}
	g, z, err := m.CrossEntropyGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	for i := range y {
		var s float64
		for c := 0; c < k; c++ {
			s += math.Exp(float64(z[i*k+c]))
		}
		for j := 0; j < dim; j++ {
			var want float64
			for c := 0; c < k; c++ {
				p := math.Exp(float64(z[i*k+c])) / s
				if c == y[i] {
					p--
				}
				want += float64(w[c*dim+j]) * p
			}
			if d := math.Abs(float64(g[i*dim+j]) - want); d > 1e-5 {
				t.Fatalf("image %d pixel %d: engine %v, closed form %v", i, j, g[i*dim+j], want)
			}
		}
	}
}
