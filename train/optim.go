package train

import (
	"fmt"
	"math"
)

// Optimizer updates parameters in place from their gradients.
type Optimizer interface {
	// Step applies one update at learning rate lr; params and grads are in
	// the same order, and nil entries are skipped (buffers).
	Step(params, grads [][]float32, lr float64)
}

// SGD is stochastic gradient descent with momentum (PyTorch's form:
// buf = μ·buf + g; Nesterov uses g + μ·buf) and L2 weight decay added to the
// gradient.
type SGD struct {
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
	buf         [][]float32
}

func (o *SGD) Step(params, grads [][]float32, lr float64) {
	if o.buf == nil {
		o.buf = make([][]float32, len(params))
	}
	mu, wd, eta := float32(o.Momentum), float32(o.WeightDecay), float32(lr)
	for i, p := range params {
		g := grads[i]
		if p == nil || g == nil {
			continue
		}
		if o.Momentum == 0 {
			for j := range p {
				p[j] -= eta * (g[j] + wd*p[j])
			}
			continue
		}
		if o.buf[i] == nil {
			// PyTorch starts the buffer at the first gradient.
			o.buf[i] = make([]float32, len(p))
			for j := range p {
				o.buf[i][j] = g[j] + wd*p[j]
			}
		} else {
			b := o.buf[i]
			for j := range p {
				b[j] = mu*b[j] + g[j] + wd*p[j]
			}
		}
		b := o.buf[i]
		for j := range p {
			d := b[j]
			if o.Nesterov {
				d = g[j] + wd*p[j] + mu*b[j]
			}
			p[j] -= eta * d
		}
	}
}

// Adam is Kingma & Ba's optimizer with bias correction; WeightDecay is
// L2 added to the gradient, as torch.optim.Adam does.
type Adam struct {
	Beta1, Beta2, Eps float64
	WeightDecay       float64
	m, v              [][]float32
	t                 int
}

// NewAdam has PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8.
func NewAdam() *Adam { return &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

func (o *Adam) Step(params, grads [][]float32, lr float64) {
	if o.m == nil {
		o.m, o.v = make([][]float32, len(params)), make([][]float32, len(params))
	}
	o.t++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	c1 := 1 - math.Pow(o.Beta1, float64(o.t))
	c2 := 1 - math.Pow(o.Beta2, float64(o.t))
	step := float32(lr / c1)
	sc2 := float32(math.Sqrt(c2))
	eps, wd := float32(o.Eps), float32(o.WeightDecay)
	for i, p := range params {
		g := grads[i]
		if p == nil || g == nil {
			continue
		}
		if o.m[i] == nil {
			o.m[i], o.v[i] = make([]float32, len(p)), make([]float32, len(p))
		}
		m, v := o.m[i], o.v[i]
		for j := range p {
			gj := g[j] + wd*p[j]
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			p[j] -= step * m[j] / (float32(math.Sqrt(float64(v[j])))/sc2 + eps)
		}
	}
}

// ParseOptimizer makes an optimizer by name: "sgd", "nesterov", "adam".
func ParseOptimizer(name string, momentum, weightDecay float64) (Optimizer, error) {
	switch name {
	case "sgd":
		return &SGD{Momentum: momentum, WeightDecay: weightDecay}, nil
	case "nesterov":
		return &SGD{Momentum: momentum, Nesterov: true, WeightDecay: weightDecay}, nil
	case "adam":
		a := NewAdam()
		a.WeightDecay = weightDecay
		return a, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (want sgd, nesterov or adam)", name)
}
