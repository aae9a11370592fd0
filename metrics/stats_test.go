package metrics

import (
	"math"
	"testing"
)

func TestWilson(t *testing.T) {
	// Textbook values (Newcombe 1998 lists 0/10 → [0, 0.2775] and
	// 5/10 → [0.2366, 0.7634]); the others from the closed form in Python.
	cases := []struct {
		num, den int
		lo, hi   float64
	}{
		{0, 10, 0, 0.2775327998628892},
		{10, 10, 0.7224672001371108, 1},
		{5, 10, 0.236593090512564, 0.7634069094874361},
		{81, 263, 0.2552885198782742, 0.36620957698280004},
	}
	for _, c := range cases {
		lo, hi := Wilson(c.num, c.den, 1.959963984540054)
		if math.Abs(lo-c.lo) > 1e-9 || math.Abs(hi-c.hi) > 1e-9 {
			t.Errorf("Wilson(%d, %d) = [%v, %v], want [%v, %v]", c.num, c.den, lo, hi, c.lo, c.hi)
		}
	}
	if r := NewRate(0, 0); r.Value != 0 || r.Hi95 != 0 {
		t.Errorf("empty rate %+v", r)
	}
}
