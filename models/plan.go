package models

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"
)

// Buffer planning. A program's tensors and their gradients live in one
// arena; buffers whose lifetimes do not overlap share memory.
//
// Lifetimes are measured on a timeline of 2·S points for S steps: step i
// runs forward at time i and backward at time 2S−1−i. A tensor's values
// live from the step producing them to the last step reading them; if any
// backward step reads them they live to the end, since a Pass may run
// backward several times after one forward pass. A gradient lives from
// the backward step of its last consumer, which is the first to add into
// it (the buffer is cleared just before), to the backward step of its
// producer, which reads it. Inputs, outputs, parameters and their
// gradients are pinned: callers read and write them between calls.

// DefaultMaxActivationBytes bounds the memory a compiled program may plan
// for its tensors, gradients and kernel scratch: 2 GiB, ten times what a
// full-width ResNet-18 needs on 32×32 images at batch 128 with gradients,
// while a tiny file declaring a huge input fails before allocating.
const DefaultMaxActivationBytes = 2 << 30

// WithMaxActivationBytes changes the bound on the memory planned for one
// compiled program (tensors, gradients, kernel scratch) at any batch size;
// see DefaultMaxActivationBytes.
func WithMaxActivationBytes(n int64) Option {
	return func(o *loadOptions) { o.maxActivationBytes = n }
}

// backwardReader is a kernel whose backward pass reads only some of its
// operands, so the planner can free the others after the forward pass.
// gradIn[j] tells whether input j's gradient is wanted.
type backwardReader interface {
	backwardReads(gradIn []bool) (ins, outs []bool)
}

// scratchUser is a kernel that needs working memory only while one of its
// calls runs. Steps run one at a time, so all such kernels share one
// buffer, as large as the largest request.
type scratchUser[T Float] interface {
	scratchSize() int // elements
	setScratch(buf []T)
}

// A buffer is a run-time tensor's values or its gradient, with the slots
// (a tensor and its views) that use it.
type buffer struct {
	slot       int // the tensor that owns it
	grad       bool
	size       int // elements
	start, end int // inclusive lifetime on the planning timeline
	pinned     bool
	offset     int
}

// planMemory assigns every run-time tensor and gradient a place in one
// arena and returns the arena's size; root maps a view's slot to the slot
// whose memory it shares, pinned marks slots the caller reads or writes
// between calls, and gradWanted the slots that have gradients.
func (p *program[T]) planMemory(root []int, size []int, pinned, gradWanted []bool, keepAll bool) []*buffer {
	S := len(p.steps)
	end := 2 * S
	data := make([]*buffer, len(root))
	grads := make([]*buffer, len(root))
	for s := range root {
		if root[s] != s { // views share their source's buffers
			continue
		}
		if p.data[s] == nil { // constants and parameters have their own
			data[s] = &buffer{slot: s, size: size[s], start: end, end: -1, pinned: pinned[s] || keepAll}
		}
		if gradWanted[s] {
			grads[s] = &buffer{slot: s, grad: true, size: size[s], start: end, end: -1, pinned: pinned[s] || keepAll}
		}
	}
	touch := func(b *buffer, t int) {
		if b != nil {
			b.start, b.end = min(b.start, t), max(b.end, t)
		}
	}
	for i, st := range p.steps {
		bt := 2*S - 1 - i
		gradIn := make([]bool, len(st.in))
		for j, s := range st.in {
			gradIn[j] = s >= 0 && gradWanted[s]
		}
		readIns, readOuts := allTrue(len(st.in)), allTrue(len(st.out))
		if br, ok := st.k.(backwardReader); ok {
			readIns, readOuts = br.backwardReads(gradIn)
		}
		for j, s := range st.in {
			if s < 0 {
				continue
			}
			r := root[s]
			touch(data[r], i)
			if st.needBack && readIns[j] {
				touch(data[r], end)
			}
			if st.needBack && gradIn[j] {
				touch(grads[r], bt)
			}
		}
		for j, s := range st.out {
			if s < 0 {
				continue
			}
			r := root[s]
			touch(data[r], i)
			if st.needBack && readOuts[j] {
				touch(data[r], end)
			}
			if st.needBack {
				touch(grads[r], bt)
			}
		}
	}
	var bufs []*buffer
	for _, l := range [][]*buffer{data, grads} {
		for _, b := range l {
			if b == nil {
				continue
			}
			if b.pinned || b.end < b.start {
				b.start, b.end = 0, end
			}
			bufs = append(bufs, b)
		}
	}
	// Largest first, each at the lowest offset that does not collide with
	// an already placed buffer whose lifetime overlaps its own: the greedy
	// order that packs activation arenas tightly in practice.
	order := slices.Clone(bufs)
	slices.SortStableFunc(order, func(a, b *buffer) int { return b.size - a.size })
	var placed []*buffer
	for _, b := range order {
		var busy [][2]int
		for _, o := range placed {
			if o.start <= b.end && b.start <= o.end {
				busy = append(busy, [2]int{o.offset, o.offset + o.size})
			}
		}
		slices.SortFunc(busy, func(x, y [2]int) int { return x[0] - y[0] })
		off := 0
		for _, r := range busy {
			if off+b.size <= r[0] {
				break
			}
			off = max(off, alignUp(r[1]))
		}
		b.offset = off
		placed = append(placed, b)
	}
	return bufs
}

func allTrue(n int) []bool {
	v := make([]bool, n)
	for i := range v {
		v[i] = true
	}
	return v
}

// alignUp rounds an offset in elements up to 64 bytes for any T.
func alignUp(n int) int { return (n + 15) &^ 15 }

// arenaSize is the extent of the placed buffers.
func arenaSize(bufs []*buffer) int {
	n := 0
	for _, b := range bufs {
		n = max(n, alignUp(b.offset+b.size))
	}
	return n
}

// checkBudget refuses a plan larger than limit bytes, naming the largest
// tensors so that the user sees which layer (or which input size) it is.
func (p *program[T]) checkBudget(bufs []*buffer, arena, scratch int, limit int64) error {
	var zero T
	elem := int64(unsafe.Sizeof(zero))
	total := (int64(arena) + int64(scratch)) * elem
	if total <= limit {
		return nil
	}
	names := make(map[int]string, len(p.names))
	for name, s := range p.names {
		if old, ok := names[s]; !ok || name < old {
			names[s] = name
		}
	}
	big := slices.Clone(bufs)
	slices.SortStableFunc(big, func(a, b *buffer) int { return b.size - a.size })
	var parts []string
	for _, b := range big[:min(3, len(big))] {
		what := fmt.Sprintf("%q %v", names[b.slot], p.shapes[b.slot])
		if b.grad {
			what = "gradient of " + what
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", what, byteSize(int64(b.size)*elem)))
	}
	if scratch > 0 {
		parts = append(parts, fmt.Sprintf("kernel scratch (%s)", byteSize(int64(scratch)*elem)))
	}
	return fmt.Errorf("the model needs %s of tensors at this batch size, more than the limit of %s; largest: %s (use a smaller batch, or raise the limit with WithMaxActivationBytes)",
		byteSize(total), byteSize(limit), strings.Join(parts, ", "))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
