package gemm

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// minWorkPerGoroutine is the number of multiply-adds below which adding a
// goroutine does not pay for waking it (a few microseconds).
const minWorkPerGoroutine = 1 << 19

// chunksPerGoroutine is the most chunks per goroutine the planner
// considers. Several chunks per goroutine let the others take over when
// a helper starts late or its core is busy with something else.
const chunksPerGoroutine = 3

// goroutines returns how many goroutines an m×n×k product deserves.
func goroutines(m, n, k int) int {
	work := m * n * k
	if work < 2*minWorkPerGoroutine {
		return 1 // skip even the GOMAXPROCS call
	}
	return max(1, min(runtime.GOMAXPROCS(0), work/minWorkPerGoroutine))
}

// A task is work handed to an idle helper goroutine.
type task interface{ help(h *helper) }

// tasks carries work to the helpers. It is unbuffered so that a send
// succeeds only if a helper is idle right now; otherwise the caller simply
// does the work itself instead of queueing behind other calls.
var tasks = make(chan task)

var nhelpers atomic.Int32

// helper is the private state of a helper goroutine: its own workspaces,
// one per element type.
type helper struct {
	ws [2]unsafe.Pointer // *workspace[float32], *workspace[float64]
}

// startHelpers makes sure at least n helper goroutines exist. Helpers live
// for the rest of the process; each costs a parked goroutine and its
// packing buffers.
func startHelpers(n int) {
	for {
		h := nhelpers.Load()
		if int(h) >= n {
			return
		}
		if nhelpers.CompareAndSwap(h, h+1) {
			go func() {
				var h helper
				for t := range tasks {
					t.help(&h)
				}
			}()
		}
	}
}

// A call is a Gemm whose chunks are being shared by several goroutines.
// Chunks are claimed dynamically; since every chunk is computed the same
// way no matter who claims it, the result does not depend on the claiming
// order.
type call[T float32 | float64] struct {
	p       problem[T]
	next    atomic.Int64 // next unclaimed chunk
	pending atomic.Int32 // helpers that have not finished
}

// Free calls: [0] holds *call[float32], [1] *call[float64].
var freeCalls [2]freeList

func (c *call[T]) help(h *helper) {
	slot := &h.ws[poolIndex[T]()]
	w := (*workspace[T])(*slot)
	if !w.fits(c.p.kern) {
		w = newWorkspace(c.p.kern)
		*slot = unsafe.Pointer(w)
	}
	c.work(w)
	c.pending.Add(-1) // c must not be touched after this
}

// work computes chunks until none are left.
func (c *call[T]) work(w *workspace[T]) {
	p := &c.p
	for {
		i := int(c.next.Add(1) - 1)
		if i >= p.nchunk {
			return
		}
		m0, m1, n0, n1 := p.chunkBounds(i)
		p.compute(w, m0, m1, n0, n1)
	}
}

// run executes a planned problem, in parallel if it has several chunks.
func run[T float32 | float64](p *problem[T]) {
	if p.nchunk == 1 {
		w := getWorkspace(p.kern)
		p.compute(w, 0, p.m, 0, p.n)
		putWorkspace(w)
		return
	}
	free := &freeCalls[poolIndex[T]()]
	c := (*call[T])(free.get())
	if c == nil {
		c = new(call[T])
	}
	c.p = *p
	c.next.Store(0)
	nh := min(p.workers, p.nchunk) - 1
	startHelpers(nh)
	for range nh {
		c.pending.Add(1)
		select {
		case tasks <- c:
			continue
		default:
		}
		// Every helper is busy: no point trying the others.
		c.pending.Add(-1)
		break
	}
	w := getWorkspace(p.kern)
	c.work(w)
	putWorkspace(w)
	// All chunks are claimed; wait for the helpers to finish theirs. That
	// takes at most about one chunk, so yield rather than block: blocking
	// would hand the runtime a sudog to recycle on another P, which
	// allocates now and then, and Gosched also lets a helper that was
	// queued on this P run.
	for c.pending.Load() != 0 {
		runtime.Gosched()
	}
	c.p = problem[T]{} // drop references to the caller's slices
	free.put(unsafe.Pointer(c))
}
