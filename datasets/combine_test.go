package datasets

import (
	"strings"
	"testing"
)

func TestConcat(t *testing.T) {
	a, _ := NewUint8([3]int{1, 1, 2}, []uint8{0, 255, 51, 102}, []int{0, 1}, 2)
	b, _ := NewUint8([3]int{1, 1, 2}, []uint8{10, 20}, []int{2}, 3)
	a.Name, b.Name = "a", "b"
	c, err := Concat("ab", a.Subset([]int{1, 0}), b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 3 || c.Classes != 3 || c.u8 == nil || c.Name != "ab" {
		t.Fatalf("%+v", c)
	}
	img := make([]float32, 2)
	c.Image(0, img)
	if img[0] != unit[51] || img[1] != unit[102] || c.Labels[0] != 1 || c.Labels[2] != 2 {
		t.Errorf("image 0 %v labels %v", img, c.Labels)
	}
	f, _ := NewFloat32([3]int{1, 1, 2}, []float32{0.25, 0.5}, []int{1}, 2)
	cf, err := Concat("af", a, f)
	if err != nil {
		t.Fatal(err)
	}
	cf.Image(2, img)
	if cf.f32 == nil || img[0] != 0.25 || img[1] != 0.5 {
		t.Errorf("mixed storage: %v", img)
	}
	u, _ := NewUint8([3]int{1, 1, 2}, []uint8{1, 2}, nil, 0)
	if _, err := Concat("x", a, u); err == nil || !strings.Contains(err.Error(), "labelled") {
		t.Errorf("labelled with unlabelled: %v", err)
	}
	o, _ := NewUint8([3]int{1, 2, 1}, []uint8{1, 2}, []int{0}, 2)
	if _, err := Concat("x", a, o); err == nil {
		t.Error("two shapes joined")
	}
}

func TestWithEdits(t *testing.T) {
	a, _ := NewUint8([3]int{1, 1, 2}, []uint8{0, 255, 51, 102, 7, 8}, []int{0, 1, 0}, 2)
	s := a.Subset([]int{2, 0})
	e, err := s.WithEdits([]int{1}, func(k int, img []float32) int {
		img[0] = 1
		return 1
	})
	if err != nil {
		t.Fatal(err)
	}
	img := make([]float32, 2)
	e.Image(1, img)
	if img[0] != 1 || img[1] != 1 || e.Labels[1] != 1 || e.Labels[0] != 0 {
		t.Errorf("edited %v labels %v", img, e.Labels)
	}
	s.Image(1, img)
	if img[0] != 0 || s.Labels[1] != 0 {
		t.Error("the original changed")
	}
	e.Image(0, img)
	if img[0] != unit[7] {
		t.Errorf("untouched image %v", img)
	}
	if _, err := s.WithEdits([]int{0}, func(int, []float32) int { return 5 }); err == nil {
		t.Error("label 5 of 2 classes accepted")
	}
	if _, err := s.WithEdits([]int{0}, func(_ int, img []float32) int { img[0] = 2; return 0 }); err == nil {
		t.Error("pixel 2 accepted")
	}
}
