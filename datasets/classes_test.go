package datasets

import (
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/datasets/npy"
)

// The number of classes comes from the largest label when not given: it
// is bounded, so a label of 1e9 is an error rather than a billion classes
// (before: 1e9+1 classes, then 512 GB for a model's output layer).
func TestClassLimit(t *testing.T) {
	dir := t.TempDir()
	x := writeNPY(t, dir, "x.npy", npy.NewUint8([]int{3, 1, 2, 2}, make([]uint8, 12)))
	y := func(name string, v ...int64) string { return writeNPY(t, dir, name, npy.NewInt64([]int{len(v)}, v)) }
	yHuge := y("huge.npy", 0, 1e9, 2)
	yMax := y("max.npy", 0, MaxClasses-1, 2)
	yOver := y("over.npy", 0, MaxClasses, 2)
	y3 := y("y3.npy", 0, 1, 2)
	tests := []struct {
		spec string
		opt  Options
		want string // "" opens
	}{
		{"npy:" + x + "," + yHuge, Options{}, "label 1000000000 of item 1 implies more than 65536 classes"},
		{"npy:" + x + "," + yOver, Options{}, "label 65536 of item 1 implies more than 65536 classes"},
		{"npy:" + x + "," + yMax, Options{}, ""},
		{"npy:" + x + "," + yHuge, Options{Classes: 10}, "label 1000000000 of item 1 is outside 0..9"},
		{"npy:" + x + "," + y3, Options{Classes: 1e9}, "1000000000 classes requested"},
		{"npy:" + x + "," + y3, Options{Classes: -1}, "-1 classes requested"},
		// Options.Classes checks every source's labels.
		{"mnist", Options{Classes: 5}, "has 10 classes, more than the 5 expected"},
		{"mnist", Options{Classes: 10}, ""},
		{"mnist", Options{Classes: 12}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			ds, err := Open(tt.spec, tt.opt)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if counts := ds.ClassCounts(); len(counts) != ds.Classes {
					t.Errorf("%d counts for %d classes", len(counts), ds.Classes)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := NewUint8([3]int{1, 1, 1}, []uint8{0}, []int{0}, MaxClasses+1); err == nil || !strings.Contains(err.Error(), "exceed the limit") {
		t.Errorf("NewUint8 with %d classes: %v", MaxClasses+1, err)
	}
}

func TestCheckClasses(t *testing.T) {
	d, err := NewUint8([3]int{1, 1, 1}, []uint8{0, 0, 0}, []int{0, 2, 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	d.Name = "test"
	unlabelled, _ := NewUint8([3]int{1, 1, 1}, []uint8{0}, nil, 0)
	tests := []struct {
		d      *Dataset
		k      int
		mutate func(d *Dataset)
		want   string
	}{
		{d, 3, nil, ""},
		{d, 10, nil, ""},
		{d, 2, nil, "data test has 3 classes, more than the 2 expected"},
		{d, 0, nil, "0 classes: want 1 to 65536"},
		{d, MaxClasses + 1, nil, "65537 classes"},
		{d, 3, func(d *Dataset) { d.Labels[1] = 3 }, "data test: label 3 of image 1 is outside 0..2"},
		{d, 3, func(d *Dataset) { d.Labels[2] = -5 }, "label -5 of image 2"},
		{unlabelled, 7, nil, ""},
	}
	for _, tt := range tests {
		d := tt.d.Subset([]int{0, 1, 2}[:tt.d.Len()])
		if tt.mutate != nil {
			tt.mutate(d)
		}
		err := d.CheckClasses(tt.k)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckClasses(%d) on labels %v: %v, want %q", tt.k, d.Labels, err, tt.want)
		}
	}
}
