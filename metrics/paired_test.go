package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// McNemar's exact p-values worked by hand: b=1, c=6 → 2·(1+7)/2⁷ = 0.125;
// b=0, c=5 → 2/32 = 0.0625; b=3, c=3 → 1 (capped); b=0, c=0 → 1;
// b=2, c=10 → 2·(1+12+66)/4096 = 0.03857421875.
func TestMcNemar(t *testing.T) {
	for _, tc := range []struct {
		b, c int
		want float64
	}{{1, 6, 0.125}, {6, 1, 0.125}, {0, 5, 0.0625}, {3, 3, 1}, {0, 0, 1}, {2, 10, 0.03857421875}} {
		if got := McNemar(tc.b, tc.c); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("McNemar(%d, %d) = %v, want %v", tc.b, tc.c, got, tc.want)
		}
	}
	// Large counts stay finite and sensible.
	if p := McNemar(1000, 1100); !(p > 0.01 && p < 0.05) {
		t.Errorf("McNemar(1000, 1100) = %v", p)
	}
}

// The paired interval covers the true difference about 95% of the time
// (Newcombe's method 10 is slightly conservative), contains its estimate,
// and stays in [−1, 1], over random correlated pairs.
func TestPairedDiffCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const trials = 3000
	covered := 0
	for range trials {
		n := 30 + r.IntN(300)
		// True cell probabilities of (both, first only, second only, neither).
		w := [4]float64{r.Float64(), r.Float64() * 0.5, r.Float64() * 0.5, r.Float64()}
		s := w[0] + w[1] + w[2] + w[3]
		truth := (w[1] - w[2]) / s
		first, second := make([]bool, n), make([]bool, n)
		for i := range n {
			u := r.Float64() * s
			switch {
			case u < w[0]:
				first[i], second[i] = true, true
			case u < w[0]+w[1]:
				first[i] = true
			case u < w[0]+w[1]+w[2]:
				second[i] = true
			}
		}
		d, err := NewPairedDiff(first, second, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Lo95 > d.Value || d.Hi95 < d.Value || d.Lo95 < -1 || d.Hi95 > 1 {
			t.Fatalf("interval %+v", d)
		}
		if d.Lo95 <= truth && truth <= d.Hi95 {
			covered++
		}
	}
	cov := float64(covered) / trials
	t.Logf("coverage %.3f over %d trials", cov, trials)
	if cov < 0.93 || cov > 0.99 {
		t.Errorf("coverage %.3f, want about 0.95", cov)
	}
}

func TestPairedDiffCounts(t *testing.T) {
	first := []bool{true, true, false, false, true, true}
	second := []bool{true, false, true, false, false, true}
	keep := []bool{true, true, true, true, true, false}
	d, err := NewPairedDiff(first, second, keep)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 5 || d.Both != 1 || d.FirstOnly != 2 || d.SecondOnly != 1 || math.Abs(d.Value-0.2) > 1e-15 {
		t.Errorf("%+v", d)
	}
	if _, err := NewPairedDiff(first, second[:3], nil); err == nil {
		t.Error("mismatched lengths accepted")
	}
	if z, _ := NewPairedDiff(nil, nil, nil); z != (PairedDiff{}) {
		t.Errorf("empty: %+v", z)
	}
}
