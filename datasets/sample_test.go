package datasets

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// positions returns the storage position of every image of d.
func positions(d *Dataset) []int {
	out := make([]int, d.Len())
	for i := range out {
		out[i] = d.pos(i)
	}
	return out
}

func TestSample(t *testing.T) {
	labels := make([]int, 100)
	for i := range labels {
		labels[i] = i % 10
	}
	ds := toy(t, labels, 10)
	a := ds.Sample(20, 7)
	b := ds.Sample(20, 7)
	c := ds.Sample(20, 8)
	if a.Len() != 20 {
		t.Fatalf("Len() = %d", a.Len())
	}
	pa := positions(a)
	if !reflect.DeepEqual(pa, positions(b)) {
		t.Error("same seed, different samples")
	}
	if reflect.DeepEqual(pa, positions(c)) {
		t.Error("different seeds, same sample")
	}
	if !slices.IsSorted(pa) || len(slices.Compact(slices.Clone(pa))) != 20 {
		t.Errorf("sample not in order or has repeats: %v", pa)
	}
	for i, p := range pa {
		if a.Labels[i] != labels[p] {
			t.Fatalf("label %d does not follow its image", i)
		}
	}
	// A sample of a sample is a subset of the first.
	aa := a.Sample(5, 1)
	for _, p := range positions(aa) {
		if !slices.Contains(pa, p) {
			t.Errorf("nested sample position %d not in parent", p)
		}
	}
	for _, tt := range []struct{ n, want int }{{0, 0}, {-3, 0}, {100, 100}, {1000, 100}} {
		if got := ds.Sample(tt.n, 1).Len(); got != tt.want {
			t.Errorf("Sample(%d).Len() = %d, want %d", tt.n, got, tt.want)
		}
	}
	if !reflect.DeepEqual(positions(ds.Sample(1000, 3)), positions(ds)) {
		t.Error("full sample is not the dataset in order")
	}
}

// TestSampleGolden pins the random stream: a change here changes every
// published subset.
func TestSampleGolden(t *testing.T) {
	ds := toy(t, make([]int, 50), 1)
	got := positions(ds.Sample(6, 42))
	want := []int{2, 4, 17, 23, 38, 49}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sample(6, 42) positions = %v, want %v", got, want)
	}
}

func TestBalance(t *testing.T) {
	// Class counts 10, 4, 6, 0.
	var labels []int
	for c, n := range []int{10, 4, 6, 0} {
		for i := 0; i < n; i++ {
			labels = append(labels, c)
		}
	}
	// Interleave so that class order is not storage order.
	slices.Reverse(labels[:10])
	ds := toy(t, labels, 4)
	tests := []struct {
		name   string
		ratios []float64
		want   []int
	}{
		{"equal but absent class dropped", []float64{1, 1, 1, 0}, []int{4, 4, 4, 0}},
		{"one class", []float64{0, 0, 3, 0}, []int{0, 0, 6, 0}},
		{"two to one", []float64{2, 1, 0, 0}, []int{8, 4, 0, 0}},
		{"fractions", []float64{0.5, 0.25, 0.25, 0}, []int{8, 4, 4, 0}},
		{"limited by largest share", []float64{10, 1, 1, 0}, []int{10, 1, 1, 0}},
		{"natural proportions", []float64{10, 4, 6, 0}, []int{10, 4, 6, 0}},
		// T = floor(min(10/0.3, 4/0.3, 6/0.4)) = 13: quotas 3.9, 3.9, 5.2.
		{"largest remainder", []float64{3, 3, 4, 0}, []int{4, 4, 5, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ds.Balance(tt.ratios, 5)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.ClassCounts(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("counts %v, want %v", got, tt.want)
			}
			p := positions(b)
			if !slices.IsSorted(p) || len(slices.Compact(slices.Clone(p))) != len(p) {
				t.Errorf("not in order or repeats: %v", p)
			}
			b2, _ := ds.Balance(tt.ratios, 5)
			if !reflect.DeepEqual(p, positions(b2)) {
				t.Error("same seed, different result")
			}
		})
	}
	a, _ := ds.Balance([]float64{1, 1, 1, 0}, 1)
	b, _ := ds.Balance([]float64{1, 1, 1, 0}, 2)
	if reflect.DeepEqual(positions(a), positions(b)) {
		t.Error("different seeds, same subset")
	}
}

func TestBalanceErrors(t *testing.T) {
	ds := toy(t, []int{0, 0, 1}, 3)
	tests := []struct {
		ratios []float64
		want   string
	}{
		{[]float64{1, 1}, "2 ratios for 3 classes"},
		{[]float64{1, -1, 0}, "ratio -1 for class 1"},
		{[]float64{0, 0, 0}, "all ratios are zero"},
		{[]float64{1, 1, 1}, "class 2 has ratio 1 but no images"},
		{[]float64{1, math.NaN(), 0}, "NaN"},
	}
	for _, tt := range tests {
		_, err := ds.Balance(tt.ratios, 0)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Balance(%v) error %v, want %q", tt.ratios, err, tt.want)
		}
	}
	u, _ := NewUint8([3]int{1, 1, 1}, []uint8{1}, nil, 0)
	if _, err := u.Balance(nil, 0); err == nil || !strings.Contains(err.Error(), "no labels") {
		t.Errorf("unlabelled: %v", err)
	}
}
