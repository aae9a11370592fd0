package gemm

// packSlack is the number of elements packing buffers need beyond the
// packed data, for the overhanging stores of interleaveFast.
const packSlack = 8

// packA copies rows [i0,i0+mc) and columns [p0,p0+kc) of op(A) into ap as
// consecutive mr-row micro-panels, each stored column by column
// (element (i,p) of a panel at p*mr+i). The rows of a ragged last panel
// past the matrix are left as they are: row i of C depends on row i of A
// alone, and the rows they would produce are never stored (see macro).
// Panels are packed in increasing order, which interleaveFast relies on.
func (p *problem[T]) packA(ap []T, i0, mc, p0, kc int) {
	mr := p.kern.mr
	a, lda := p.a, p.lda
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		panel := ap[ir*kc:]
		if !p.transA {
			interleave(panel, mr, a[(i0+ir)*lda+p0:], lda, rows, kc)
			continue
		}
		// A is stored k×m: each row of A holds mr consecutive elements
		// of the panel's column.
		src := a[p0*lda+i0+ir:]
		if rows == 6 && mr == 6 {
			for l := 0; l < kc; l++ {
				s := src[l*lda : l*lda+6 : l*lda+6]
				d := panel[l*6 : l*6+6 : l*6+6]
				d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[1], s[2], s[3], s[4], s[5]
			}
			continue
		}
		for l := 0; l < kc; l++ {
			d := panel[l*mr : l*mr+mr]
			copy(d, src[l*lda:l*lda+rows])
		}
	}
}

// packB copies rows [p0,p0+kc) and columns [j0,j0+nc) of op(B) into bp as
// consecutive nr-column micro-panels stored row by row (element (p,j) of
// a panel at p*nr+j). A ragged last panel is as wide as the narrowest
// kernel variant that covers it (raggedWidth), so that a product with few
// columns does not compute a full panel; its columns past the matrix are
// left as they are, since column j of C depends on column j of B alone
// and the extra columns are never stored. When B is read in place (directB) only that ragged last panel
// is packed, at bp[0].
func (p *problem[T]) packB(bp []T, p0, kc, j0, nc int) {
	nr := p.kern.nr
	b, ldb := p.b, p.ldb
	full := nc / nr // complete panels
	start := 0
	if p.directB {
		start = full
	}
	if p.transB {
		// B is stored n×k: its rows become the panels' columns.
		for q := start; q*nr < nc; q++ {
			cols := min(nr, nc-q*nr)
			w := nr
			if cols < nr {
				_, w = p.kern.raggedWidth(cols)
			}
			panel := bp[(q-start)*nr*kc:]
			interleave(panel, w, b[(j0+q*nr)*ldb+p0:], ldb, cols, kc)
		}
		return
	}
	// Copy panel by panel: each panel is written sequentially while its
	// kc rows of B are read as kc short sequential streams, which the
	// hardware prefetchers follow (compute has usually prefetched them
	// anyway).
	for q := start; q < full; q++ {
		copyRows(bp[(q-start)*nr*kc:], nr, b[p0*ldb+j0+q*nr:], ldb, nr, kc)
	}
	if rest := nc - full*nr; rest > 0 {
		_, w := p.kern.raggedWidth(rest)
		panel := bp[(full-start)*nr*kc:]
		src := b[p0*ldb+j0+full*nr:]
		for l := 0; l < kc; l++ {
			copy(panel[l*w:l*w+rest], src[l*ldb:l*ldb+rest])
		}
	}
}

// interleave sets dst[l*ldd+j] = src[j*lds+l] for j < rows and l < cols:
// it transposes a rows×cols block into a cols×rows one.
func interleave[T float32 | float64](dst []T, ldd int, src []T, lds, rows, cols int) {
	l0 := interleaveFast(dst, ldd, src, lds, rows, cols)
	if l0 == cols {
		return
	}
	for j := 0; j < rows; j++ {
		s := src[j*lds+l0 : j*lds+cols]
		for l, v := range s {
			dst[(l0+l)*ldd+j] = v
		}
	}
}

func copyRowsGo[T float32 | float64](dst []T, ldd int, src []T, lds, w, n int) {
	for i := 0; i < n; i++ {
		copy(dst[i*ldd:i*ldd+w], src[i*lds:i*lds+w])
	}
}
