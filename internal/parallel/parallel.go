// Package parallel runs the chunks of a kernel on a fixed pool of worker
// goroutines without allocating, so that compiled programs stay
// allocation-free when they spread a batch over the cores.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var (
	once    sync.Once
	tasks   chan *Group
	workers int
)

func start() {
	workers = max(1, runtime.GOMAXPROCS(0)-1) // the caller works too
	tasks = make(chan *Group, 256)
	for i := 0; i < workers; i++ {
		go func() {
			for g := range tasks {
				g.run()
				g.wg.Done()
			}
		}()
	}
}

// Group runs one parallel loop at a time. Kernels keep one each, so that
// running a loop allocates nothing.
type Group struct {
	wg   sync.WaitGroup
	next atomic.Int64
	n    int64
	f    func(int)
}

func (g *Group) run() {
	for {
		i := g.next.Add(1) - 1
		if i >= g.n {
			return
		}
		g.f(int(i))
	}
}

// For calls f(0), ..., f(n-1) concurrently and returns when all are done.
// The caller and the pool's workers take indices from a shared counter, so
// uneven chunks balance. Which goroutine runs an index is not fixed; the
// work each index does must not depend on it. f should be created once (a
// method value stored at build time): a closure made per call allocates.
func (g *Group) For(n int, f func(int)) {
	if n <= 1 || runtime.GOMAXPROCS(0) == 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	once.Do(start)
	g.f, g.n = f, int64(n)
	g.next.Store(0)
	helpers := min(n-1, workers)
	g.wg.Add(helpers)
	for i := 0; i < helpers; i++ {
		tasks <- g
	}
	g.run()
	g.wg.Wait()
	g.f = nil
}

// Concurrency is the most calls of one For's f that can run at once: the
// pool's workers and the caller. Kernels size per-goroutine scratch by it.
func Concurrency() int {
	once.Do(start)
	return workers + 1
}
