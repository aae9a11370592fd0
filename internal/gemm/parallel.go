package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// minWorkPerGoroutine is the number of multiply-adds below which adding a
// goroutine does not pay: handing over work costs about a microsecond
// when the helper is awake (and much more when it must be woken), in
// which the assembly kernels do a hundred thousand multiply-adds or more,
// and the split chunks each repack part of the operands.
const minWorkPerGoroutine = 1 << 19

// chunksPerGoroutine is the most chunks per goroutine the planner
// considers. Several chunks per goroutine let the others take over when
// a helper starts late or its core is busy with something else.
const chunksPerGoroutine = 4

// helperDelay is the typical delay, in multiply-adds of the calling
// goroutine, before a helper starts working, used by the planner.
const helperDelay = 4 << 20

// goroutines returns how many goroutines an m×n×k product deserves.
func goroutines(m, n, k int) int {
	work := m * n * k
	if work < 2*minWorkPerGoroutine {
		return 1 // skip even the GOMAXPROCS call
	}
	return max(1, min(runtime.GOMAXPROCS(0), work/minWorkPerGoroutine))
}

// A task is a call whose chunks helpers may join in computing.
type task interface {
	hasWork() bool
	join()          // register a helper; called with offers locked
	help(h *helper) // compute chunks, then unregister
}

// offers lists the calls that accept help. Helpers join a call under the
// lock, and the caller withdraws its call under the lock before waiting
// for the helpers that joined, so no helper can touch a call after it has
// been recycled.
var offers struct {
	mu    sync.Mutex
	tasks []task
	n     atomic.Int32 // len(tasks), read without the lock
}

// wake wakes parked helpers. It is unbuffered so that a send succeeds
// only if a helper is parked right now.
var wake = make(chan struct{})

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
			go helperLoop()
		}
	}
}

func helperLoop() {
	var h helper
	for {
		if t := claim(); t != nil {
			t.help(&h)
			continue
		}
		// Nothing to do: park. Spinning would keep a wake-up off the next
		// product's critical path, but it burns a core that the engine's
		// own parallel loops (and other processes) want.
		<-wake
	}
}

// claim joins an offered call that still has unclaimed chunks.
func claim() task {
	if offers.n.Load() == 0 {
		return nil
	}
	offers.mu.Lock()
	defer offers.mu.Unlock()
	for _, t := range offers.tasks {
		if t.hasWork() {
			t.join()
			return t
		}
	}
	return nil
}

func offer(t task) {
	offers.mu.Lock()
	offers.tasks = append(offers.tasks, t)
	offers.n.Store(int32(len(offers.tasks)))
	offers.mu.Unlock()
}

func withdraw(t task) {
	offers.mu.Lock()
	for i, u := range offers.tasks {
		if u == t {
			last := len(offers.tasks) - 1
			offers.tasks[i] = offers.tasks[last]
			offers.tasks[last] = nil
			offers.tasks = offers.tasks[:last]
			break
		}
	}
	offers.n.Store(int32(len(offers.tasks)))
	offers.mu.Unlock()
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

func (c *call[T]) hasWork() bool { return int(c.next.Load()) < c.p.nchunk }

func (c *call[T]) join() { c.pending.Add(1) }

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
	offer(c)
	// Wake parked helpers; busy ones find the offer when they finish.
	for range nh {
		select {
		case wake <- struct{}{}:
			continue
		default:
		}
		break
	}
	w := getWorkspace(p.kern)
	c.work(w)
	putWorkspace(w)
	withdraw(c)
	// All chunks are claimed; wait for the helpers that joined to finish
	// theirs. That takes at most about one chunk, so yield rather than
	// block: blocking would hand the runtime a sudog to recycle on another
	// P, which allocates now and then.
	for c.pending.Load() != 0 {
		runtime.Gosched()
	}
	c.p = problem[T]{} // drop references to the caller's slices
	free.put(unsafe.Pointer(c))
}
