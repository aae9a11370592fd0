package datasets

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// pcgStream is the second PCG word, fixed so that a seed alone decides
// every random choice in this package.
const pcgStream = 0x6164766d61747269 // "advmatri"

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, pcgStream)) }

// choose returns k distinct values of 0..n-1 drawn uniformly from r, in
// increasing order.
func choose(r *rand.Rand, n, k int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	// A partial Fisher–Yates shuffle.
	for i := 0; i < k; i++ {
		j := i + r.IntN(n-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	out := perm[:k:k]
	slices.Sort(out)
	return out
}

// Sample returns n images drawn without replacement, in their order in d,
// as a subset sharing d's storage. The same seed gives the same subset. If
// n >= d.Len() the subset holds every image; n <= 0 gives an empty subset.
func (d *Dataset) Sample(n int, seed uint64) *Dataset {
	n = max(0, min(n, d.n))
	return d.Subset(choose(newRand(seed), d.n, n))
}

// Balance resamples d to the class proportions ratios (one non-negative
// weight per class, not necessarily summing to 1): it returns the largest
// subset, drawn without replacement and kept in d's order, whose class
// counts are proportional to ratios as closely as integer counts allow.
// A zero ratio drops its class. The same seed gives the same subset.
//
// The total T is the largest whole number such that T·rᵢ ≤ countᵢ for
// every class i (rᵢ the normalised ratio); T is split among the classes by
// the largest-remainder method, ties going to the lower class index.
// Equal ratios therefore give every kept class the size of the smallest.
func (d *Dataset) Balance(ratios []float64, seed uint64) (*Dataset, error) {
	if d.Labels == nil {
		return nil, errors.New("balance: dataset has no labels")
	}
	if len(ratios) != d.Classes {
		return nil, fmt.Errorf("balance: %d ratios for %d classes", len(ratios), d.Classes)
	}
	sum := 0.0
	for i, r := range ratios {
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("balance: ratio %v for class %d is not a finite non-negative number", r, i)
		}
		sum += r
	}
	if sum == 0 {
		return nil, errors.New("balance: all ratios are zero")
	}
	byClass := make([][]int, d.Classes)
	for i, l := range d.Labels {
		byClass[l] = append(byClass[l], i)
	}
	// The largest total whose share of every class is available.
	total := math.Inf(1)
	for c, r := range ratios {
		if r == 0 {
			continue
		}
		if len(byClass[c]) == 0 {
			return nil, fmt.Errorf("balance: class %d has ratio %v but no images", c, r)
		}
		total = min(total, float64(len(byClass[c]))*sum/r)
	}
	want := apportion(math.Floor(total*(1+1e-12)), ratios, sum, byClass)

	r := newRand(seed)
	var idx []int
	for c, k := range want {
		for _, j := range choose(r, len(byClass[c]), k) {
			idx = append(idx, byClass[c][j])
		}
	}
	slices.Sort(idx)
	return d.Subset(idx), nil
}

// apportion splits total among the classes in proportion to ratios by the
// largest-remainder method, never giving a class more than it has.
func apportion(total float64, ratios []float64, sum float64, byClass [][]int) []int {
	want := make([]int, len(ratios))
	rem := make([]float64, len(ratios))
	left := int(total)
	for c, r := range ratios {
		if r == 0 {
			continue
		}
		q := total * r / sum
		k := min(len(byClass[c]), int(math.Floor(q)))
		want[c] = k
		rem[c] = q - float64(k)
		left -= k
	}
	order := make([]int, 0, len(ratios))
	for c, r := range ratios {
		if r > 0 {
			order = append(order, c)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rem[a] > rem[b]:
			return -1
		case rem[a] < rem[b]:
			return 1
		}
		return 0
	})
	for _, c := range order {
		if left <= 0 {
			break
		}
		if want[c] < len(byClass[c]) {
			want[c]++
			left--
		}
	}
	return want
}
