package datasets

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// cifarFile writes n CIFAR-10 records; record i has label labels[i] and
// every byte of channel c equal to 10*i+c.
func cifarFile(t *testing.T, dir, name string, labels []byte) string {
	t.Helper()
	var b []byte
	for i, l := range labels {
		b = append(b, l)
		for c := 0; c < 3; c++ {
			for j := 0; j < 1024; j++ {
				b = append(b, byte(10*i+c))
			}
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCIFAR10(t *testing.T) {
	dir := t.TempDir()
	a := cifarFile(t, dir, "a.bin", []byte{3, 9})
	b := cifarFile(t, dir, "b.bin", []byte{0})
	ds, err := Open("cifar10:"+a+","+b, Options{Shape: [3]int{3, 32, 32}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 3 || ds.Shape != [3]int{3, 32, 32} || !reflect.DeepEqual(ds.Labels, []int{3, 9, 0}) {
		t.Fatalf("got %d images of %v, labels %v", ds.Len(), ds.Shape, ds.Labels)
	}
	if ds.ClassNames[3] != "cat" || len(ds.Sources) != 2 || ds.Sources[1].Path != b {
		t.Errorf("names %v sources %v", ds.ClassNames, ds.Sources)
	}
	img := make([]float32, 3072)
	ds.Image(1, img)
	for c, want := range []float32{10, 11, 12} {
		if img[c*1024] != want/255 || img[c*1024+1023] != want/255 {
			t.Errorf("image 1 channel %d = %v, want %v", c, img[c*1024], want/255)
		}
	}
	ds.Image(2, img) // the second file's first record
	if img[0] != 0 || img[1024] != 1.0/255 {
		t.Errorf("image 2 = %v %v", img[0], img[1024])
	}
}

func TestCIFAR10Errors(t *testing.T) {
	dir := t.TempDir()
	good := cifarFile(t, dir, "good.bin", []byte{1})
	badLabel := cifarFile(t, dir, "label.bin", []byte{1, 10})
	short := filepath.Join(dir, "short.bin")
	os.WriteFile(short, make([]byte, 3073+100), 0o644)
	empty := filepath.Join(dir, "empty.bin")
	os.WriteFile(empty, nil, 0o644)
	tests := []struct {
		spec, want string
	}{
		{"cifar10:" + badLabel, badLabel + ": record 1 has label 10, want 0..9"},
		{"cifar10:" + short, short + ": length 3173 is not a positive multiple of the 3073-byte"},
		{"cifar10:" + empty, "length 0"},
		{"cifar10:" + good + "," + short, short},
		{"cifar10:" + dir, "not a regular file"},
		{"cifar10:" + filepath.Join(dir, "nope.bin"), "no such file"},
		{"cifar10:", "nothing after ':'"},
		{"cifar10", "no file given"},
		{"cifar10:" + good + ",", "empty file name"},
		{"cifar10:" + good, ""},
	}
	for _, tt := range tests {
		_, err := Open(tt.spec, Options{})
		if tt.want == "" {
			if err != nil {
				t.Errorf("Open(%q): %v", tt.spec, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) error %v, want %q", tt.spec, err, tt.want)
		}
	}
	if _, err := CIFAR10(); err == nil {
		t.Error("CIFAR10() with no files: no error")
	}
}
