package models

import "fmt"

// Pass is a forward pass held open for backward passes: attacks that fuse
// the logits of several models (ensemble logit averaging, AdaEA, CWA) need
// every model's logits before they can seed any model's backward pass.
// A Pass is not safe for concurrent use.
type Pass interface {
	// Logits are the pass's n×classes logits, owned by the pass: valid
	// until Close, and not to be modified.
	Logits() []float32
	// VJP writes (∂logits/∂x)ᵀ dz into dx. It may be called several times.
	VJP(dx, dz []float32) error
	// Close releases the pass.
	Close()
}

// Forwarder is a Classifier that can hold a forward pass open for several
// VJPs, as *Model does. It is optional, like io.WriterTo: ensembles use it
// when a member has it (one forward pass per member and step) and fall
// back to Logits and Grad otherwise, so wrappers may provide or omit it.
type Forwarder interface {
	Classifier
	Forward(x []float32) (Pass, error)
}

// heldPass is *Model's Pass: it holds one compiled program, returned to
// the model by Close.
type heldPass struct {
	m  *Model
	p  *program[float32]
	n  int
	dx int // input slot
}

// Forward runs the model on x and keeps the pass for VJP calls.
func (m *Model) Forward(x []float32) (Pass, error) {
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
	return &heldPass{m: m, p: p, n: n, dx: p.inputs[0]}, nil
}

// Logits implements Pass.
func (ps *heldPass) Logits() []float32 { return ps.p.output(0) }

// VJP implements Pass.
func (ps *heldPass) VJP(dx, dz []float32) error {
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

// Close implements Pass.
func (ps *heldPass) Close() {
	if ps.p != nil {
		ps.m.checkin(ps.n, modeInputGrad, ps.p)
		ps.p = nil
	}
}

// LogitsInBatches writes the logits of the images of x into dst, running
// m on at most batch images at a time, so that memory stays bounded
// however many images there are.
func LogitsInBatches(m Classifier, dst, x []float32, batch int) error {
	size := 1
	for _, d := range m.InputShape() {
		size *= d
	}
	k := m.NumClasses()
	if size <= 0 || len(x)%size != 0 {
		return fmt.Errorf("%d values are not whole images of %v", len(x), m.InputShape())
	}
	n := len(x) / size
	if len(dst) != n*k {
		return fmt.Errorf("logits buffer has %d values, %d images need %d", len(dst), n, n*k)
	}
	batch = max(batch, 1)
	for i := 0; i < n; i += batch {
		j := min(n, i+batch)
		if err := m.Logits(dst[i*k:j*k], x[i*size:j*size]); err != nil {
			return fmt.Errorf("images %d-%d: %w", i, j-1, err)
		}
	}
	return nil
}
