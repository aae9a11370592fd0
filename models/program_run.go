package models

import "fmt"

// setInput copies caller data into input slot i (never aliasing it, so the
// engine cannot write into a caller's buffer).
func (p *program[T]) setInput(i int, x []T) error {
	s := p.inputs[i]
	if s < 0 {
		return nil
	}
	if len(x) != len(p.data[s]) {
		return fmt.Errorf("input %d has %d values, shape %v needs %d", i, len(x), p.shapes[s], len(p.data[s]))
	}
	copy(p.data[s], x)
	return nil
}

// output returns the buffer of graph output i (owned by the program).
func (p *program[T]) output(i int) []T {
	if s := p.outputs[i]; s >= 0 {
		return p.data[s]
	}
	return nil
}

// seedStep returns the index of the step that produces slot s, or -1.
func (p *program[T]) seedStep(s int) int {
	if s < 0 {
		return -1
	}
	return p.producer[s]
}
