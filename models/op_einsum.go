package models

import (
	"slices"
	"strings"
)

func init() {
	register("Einsum", 12, nil, buildEinsum[float32], buildEinsum[float64])
}

// Einsum. A two-operand contraction whose labels split cleanly into batch
// labels (in both operands and the output), row labels (first operand and
// output), column labels (second operand and output) and contracted labels
// (both operands, not the output) — every einsum attention uses, such as
// MaxViT's "bghid,bghjd->bghij" — runs as a batch of GEMMs, reading the
// operands in place when their layout allows (possibly transposed) and
// rearranging them otherwise. Anything else (one or three operands,
// diagonals like "ii->i", a label summed out of a single operand, ellipsis
// dimensions broadcast from 1) runs as a loop over the whole index space.

// einsumSpec is a parsed equation: per operand and for the output, one
// label id per axis.
type einsumSpec struct {
	ops   [][]int
	out   []int
	sizes []int // per label
}

const einsumLetters = 52 // a–z, A–Z; ellipsis dimensions get ids from here on

// einsumMaxPoints bounds the index space of an equation evaluated as a loop.
const einsumMaxPoints = 1 << 30

func labelID(r byte) int {
	switch {
	case r >= 'a' && r <= 'z':
		return int(r - 'a')
	case r >= 'A' && r <= 'Z':
		return 26 + int(r-'A')
	}
	return -1
}

func parseEinsum(c *buildCtx, eq string, shapes [][]int) (*einsumSpec, error) {
	eq = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' {
			return -1
		}
		return r
	}, eq)
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(shapes) {
		return nil, c.errorf("equation %q has %d operands, the node %d inputs", eq, len(terms), len(shapes))
	}
	// Each term: letters before and after an optional ellipsis.
	type term struct {
		pre, post []int
		ell       bool
	}
	parse := func(s string) (term, error) {
		var t term
		before, after, ell := strings.Cut(s, "...")
		if ell && strings.Contains(after, "...") {
			return t, c.errorf("equation %q has two ellipses in one term", eq)
		}
		t.ell = ell
		for i, part := range []string{before, after} {
			for j := 0; j < len(part); j++ {
				id := labelID(part[j])
				if id < 0 {
					return t, c.errorf("equation %q: %q is not a label", eq, part[j])
				}
				if i == 0 {
					t.pre = append(t.pre, id)
				} else {
					t.post = append(t.post, id)
				}
			}
		}
		return t, nil
	}
	sp := &einsumSpec{sizes: make([]int, einsumLetters)}
	for i := range sp.sizes {
		sp.sizes[i] = -1
	}
	ellDims := 0
	var parsed []term
	for i, s := range terms {
		t, err := parse(s)
		if err != nil {
			return nil, err
		}
		named := len(t.pre) + len(t.post)
		r := len(shapes[i])
		switch {
		case t.ell && r < named, !t.ell && r != named:
			return nil, c.errorf("equation term %q does not fit input %d of shape %v", s, i, shapes[i])
		case t.ell:
			ellDims = max(ellDims, r-named)
		}
		parsed = append(parsed, t)
	}
	for range ellDims {
		sp.sizes = append(sp.sizes, 1)
	}
	count := make([]int, len(sp.sizes))
	for i, t := range parsed {
		shape := shapes[i]
		var ids []int
		ids = append(ids, t.pre...)
		if t.ell {
			e := len(shape) - len(t.pre) - len(t.post)
			for j := 0; j < e; j++ {
				ids = append(ids, einsumLetters+ellDims-e+j)
			}
		}
		ids = append(ids, t.post...)
		for ax, id := range ids {
			d := shape[ax]
			if id >= einsumLetters {
				// Ellipsis dimensions broadcast.
				if sp.sizes[id] != 1 && d != 1 && d != sp.sizes[id] {
					return nil, c.errorf("equation %q: ellipsis dimensions of %v do not broadcast", eq, shape)
				}
				if d != 1 {
					sp.sizes[id] = d
				}
			} else {
				if sp.sizes[id] >= 0 && sp.sizes[id] != d {
					return nil, c.errorf("equation %q: label %c has sizes %d and %d", eq, labelRune(id), sp.sizes[id], d)
				}
				sp.sizes[id] = d
			}
			count[id]++
		}
		sp.ops = append(sp.ops, ids)
	}
	if explicit {
		t, err := parse(rhs)
		if err != nil {
			return nil, err
		}
		// Ellipsis dimensions left out of an explicit output are summed.
		sp.out = append(sp.out, t.pre...)
		if t.ell {
			for j := 0; j < ellDims; j++ {
				sp.out = append(sp.out, einsumLetters+j)
			}
		}
		sp.out = append(sp.out, t.post...)
		seen := map[int]bool{}
		for _, id := range sp.out {
			if seen[id] {
				return nil, c.errorf("equation %q: output label %c repeats", eq, labelRune(id))
			}
			seen[id] = true
			if count[id] == 0 {
				return nil, c.errorf("equation %q: output label %c is in no input", eq, labelRune(id))
			}
		}
	} else {
		// Implicit output: the ellipsis dimensions, then the labels used
		// once, in alphabetical order.
		for j := 0; j < ellDims; j++ {
			sp.out = append(sp.out, einsumLetters+j)
		}
		var once []int
		for id := 0; id < einsumLetters; id++ {
			if count[id] == 1 {
				once = append(once, id)
			}
		}
		// ONNX (numpy) orders upper case before lower case.
		slices.SortFunc(once, func(a, b int) int { return int(labelRune(a)) - int(labelRune(b)) })
		sp.out = append(sp.out, once...)
	}
	return sp, nil
}

