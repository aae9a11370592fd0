package datasets

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// toy returns n 1×1×2 uint8 images whose pixels are 2i and 2i+1, labelled
// labels[i].
func toy(t *testing.T, labels []int, classes int) *Dataset {
	t.Helper()
	pix := make([]uint8, 2*len(labels))
	for i := range pix {
		pix[i] = uint8(i)
	}
	ds, err := NewUint8([3]int{1, 1, 2}, pix, labels, classes)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		shape   [3]int
		pix     int
		labels  []int
		classes int
		want    string
	}{
		{"zero shape", [3]int{1, 0, 2}, 4, nil, 0, "invalid image shape"},
		{"negative shape", [3]int{-1, 1, 2}, 4, nil, 0, "invalid image shape"},
		{"huge shape", [3]int{1 << 20, 1 << 20, 1}, 0, nil, 0, "too large"},
		{"partial image", [3]int{1, 2, 2}, 6, nil, 0, "not a whole number"},
		{"label count", [3]int{1, 1, 2}, 4, []int{0}, 2, "1 labels for 2 images"},
		{"label range", [3]int{1, 1, 2}, 4, []int{0, 2}, 2, "label 2 of image 1 is outside 0..1"},
		{"negative label", [3]int{1, 1, 2}, 4, []int{-1, 0}, 2, "outside"},
		{"classes without labels", [3]int{1, 1, 2}, 4, nil, 3, "no labels"},
		{"negative classes", [3]int{1, 1, 2}, 4, nil, -1, "negative class count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewUint8(tt.shape, make([]uint8, tt.pix), tt.labels, tt.classes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewUint8 error %v, want %q", err, tt.want)
			}
			_, err = NewFloat32(tt.shape, make([]float32, tt.pix), tt.labels, tt.classes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewFloat32 error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNewFloat32Range(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		v    float32
		want string
	}{
		{-0.001, "pixel value -0.001 at index [1, 1, 0, 2] is outside [0,1]"},
		{1.0001, "1.0001 at index [1, 1, 0, 2]"},
		{nan, "NaN at index [1, 1, 0, 2]"},
		{float32(math.Inf(1)), "+Inf at index"},
	}
	for _, tt := range tests {
		pix := make([]float32, 2*2*2*3)
		pix[12+6+2] = tt.v // image 1, channel 1, row 0, column 2
		pix[23] = tt.v     // a later offender is not the one reported
		_, err := NewFloat32([3]int{2, 2, 3}, pix, nil, 0)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("value %v: error %v, want %q", tt.v, err, tt.want)
		}
	}
	pix := []float32{0, 1, 0.5, float32(math.Copysign(0, -1))}
	if _, err := NewFloat32([3]int{1, 2, 2}, pix, nil, 0); err != nil {
		t.Errorf("valid values rejected: %v", err)
	}
}

func TestImageAndBatch(t *testing.T) {
	ds := toy(t, []int{0, 1, 1}, 2)
	if ds.Len() != 3 {
		t.Fatalf("Len() = %d", ds.Len())
	}
	dst := make([]float32, 2)
	ds.Image(2, dst)
	if want := []float32{4.0 / 255, 5.0 / 255}; !reflect.DeepEqual(dst, want) {
		t.Errorf("Image(2) = %v, want %v", dst, want)
	}
	batch := make([]float32, 6)
	ds.Batch([]int{2, 0, 2}, batch)
	if want := []float32{4.0 / 255, 5.0 / 255, 0, 1.0 / 255, 4.0 / 255, 5.0 / 255}; !reflect.DeepEqual(batch, want) {
		t.Errorf("Batch = %v, want %v", batch, want)
	}
	// 255 maps to exactly 1, as float32(255)/255.
	full, _ := NewUint8([3]int{1, 1, 1}, []uint8{255}, nil, 0)
	full.Image(0, dst)
	if dst[0] != 1 {
		t.Errorf("255 -> %v", dst[0])
	}

	f, err := NewFloat32([3]int{1, 1, 2}, []float32{0.1, 0.2, 0.3, 0.4}, []int{1, 0}, 2)
	if err != nil {
		t.Fatal(err)
	}
	f.Image(1, dst)
	if want := []float32{0.3, 0.4}; !reflect.DeepEqual(dst, want) {
		t.Errorf("float Image(1) = %v, want %v", dst, want)
	}
}

func TestImagePanics(t *testing.T) {
	ds := toy(t, []int{0, 1}, 2)
	for name, f := range map[string]func(){
		"index":     func() { ds.Image(2, make([]float32, 2)) },
		"negative":  func() { ds.Image(-1, make([]float32, 2)) },
		"short dst": func() { ds.Image(0, make([]float32, 1)) },
		"batch dst": func() { ds.Batch([]int{0, 1}, make([]float32, 3)) },
		"subset":    func() { ds.Subset([]int{5}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestSubset(t *testing.T) {
	ds := toy(t, []int{0, 1, 2, 0}, 3)
	ds.Name = "toy"
	ds.ClassNames = []string{"a", "b", "c"}
	ds.Sources = []Source{{Path: "p", SHA256: "h"}}
	s := ds.Subset([]int{3, 1})
	if s.Len() != 2 || !reflect.DeepEqual(s.Labels, []int{0, 1}) || s.Name != "toy" || s.Classes != 3 {
		t.Fatalf("subset %+v", s)
	}
	ss := s.Subset([]int{1, 1, 0})
	if !reflect.DeepEqual(ss.Labels, []int{1, 1, 0}) {
		t.Errorf("labels %v", ss.Labels)
	}
	dst := make([]float32, 2)
	ss.Image(2, dst) // original image 3
	if dst[0] != 6.0/255 {
		t.Errorf("subset of subset image = %v", dst)
	}
	if &ss.u8[0] != &ds.u8[0] {
		t.Error("subset does not share storage")
	}
	// Exported slices are the subset's own.
	s.Labels[0], s.ClassNames[0], s.Sources[0].Path = 2, "x", "q"
	if ds.Labels[3] != 0 || ds.ClassNames[0] != "a" || ds.Sources[0].Path != "p" {
		t.Error("subset aliases the parent's exported slices")
	}
	empty := ds.Subset(nil)
	if empty.Len() != 0 || len(empty.Labels) != 0 {
		t.Errorf("empty subset %+v", empty)
	}
	unlabelled, _ := NewUint8([3]int{1, 1, 1}, []uint8{1, 2}, nil, 0)
	if u := unlabelled.Subset([]int{1}); u.Labels != nil || u.Len() != 1 {
		t.Errorf("unlabelled subset %+v", u)
	}
}

func TestClassCounts(t *testing.T) {
	ds := toy(t, []int{0, 2, 2, 0, 2}, 4)
	if got := ds.ClassCounts(); !reflect.DeepEqual(got, []int{2, 0, 3, 0}) {
		t.Errorf("ClassCounts() = %v", got)
	}
	u, _ := NewUint8([3]int{1, 1, 1}, []uint8{1}, nil, 0)
	if got := u.ClassCounts(); len(got) != 0 {
		t.Errorf("unlabelled ClassCounts() = %v", got)
	}
}
