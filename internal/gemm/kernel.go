package gemm

// A kernel describes a register-blocked micro-kernel together with the
// cache-blocking parameters tuned for it.
//
// fn computes an mr×nr tile
//
//	C = alpha*(Ap*Bp) + beta*C   (C is not read when loadC == 0)
//
// where Ap is a packed kc×mr micro-panel of op(A) (element (i,p) at
// a[p*mr+i]) and Bp is a kc×nr micro-panel of op(B) whose rows are ldb
// elements apart (element (p,j) at b[p*ldb+j]). Letting ldb vary allows
// the kernel to read a non-transposed B in place instead of packing it.
// ldc is the row stride of C. kc is at least 1.
//
// Every element of C passes through exactly the same instruction sequence
// whatever tile it belongs to, which is what makes the results independent
// of how the work is split.
type kernel[T float32 | float64] struct {
	name   string
	mr, nr int // register tile
	kc     int // maximum depth of a packed panel; B micro-panel should fit in L1
	mc     int // rows of A packed at once (multiple of mr); should fit in L2
	nc     int // columns of B packed at once (multiple of nr); should fit in L3
	fn     func(kc int, a, b *T, ldb int, c *T, ldc int, alpha, beta T, loadC int)

	// rows[r], if present and not nil, is a variant of fn that computes
	// and stores only the first r rows of the tile, for the ragged last
	// row panel. It must round exactly like fn.
	rows []func(kc int, a, b *T, ldb int, c *T, ldc int, alpha, beta T, loadC int)

	// cols[v], if present and not nil, is a variant of fn that computes
	// only the first v*colUnit columns of the tile, for the ragged last
	// column panel. It must round exactly like fn.
	cols    []func(kc int, a, b *T, ldb int, c *T, ldc int, alpha, beta T, loadC int)
	colUnit int
}

// raggedWidth returns the narrowest kernel variant covering a ragged last
// panel of cols < nr columns, and its width (nr when there is none).
func (kn *kernel[T]) raggedWidth(cols int) (func(kc int, a, b *T, ldb int, c *T, ldc int, alpha, beta T, loadC int), int) {
	if kn.colUnit > 0 {
		if v := (cols + kn.colUnit - 1) / kn.colUnit; v < len(kn.cols) && kn.cols[v] != nil {
			return kn.cols[v], v * kn.colUnit
		}
	}
	return kn.fn, kn.nr
}

// The kernels in use; set at init time by the architecture-specific files.
var (
	kernel32 *kernel[float32]
	kernel64 *kernel[float64]
)

// A kernelSet pairs the float32 and float64 kernels for one instruction
// set.
type kernelSet struct {
	k32 *kernel[float32]
	k64 *kernel[float64]
}

// usableKernels lists every kernel set this CPU can run, best first. The
// first one is used; tests run them all.
var usableKernels []kernelSet

// useKernels installs usable kernel sets (with the portable ones last) and
// selects the first.
func useKernels(sets ...kernelSet) {
	usableKernels = append(sets, goKernels()...)
	kernel32, kernel64 = usableKernels[0].k32, usableKernels[0].k64
}
