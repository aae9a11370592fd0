package attacks

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/advmatrix/advmatrix/models"
)

// Counted wraps a classifier and counts what an attack asks of it, in
// images (a call on a batch of 32 counts 32), with atomic counters so that
// concurrent callers are counted exactly:
//
//   - Forwards: images the model was run forward on — by Logits, by Grad
//     (which runs the model forward before back-propagating) and by Forward.
//   - Grads: images back-propagated — by Grad, and by the pass opened with
//     Forward (see below).
//
// Seconds is the wall time spent inside the wrapped model's Logits, Grad
// and Forward calls (summed over goroutines, so it can exceed the elapsed
// time when calls overlap).
//
// Forward passes through to the wrapped model when it is a
// models.Forwarder, as *models.Model is, so that fused-logit ensembles
// keep their single forward pass per member: opening a pass counts its
// images as forward evaluations, and each VJP through it as gradient
// evaluations. For a wrapped classifier without Forward, Forward returns
// an error, which would break an ensemble that looks for the method: hand
// attacks c.Classifier(), which is a models.Forwarder exactly when the
// wrapped classifier is.
type Counted struct {
	m       models.Classifier
	fwd     models.Forwarder // nil when m has no Forward
	size    int              // values per image
	forward atomic.Int64
	grads   atomic.Int64
	nanos   atomic.Int64
}

// Count wraps m.
func Count(m models.Classifier) *Counted {
	c := &Counted{m: m, size: 1}
	for _, d := range m.InputShape() {
		c.size *= d
	}
	c.size = max(c.size, 1)
	if f, ok := m.(models.Forwarder); ok {
		c.fwd = f
	}
	return c
}

// Unwrap returns the wrapped classifier.
func (c *Counted) Unwrap() models.Classifier { return c.m }

// InputShape implements models.Classifier.
func (c *Counted) InputShape() []int { return c.m.InputShape() }

// NumClasses implements models.Classifier.
func (c *Counted) NumClasses() int { return c.m.NumClasses() }

// images is the number of whole images in x (what the wrapped model will
// reject if x is not a multiple of one image is its business).
func (c *Counted) images(x []float32) int64 { return int64(len(x) / c.size) }

func (c *Counted) since(t0 time.Time) { c.nanos.Add(int64(time.Since(t0))) }

// Logits implements models.Classifier and counts a forward evaluation per
// image. Failed calls are not counted.
func (c *Counted) Logits(dst, x []float32) error {
	t0 := time.Now()
	err := c.m.Logits(dst, x)
	c.since(t0)
	if err == nil {
		c.forward.Add(c.images(x))
	}
	return err
}

// Grad implements models.Classifier and counts a forward and a gradient
// evaluation per image. Failed calls are not counted.
func (c *Counted) Grad(dx, x []float32, seed func(z, dz []float32)) error {
	t0 := time.Now()
	err := c.m.Grad(dx, x, seed)
	c.since(t0)
	if err == nil {
		n := c.images(x)
		c.forward.Add(n)
		c.grads.Add(n)
	}
	return err
}

// CanForward reports whether the wrapped classifier can hold a pass open.
func (c *Counted) CanForward() bool { return c.fwd != nil }

// Forward opens a pass on the wrapped model and counts a forward
// evaluation per image; VJPs through the pass count gradient evaluations
// (see Counted).
func (c *Counted) Forward(x []float32) (models.Pass, error) {
	if c.fwd == nil {
		return nil, fmt.Errorf("classifier %T cannot hold a forward pass open", c.m)
	}
	t0 := time.Now()
	p, err := c.fwd.Forward(x)
	c.since(t0)
	if err != nil {
		return nil, err
	}
	n := c.images(x)
	c.forward.Add(n)
	return &countedPass{Pass: p, c: c, n: n}, nil
}

// countedPass counts the VJPs through a held pass and their time.
type countedPass struct {
	models.Pass
	c *Counted
	n int64
}

func (p *countedPass) VJP(dx, dz []float32) error {
	t0 := time.Now()
	err := p.Pass.VJP(dx, dz)
	p.c.since(t0)
	if err == nil {
		p.c.grads.Add(p.n)
	}
	return err
}

// Classifier returns c as the classifier to hand to attacks: c itself when
// the wrapped classifier can hold a pass open, otherwise a counting view
// without a Forward method (so that ensembles fall back to Logits and
// Grad, which are counted exactly).
func (c *Counted) Classifier() models.Classifier {
	if c.fwd != nil {
		return c
	}
	return plainCounted{c}
}

// plainCounted is a Counted without Forward.
type plainCounted struct{ c *Counted }

func (p plainCounted) InputShape() []int             { return p.c.InputShape() }
func (p plainCounted) NumClasses() int               { return p.c.NumClasses() }
func (p plainCounted) Logits(dst, x []float32) error { return p.c.Logits(dst, x) }
func (p plainCounted) Grad(dx, x []float32, seed func(z, dz []float32)) error {
	return p.c.Grad(dx, x, seed)
}

// Forwards is the number of images evaluated forward so far.
func (c *Counted) Forwards() int64 { return c.forward.Load() }

// Grads is the number of images back-propagated so far.
func (c *Counted) Grads() int64 { return c.grads.Load() }

// Seconds is the time spent inside the wrapped model so far.
func (c *Counted) Seconds() float64 { return time.Duration(c.nanos.Load()).Seconds() }

// Reset zeroes the counters.
func (c *Counted) Reset() {
	c.forward.Store(0)
	c.grads.Store(0)
	c.nanos.Store(0)
}
