package metrics

import (
	"fmt"
	"math"
)

// PairedDiff compares two binary outcomes measured on the same items —
// for example whether the attack and whether random noise fooled a victim
// on each image it gets right — as the difference of the two proportions,
// (Both+FirstOnly)/N − (Both+SecondOnly)/N = (FirstOnly − SecondOnly)/N,
// with Newcombe's (1998) method 10 interval for paired data: Wilson
// intervals for each proportion combined with the correlation φ of the
// pairs. It stays inside [−1, 1] and is exact enough at a few hundred
// items, where the Wald interval is not.
type PairedDiff struct {
	N          int     `json:"n"`
	Both       int     `json:"both"`
	FirstOnly  int     `json:"first_only"`
	SecondOnly int     `json:"second_only"`
	Value      float64 `json:"value"`
	Lo95       float64 `json:"lo95"`
	Hi95       float64 `json:"hi95"`
}

// NewPairedDiff counts the pairs of first[i], second[i] over the items
// where keep[i] is true (every item when keep is nil) and computes the
// difference and its interval. With no items everything is zero.
func NewPairedDiff(first, second, keep []bool) (PairedDiff, error) {
	if len(first) != len(second) || (keep != nil && len(keep) != len(first)) {
		return PairedDiff{}, fmt.Errorf("paired outcomes of %d, %d and %d items", len(first), len(second), len(keep))
	}
	var d PairedDiff
	neither := 0
	for i := range first {
		if keep != nil && !keep[i] {
			continue
		}
		d.N++
		switch {
		case first[i] && second[i]:
			d.Both++
		case first[i]:
			d.FirstOnly++
		case second[i]:
			d.SecondOnly++
		default:
			neither++
		}
	}
	d.Value, d.Lo95, d.Hi95 = newcombePaired(d.Both, d.FirstOnly, d.SecondOnly, neither, 1.959963984540054)
	return d, nil
}

// newcombePaired is method 10 of Newcombe (1998, Stat. Med. 17:2635) for
// the 2×2 table of pairs (a both, b first only, c second only, d neither).
func newcombePaired(a, b, c, d int, z float64) (diff, lo, hi float64) {
	n := a + b + c + d
	if n == 0 {
		return 0, 0, 0
	}
	fn := float64(n)
	p1, p2 := float64(a+b)/fn, float64(a+c)/fn
	diff = p1 - p2
	l1, u1 := Wilson(a+b, n, z)
	l2, u2 := Wilson(a+c, n, z)
	var phi float64
	if den := float64(a+b) * float64(c+d) * float64(a+c) * float64(b+d); den > 0 {
		phi = (float64(a)*float64(d) - float64(b)*float64(c)) / math.Sqrt(den)
	}
	dl := math.Sqrt(max(0, (p1-l1)*(p1-l1)-2*phi*(p1-l1)*(u2-p2)+(u2-p2)*(u2-p2)))
	du := math.Sqrt(max(0, (u1-p1)*(u1-p1)-2*phi*(u1-p1)*(p2-l2)+(p2-l2)*(p2-l2)))
	return diff, max(-1, diff-dl), min(1, diff+du)
}

// McNemar is the exact (binomial) McNemar test of two paired binary
// outcomes: under the null hypothesis that both are equally likely, each
// of the B+C discordant pairs is equally likely to go either way, so the
// two-sided p-value is min(1, 2·P(X ≤ min(B, C))) for X ~ Binomial(B+C,
// ½). It is exact at any count (no χ² approximation), which matters when
// a regression shows in a handful of images.
func McNemar(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	var s float64
	if n <= 1000 {
		// P(X = i) by the recurrence p(i+1) = p(i)·(n−i)/(i+1) from 2⁻ⁿ:
		// exact for the small counts gates usually see.
		p := math.Ldexp(1, -n)
		for i := 0; i <= k; i++ {
			s += p
			p = p * float64(n-i) / float64(i+1)
		}
	} else {
		// In log space: 2⁻ⁿ underflows.
		lgn, _ := math.Lgamma(float64(n + 1))
		for i := 0; i <= k; i++ {
			lgi, _ := math.Lgamma(float64(i + 1))
			lgr, _ := math.Lgamma(float64(n - i + 1))
			s += math.Exp(lgn - lgi - lgr - float64(n)*math.Ln2)
		}
	}
	return min(1, 2*s)
}
