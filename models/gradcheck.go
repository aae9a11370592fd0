package models

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// GradCheckReport is what GradCheck found.
type GradCheckReport struct {
	// Checked is the number of partial derivatives compared.
	Checked int
	// MaxRelError is the largest |analytic − numeric| / max(1, |numeric|).
	MaxRelError float64
	// Worst describes where MaxRelError was seen.
	Worst string
}

// GradCheck verifies a model's hand-written gradients the way
// torch.autograd.gradcheck does: it compiles the model in float64 for the
// given input shapes, draws standard normal inputs and a random cotangent v
// on output 0 (seeded), and compares the VJP vᵀ·∂y/∂w with respect to every
// run-time input and every weight against central differences (step 1e-6)
// on up to 40 elements of each. Exact gradients give relative errors near
// 1e-9; a wrong VJP gives errors of order 1. Non-differentiable points
// (ReLU at 0, ties in Max) are met with probability zero at random inputs.
func GradCheck(model []byte, shapes [][]int, seed uint64) (*GradCheckReport, error) {
	return gradCheck(model, shapes, seed, false)
}

// gradCheck is GradCheck, optionally in training mode (BatchNorm on batch
// statistics; Dropout with a mask fixed across the evaluations).
func gradCheck(model []byte, shapes [][]int, seed uint64, training bool) (*GradCheckReport, error) {
	_, g, err := parseGraph(model, loadOptions{maxElements: 1 << 24})
	if err != nil {
		return nil, err
	}
	p, err := compile[float64](g, compileOptions{inputShapes: shapes, inputGrad: true, paramGrad: true, training: training, maxElements: 1 << 24})
	if err != nil {
		return nil, err
	}
	p.loadParams(g)
	r := rand.New(rand.NewPCG(seed, 7))
	for _, s := range p.inputs {
		for i := range p.data[s] {
			p.data[s][i] = r.NormFloat64()
		}
	}
	out := p.outputs[0]
	v := make([]float64, len(p.data[out]))
	for i := range v {
		v[i] = r.NormFloat64()
	}
	objective := func() float64 {
		p.weightsChanged() // parameters are perturbed in place below
		p.reseed(11)       // the same Dropout mask every time
		p.forward()
		s := 0.0
		for i, y := range p.data[out] {
			s += v[i] * y
		}
		return s
	}
	objective()
	p.zeroGrads()
	copy(p.grad[out], v)
	p.backward(p.seedStep(out))
	var leaves []int
	leaves = append(leaves, p.inputs...)
	for _, s := range p.paramSlot {
		if s >= 0 {
			leaves = append(leaves, s)
		}
	}
	analytic := make([][]float64, len(leaves))
	for i, s := range leaves {
		analytic[i] = append([]float64(nil), p.grad[s]...)
	}
	rep := &GradCheckReport{}
	const h = 1e-6
	for li, s := range leaves {
		data := p.data[s]
		idx := r.Perm(len(data))
		if len(idx) > 40 {
			idx = idx[:40]
		}
		for _, i := range idx {
			old := data[i]
			data[i] = old + h
			fp := objective()
			data[i] = old - h
			fm := objective()
			data[i] = old
			num := (fp - fm) / (2 * h)
			got := analytic[li][i]
			rep.Checked++
			if e := math.Abs(num-got) / max(1, math.Abs(num)); e > rep.MaxRelError || math.IsNaN(e) {
				rep.MaxRelError = e
				rep.Worst = fmt.Sprintf("slot %d (shape %v) element %d: analytic %.9g, finite difference %.9g", s, p.shapes[s], i, got, num)
			}
		}
	}
	return rep, nil
}
