package parallel

import (
	"sync/atomic"
	"testing"
)

func TestFor(t *testing.T) {
	var g Group
	for _, n := range []int{0, 1, 2, 7, 100} {
		hits := make([]int32, n)
		g.For(n, func(i int) { atomic.AddInt32(&hits[i], 1) })
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: chunk %d ran %d times", n, i, h)
			}
		}
	}
}

func TestForNoAlloc(t *testing.T) {
	var g Group
	var sum [4]atomic.Int32
	f := func(i int) { sum[i].Add(1) }
	g.For(4, f)
	if a := testing.AllocsPerRun(100, func() { g.For(4, f) }); a != 0 {
		t.Errorf("%v allocations per For", a)
	}
}