func labelRune(id int) rune {
	switch {
	case id < 26:
		return rune('a' + id)
	case id < einsumLetters:
		return rune('A' + id - 26)
	}
	return '.'
}

func buildEinsum[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(1, len(c.in)); err != nil {
		return nil, err
	}
	if err := c.noneAbsent(); err != nil {
		return nil, err
	}
	eq, err := c.attrString("equation", "")
	if err != nil {
		return nil, err
	}
	if eq == "" {
		return nil, c.errorf("the equation attribute is required")
	}
	var shapes [][]int
	for i := range c.in {
		if !c.folding {
			if _, err := c.floatIn(i); err != nil {
				return nil, err
			}
		}
		if c.in[i].dtype != c.in[0].dtype {
			return nil, c.errorf("inputs have different element types")
		}
		shapes = append(shapes, c.in[i].shape)
	}
	sp, err := parseEinsum(c, eq, shapes)
	if err != nil {
		return nil, err
	}
	outShape := make([]int, len(sp.out))
	for i, id := range sp.out {
		outShape[i] = sp.sizes[id]
	}
	if err := c.setOut(0, outShape, c.in[0].dtype); err != nil {
		return nil, err
	}
	if k := newEinsumGemm[T](sp, shapes); k != nil {
		return k, nil
	}
	// The loop visits every combination of labels: bound it, as tensor
	// sizes are bounded.
	points := int64(1)
	for id, d := range sp.sizes {
		if d < 0 || !slices.ContainsFunc(sp.ops, func(ids []int) bool { return slices.Contains(ids, id) }) {
			continue
		}
		points *= int64(max(d, 1))
		if points > einsumMaxPoints {
			return nil, c.errorf("equation %q over shapes %v needs more than %d multiply-adds in a loop; only two-operand contractions run as matrix products", eq, shapes, int64(einsumMaxPoints))
		}
	}
	return newEinsumLoop[T](sp, shapes), nil
}

// einsumLoopK evaluates an equation point by point over every label.
type einsumLoopK[T Float] struct {
	sizes   []int   // per label in loop order
	strides [][]int // per operand (and the output last), per label in loop order
	total   int
	offs    []int // scratch: current offset per operand and the output
	idx     []int
}

func newEinsumLoop[T Float](sp *einsumSpec, shapes [][]int) *einsumLoopK[T] {
	// Loop over output labels first, then the summed ones.
	var order []int
	used := map[int]bool{}
	for _, id := range sp.out {
		order = append(order, id)
		used[id] = true
	}
	for _, ids := range sp.ops {
		for _, id := range ids {
			if !used[id] {
				order = append(order, id)
				used[id] = true
			}
		}
	}
	k := &einsumLoopK[T]{total: 1}
	pos := map[int]int{}
	for i, id := range order {
		pos[id] = i
		k.sizes = append(k.sizes, sp.sizes[id])
		k.total *= sp.sizes[id]
	}
	strideOf := func(ids, shape []int) []int {
		st := make([]int, len(order))
		acc := 1
		for ax := len(ids) - 1; ax >= 0; ax-- {
			if shape[ax] != 1 {
				st[pos[ids[ax]]] += acc // a repeated label walks the diagonal
			}
			acc *= shape[ax]
		}
		return st
	}
	for i, ids := range sp.ops {
		k.strides = append(k.strides, strideOf(ids, shapes[i]))
	}
	outShape := make([]int, len(sp.out))
	for i, id := range sp.out {
		outShape[i] = sp.sizes[id]
	}
	k.strides = append(k.strides, strideOf(sp.out, outShape))
	k.offs = make([]int, len(k.strides))
	k.idx = make([]int, len(order))
	return k
}

