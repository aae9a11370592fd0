package models

import "fmt"

// Pass is a forward pass held open for backward passes: attacks that fuse
// the logits of several models (ensemble logit averaging, AdaEA, CWA) need
// every model's logits before they can seed any model's backward pass.
// A Pass holds one compiled program; Close returns it. A Pass is not safe
// for concurrent use.
type Pass struct {
	m  *Model
	p  *program[float32]
	n  int
	dx int // input slot
}

// Forward runs the model on x and keeps the pass for VJP calls.
func (m *Model) Forward(x []float32) (*Pass, error) {
	n, err := m.batchOf(x)
	if err != nil {
		return nil, err
	}
	p, err := m.checkout(n, modeInputGrad)
	if err != nil {
		return nil, err
	}
	p.setInput(0, x)
	p.forward()
	return &Pass{m: m, p: p, n: n, dx: p.inputs[0]}, nil
}

// Logits are the pass's n×classes logits, owned by the pass: valid until
// Close, and not to be modified.
func (ps *Pass) Logits() []float32 { return ps.p.output(0) }

// VJP writes (∂logits/∂x)ᵀ dz into dx. It may be called several times.
func (ps *Pass) VJP(dx, dz []float32) error {
	if ps.p == nil {
		return fmt.Errorf("VJP on a closed pass")
	}
	out := ps.p.outputs[0]
	if len(dz) != len(ps.p.data[out]) {
		return fmt.Errorf("cotangent has %d values, logits have %d", len(dz), len(ps.p.data[out]))
	}
	if len(dx) != len(ps.p.data[ps.dx]) {
		return fmt.Errorf("gradient buffer has %d values, input has %d", len(dx), len(ps.p.data[ps.dx]))
	}
	ps.p.zeroGrads()
	copy(ps.p.grad[out], dz)
	ps.p.backward(ps.p.seedStep(out))
	copy(dx, ps.p.grad[ps.dx])
	return nil
}

// Close releases the pass.
func (ps *Pass) Close() {
	if ps.p != nil {
		ps.m.checkin(ps.n, modeInputGrad, ps.p)
		ps.p = nil
	}
}
