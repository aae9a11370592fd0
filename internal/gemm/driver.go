package gemm

import (
	"math"
	"sync"
	"unsafe"
)

// problem holds one Gemm call together with its blocking plan.
type problem[T float32 | float64] struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	a              []T
	lda            int
	b              []T
	ldb            int
	c              []T
	ldc            int
	kern           *kernel[T]

	kc      int  // depth of each k block; fixed by k alone (see plan)
	directB bool // read B in place rather than packing it

	// The work is cut into nchunk chunks of C, either row ranges
	// (splitM) or column ranges, each chunk a multiple of the register tile.
	splitM  bool
	chunk   int
	nchunk  int
	workers int // goroutines to use
}

// directBMaxPanels is the largest number of mr-row panels of A for which
// a non-transposed B is read in place. Packing B pays off only when each
// packed micro-panel is reused by several A panels; for skinny products
// such as a convolution with few output channels it would double the
// memory traffic. Six panels (36 rows) covers the 16- and 32-channel
// layers of small networks, whose shifted-GEMM convolutions would
// otherwise copy their whole input once per kernel tap (16% of a
// quarter-width ResNet-18's forward pass); beyond that, packing paid in
// measurements.
const directBMaxPanels = 6

// plan chooses the k blocking and how the work is cut into chunks.
//
// The k blocking determines the order in which each element of C is
// accumulated, so it must depend on nothing but k and the kernel: in
// particular not on GOMAXPROCS or on the chunking. Everything else only
// decides who computes which tile and may vary freely.
func (p *problem[T]) plan(serial bool) {
	kn := p.kern
	nb := (p.k + kn.kc - 1) / kn.kc
	p.kc = (p.k + nb - 1) / nb
	p.directB = !p.transB && p.m <= directBMaxPanels*kn.mr

	p.splitM, p.chunk, p.nchunk = false, p.n, 1
	p.workers = 1
	if !serial {
		p.workers = goroutines(p.m, p.n, p.k)
	}
	if p.workers == 1 {
		return
	}
	// Try cutting either dimension into a few chunks per goroutine and
	// keep the plan with the earliest estimated finish. Chunks are
	// claimed dynamically, so a helper that starts late (waking a parked
	// thread can take from microseconds to a scheduler tick) just takes
	// fewer chunks; more chunks therefore finish earlier, but every chunk
	// repacks the operand it does not cut: all of A when cutting n, all of
	// B when cutting m.
	best := math.Inf(1)
	g := float64(p.workers)
	for _, splitM := range []bool{false, true} {
		for per := 1; per <= chunksPerGoroutine; per++ {
			length, unit := p.n, kn.nr
			if splitM {
				length, unit = p.m, kn.mr
			}
			tiles := (length + unit - 1) / unit
			n := min(p.workers*per, tiles)
			chunk := (tiles + n - 1) / n * unit
			n = (length + chunk - 1) / chunk
			cost := p.chunkCost(splitM, chunk)
			// Everyone works until the chunks run out, helpers starting
			// helperDelay late; on average the last chunk overhangs by
			// half a chunk.
			t := (float64(n)*cost+(g-1)*helperDelay)/g + cost/2
			if n < p.workers {
				t = max(t, cost)
			}
			if t < best {
				best = t
				p.splitM, p.chunk, p.nchunk = splitM, chunk, n
			}
		}
	}
}

// chunkCost estimates, in multiply-adds, the time one goroutine spends on
// a chunk of the given length along m (splitM) or n.
func (p *problem[T]) chunkCost(splitM bool, length int) float64 {
	kn := p.kern
	// Rough cost of packing one element, in multiply-adds of the
	// kernel: a straight copy streams at a few elements per cycle, a
	// transposing copy at one or two, while the kernel does dozens of
	// multiply-adds per cycle.
	const copyCost, transCost = 6, 12
	wA, wB := float64(transCost), float64(copyCost)
	if p.transA {
		wA = copyCost
	}
	if p.transB {
		wB = transCost
	}
	if p.directB {
		wB = 0
	}
	m, n, k := float64(p.m), float64(p.n), float64(p.k)
	pad := func(x, unit int) float64 { return float64((x + unit - 1) / unit * unit) }
	if splitM {
		rows := float64(length)
		return rows*pad(p.n, kn.nr)*k + wA*rows*k*math.Ceil(n/float64(kn.nc)) + wB*k*n
	}
	cols := float64(length)
	return pad(p.m, kn.mr)*cols*k + wA*m*k*math.Ceil(cols/float64(kn.nc)) + wB*k*cols
}