// walk calls f at every point of the index space with the operands' and
// the output's offsets.
func (k *einsumLoopK[T]) walk(f func(offs []int)) {
	if k.total == 0 {
		return
	}
	clear(k.offs)
	clear(k.idx)
	for p := 0; p < k.total; p++ {
		f(k.offs)
		for d := len(k.sizes) - 1; d >= 0; d-- {
			k.idx[d]++
			for j := range k.offs {
				k.offs[j] += k.strides[j][d]
			}
			if k.idx[d] < k.sizes[d] {
				break
			}
			for j := range k.offs {
				k.offs[j] -= k.strides[j][d] * k.sizes[d]
			}
			k.idx[d] = 0
		}
	}
}

func (k *einsumLoopK[T]) forward(in, out [][]T) {
	y := out[0]
	clear(y)
	n := len(in)
	k.walk(func(offs []int) {
		p := T(1)
		for j := 0; j < n; j++ {
			p *= in[j][offs[j]]
		}
		y[offs[n]] += p
	})
}

func (k *einsumLoopK[T]) backward(in, out, gout, gin [][]T) {
	gy := gout[0]
	n := len(in)
	k.walk(func(offs []int) {
		g := gy[offs[n]]
		for j := 0; j < n; j++ {
			if gin[j] == nil {
				continue
			}
			p := g
			for i := 0; i < n; i++ {
				if i != j {
					p *= in[i][offs[i]]
				}
			}
			gin[j][offs[j]] += p
		}
	})
}

// einsumGemmK is a two-operand contraction as batched GEMM. Operands whose
// labels are not in a GEMM layout are first copied into one (aSrc, bSrc:
// per element of the rearranged operand, its offset in the input), and the
// product is copied into the output's order when that differs (cDst).
type einsumGemmK[T Float] struct {
	fwd              *gemmBatch[T]
	bwd              *bmmGrads[T]
	aSrc, bSrc, cDst []int32
	aBuf, bBuf, cBuf []T
	gaBuf, gbBuf     []T
	gcBuf            []T
}

