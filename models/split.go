package models

import (
	"runtime"

	"github.com/advmatrix/advmatrix/internal/parallel"
)

// rangeSplit runs a kernel's loop over [0, n) in a few parallel parts when
// n is large enough to pay for it. Bodies must be stored method values
// (made once), so running allocates nothing; each index must be written
// by exactly one part, so results do not depend on the split.
type rangeSplit struct {
	group  parallel.Group
	n      int
	parts  int
	body   func(lo, hi int)
	partFn func(int)
}

// run calls body over [0, n), split when n·cost (elements times a rough
// per-element cost) is large.
func (s *rangeSplit) run(n, cost int, body func(lo, hi int)) {
	const minWork = 1 << 15
	if n*cost < 2*minWork || n < 2 || runtime.GOMAXPROCS(0) == 1 {
		body(0, n)
		return
	}
	if s.partFn == nil {
		s.partFn = s.part
	}
	s.n, s.body = n, body
	s.parts = min(n, 8, n*cost/minWork)
	s.group.For(s.parts, s.partFn)
	s.body = nil
}

func (s *rangeSplit) part(i int) {
	s.body(i*s.n/s.parts, (i+1)*s.n/s.parts)
}