// chunkBounds returns the row and column ranges of chunk i.
func (p *problem[T]) chunkBounds(i int) (m0, m1, n0, n1 int) {
	lo := i * p.chunk
	if p.splitM {
		return lo, min(lo+p.chunk, p.m), 0, p.n
	}
	return 0, p.m, lo, min(lo+p.chunk, p.n)
}

// workspace holds the packing buffers of one goroutine.
type workspace[T float32 | float64] struct {
	ap, bp, tile []T
}

// Free workspaces: [0] holds *workspace[float32], [1] *workspace[float64].
var freeWorkspaces [2]freeList

func getWorkspace[T float32 | float64](kn *kernel[T]) *workspace[T] {
	w := (*workspace[T])(freeWorkspaces[poolIndex[T]()].get())
	if w.fits(kn) {
		return w
	}
	return newWorkspace(kn)
}

// fits reports whether w is large enough for kernel kn. Only tests switch
// kernels, but checking is cheap.
func (w *workspace[T]) fits(kn *kernel[T]) bool {
	return w != nil && len(w.ap) >= kn.mc*kn.kc+packSlack && len(w.bp) >= kn.kc*kn.nc+packSlack && len(w.tile) >= kn.mr*kn.nr
}

func newWorkspace[T float32 | float64](kn *kernel[T]) *workspace[T] {
	return &workspace[T]{
		ap:   make([]T, kn.mc*kn.kc+packSlack),
		bp:   make([]T, kn.kc*kn.nc+packSlack),
		tile: make([]T, kn.mr*kn.nr),
	}
}

func putWorkspace[T float32 | float64](w *workspace[T]) {
	freeWorkspaces[poolIndex[T]()].put(unsafe.Pointer(w))
}

// A freeList is a stack of reusable objects.
//
// It is used instead of sync.Pool because a pool's per-P caches miss
// whenever the calling goroutine has migrated to another P since it last
// returned an object, and a miss here means allocating megabytes of
// packing buffers. The price is that buffers are never released; their
// number is bounded by the peak number of concurrent Gemm calls.
type freeList struct {
	mu    sync.Mutex
	items []unsafe.Pointer
}

func (l *freeList) get() unsafe.Pointer {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.items)
	if n == 0 {
		return nil
	}
	p := l.items[n-1]
	l.items[n-1] = nil
	l.items = l.items[:n-1]
	return p
}

func (l *freeList) put(p unsafe.Pointer) {
	l.mu.Lock()
	l.items = append(l.items, p)
	l.mu.Unlock()
}

func poolIndex[T float32 | float64]() int {
	var zero T
	return int(unsafe.Sizeof(zero)) / 8
}

// compute runs the blocked algorithm on rows [m0,m1) and columns [n0,n1)
// of C. Loop order and blocking follow BLIS: an nc-wide block of B and an
// mc×kc block of A are packed, and the macro-kernel sweeps micro-panels of
// B (kept in L1) against micro-panels of A (streamed from L2).
func (p *problem[T]) compute(w *workspace[T], m0, m1, n0, n1 int) {
	kn := p.kern
	ncMax := kn.nc
	if p.directB {
		// Only the ragged last column panel is packed, so there is no
		// reason to cut n.
		ncMax = n1 - n0
	}
	mcMax := balance(m1-m0, kn.mc, kn.mr)
	for jc := n0; jc < n1; jc += ncMax {
		nc := min(ncMax, n1-jc)
		for pc := 0; pc < p.k; pc += p.kc {
			kc := min(p.kc, p.k-pc)
			beta, loadC := p.beta, 1
			if pc > 0 {
				beta = 1
			} else if beta == 0 {
				loadC = 0
			}
			p.packB(w.bp, pc, kc, jc, nc)
			// While the first row block is computed, pull the next block
			// of B toward the cache so that packing it does not stall on
			// memory.
			var next prefetch
			if !p.directB {
				if pc+kc < p.k {
					next = p.prefetchB(pc+kc, min(p.kc, p.k-pc-kc), jc, nc)
				} else if jc+nc < n1 {
					next = p.prefetchB(0, min(p.kc, p.k), jc+nc, min(ncMax, n1-jc-nc))
				}
			}
			for ic := m0; ic < m1; ic += mcMax {
				mc := min(mcMax, m1-ic)
				p.packA(w.ap, ic, mc, pc, kc)
				p.macro(w, ic, mc, jc, nc, pc, kc, beta, loadC, &next)
				next.rows = 0
			}
		}
	}
}