// newEinsumGemm returns nil when the equation is not a plain contraction
// of two operands.
func newEinsumGemm[T Float](sp *einsumSpec, shapes [][]int) *einsumGemmK[T] {
	if len(sp.ops) != 2 {
		return nil
	}
	in := func(ids []int, id int) bool { return slices.Contains(ids, id) }
	for j, ids := range sp.ops {
		for ax, id := range ids {
			if slices.Index(ids, id) != ax {
				return nil // diagonal
			}
			if shapes[j][ax] != sp.sizes[id] {
				return nil // broadcast ellipsis dimension
			}
		}
	}
	a, b := sp.ops[0], sp.ops[1]
	var batch, rows, cols, inner []int
	for _, id := range sp.out {
		switch inA, inB := in(a, id), in(b, id); {
		case inA && inB:
			batch = append(batch, id)
		case inA:
			rows = append(rows, id)
		default:
			cols = append(cols, id)
		}
	}
	for _, id := range a {
		if !in(sp.out, id) {
			if !in(b, id) {
				return nil // summed out of one operand only
			}
			inner = append(inner, id)
		}
	}
	for _, id := range b {
		if !in(sp.out, id) && !in(a, id) {
			return nil
		}
	}
	size := func(ids []int) int {
		n := 1
		for _, id := range ids {
			n *= sp.sizes[id]
		}
		return n
	}
	nb, m, n, kk := size(batch), size(rows), size(cols), size(inner)
	cat := func(parts ...[]int) []int {
		var out []int
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	k := &einsumGemmK[T]{}
	// An operand is read in place when its labels are batch, then the
	// matrix's two groups in either order (the second meaning transposed).
	layout := func(ids, first, second []int, shape []int, stored *[]int32) bool {
		switch {
		case slices.Equal(ids, cat(batch, first, second)):
			return false
		case slices.Equal(ids, cat(batch, second, first)):
			return true
		}
		want := cat(batch, first, second)
		*stored = permuteIndex(ids, shape, want, sp.sizes)
		return false
	}
	transA := layout(a, rows, inner, shapes[0], &k.aSrc)
	transB := layout(b, inner, cols, shapes[1], &k.bSrc)
	if !slices.Equal(sp.out, cat(batch, rows, cols)) {
		k.cDst = permuteIndex(sp.out, outShapeOf(sp), cat(batch, rows, cols), sp.sizes)
	}
	offA, offB, offC := make([]int, nb), make([]int, nb), make([]int, nb)
	for i := range offA {
		offA[i], offB[i], offC[i] = i*m*kk, i*kk*n, i*m*n
	}
	k.fwd = newGemmBatch[T](transA, transB, m, n, kk, offA, offB, offC)
	k.bwd = newBMMGrads[T](transA, transB, m, n, kk, offA, offB, offC)
	if k.aSrc != nil {
		k.aBuf, k.gaBuf = make([]T, len(k.aSrc)), make([]T, len(k.aSrc))
	}
	if k.bSrc != nil {
		k.bBuf, k.gbBuf = make([]T, len(k.bSrc)), make([]T, len(k.bSrc))
	}
	if k.cDst != nil {
		k.cBuf, k.gcBuf = make([]T, len(k.cDst)), make([]T, len(k.cDst))
	}
	return k
}

func outShapeOf(sp *einsumSpec) []int {
	s := make([]int, len(sp.out))
	for i, id := range sp.out {
		s[i] = sp.sizes[id]
	}
	return s
}

// permuteIndex lists, for each element of a tensor with labels want (in
// row-major order), the offset of the same element in a tensor with
// labels ids and the given shape.
func permuteIndex(ids, shape, want, sizes []int) []int32 {
	st := strides(shape)
	pos := map[int]int{}
	for ax, id := range ids {
		pos[id] = ax
	}
	wshape := make([]int, len(want))
	wst := make([]int, len(want))
	for i, id := range want {
		wshape[i] = sizes[id]
		wst[i] = st[pos[id]]
	}
	return mapIndex(wshape, func(idx []int) int {
		off := 0
		for i, v := range idx {
			off += v * wst[i]
		}
		return off
	})
}

func (k *einsumGemmK[T]) operands(in [][]T) (a, b []T) {
	a, b = in[0], in[1]
	if k.aSrc != nil {
		for i, s := range k.aSrc {
			k.aBuf[i] = a[s]
		}
		a = k.aBuf
	}
	if k.bSrc != nil {
		for i, s := range k.bSrc {
			k.bBuf[i] = b[s]
		}
		b = k.bBuf
	}
	return a, b
}

func (k *einsumGemmK[T]) forward(in, out [][]T) {
	a, b := k.operands(in)
	if k.cDst == nil {
		k.fwd.run(a, b, out[0], 0)
		return
	}
	k.fwd.run(a, b, k.cBuf, 0)
	for i, d := range k.cDst {
		out[0][d] = k.cBuf[i]
	}
}

func (k *einsumGemmK[T]) backward(in, out, gout, gin [][]T) {
	a, b := k.operands(in)
	gc := gout[0]
	if k.cDst != nil {
		for i, d := range k.cDst {
			k.gcBuf[i] = gc[d]
		}
		gc = k.gcBuf
	}
	ga, gb := gin[0], gin[1]
	if ga != nil && k.aSrc != nil {
		clear(k.gaBuf)
		ga = k.gaBuf
	}
	if gb != nil && k.bSrc != nil {
		clear(k.gbBuf)
		gb = k.gbBuf
	}
	k.bwd.backward(a, b, gc, ga, gb)
	if gin[0] != nil && k.aSrc != nil {
		for i, s := range k.aSrc {
			gin[0][s] += k.gaBuf[i]
		}
	}
	if gin[1] != nil && k.bSrc != nil {
		for i, s := range k.bSrc {
			gin[1][s] += k.gbBuf[i]
		}
	}
}