// A prefetch describes rows of B to be prefetched during a macro-kernel.
type prefetch struct {
	base     unsafe.Pointer
	stride   int // bytes between rows
	rowBytes int
	rows     int
}

// prefetchB returns the rows of stored B that packB will read for the
// block at rows [p0,p0+kc) and columns [j0,j0+nc) of op(B).
func (p *problem[T]) prefetchB(p0, kc, j0, nc int) prefetch {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if p.transB {
		return prefetch{unsafe.Pointer(&p.b[j0*p.ldb+p0]), p.ldb * size, kc * size, nc}
	}
	return prefetch{unsafe.Pointer(&p.b[p0*p.ldb+j0]), p.ldb * size, nc * size, kc}
}

// balance returns a block size no larger than max (rounded to a multiple
// of unit) that splits length into nearly equal blocks.
func balance(length, maxBlock, unit int) int {
	nb := (length + maxBlock - 1) / maxBlock
	b := (length + nb - 1) / nb
	return (b + unit - 1) / unit * unit
}

// macro multiplies the packed mc×kc block of A by the kc×nc block of B
// into C[ic:ic+mc, jc:jc+nc].
func (p *problem[T]) macro(w *workspace[T], ic, mc, jc, nc, pc, kc int, beta T, loadC int, next *prefetch) {
	kn := p.kern
	mr, nr := kn.mr, kn.nr
	fn := kn.fn
	alpha, c, ldc := p.alpha, p.c, p.ldc
	npanels := (nc + nr - 1) / nr
	for jr := 0; jr < nc; jr += nr {
		if next.rows > 0 {
			// Spread the prefetches evenly over the column panels.
			q := jr / nr
			r0, r1 := q*next.rows/npanels, (q+1)*next.rows/npanels
			prefetchRows(unsafe.Add(next.base, r0*next.stride), next.stride, next.rowBytes, r1-r0)
		}
		nrr := min(nr, nc-jr)
		// For a ragged column panel use the narrowest kernel that
		// covers it; packB packed that panel at this width.
		colFn, width := fn, nr
		if nrr < nr {
			colFn, width = kn.raggedWidth(nrr)
		}
		var bptr *T
		ldb := width
		switch {
		case !p.directB:
			bptr = &w.bp[jr*kc]
		case nrr == nr:
			bptr = &p.b[pc*p.ldb+jc+jr]
			ldb = p.ldb
		default:
			bptr = &w.bp[0] // packB packed only the ragged panel
		}
		for ir := 0; ir < mc; ir += mr {
			mrr := min(mr, mc-ir)
			aptr := &w.ap[ir*kc]
			ci := (ic+ir)*ldc + jc + jr
			if nrr == width {
				if mrr == mr {
					colFn(kc, aptr, bptr, ldb, &c[ci], ldc, alpha, beta, loadC)
					continue
				}
				if width == nr && mrr < len(kn.rows) && kn.rows[mrr] != nil {
					kn.rows[mrr](kc, aptr, bptr, ldb, &c[ci], ldc, alpha, beta, loadC)
					continue
				}
			}
			// Ragged edge: run a kernel on a full-size scratch tile so
			// that edge elements are rounded exactly like interior ones.
			t := w.tile
			if loadC != 0 {
				for i := 0; i < mrr; i++ {
					copy(t[i*nr:i*nr+nrr], c[ci+i*ldc:ci+i*ldc+nrr])
				}
			}
			colFn(kc, aptr, bptr, ldb, &t[0], nr, alpha, beta, loadC)
			for i := 0; i < mrr; i++ {
				copy(c[ci+i*ldc:ci+i*ldc+nrr], t[i*nr:i*nr+nrr])
			}
		}
	}
}
