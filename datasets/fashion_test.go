package datasets

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFashionMNIST(t *testing.T) {
	if _, err := os.Stat(FashionMNISTDir); err != nil {
		t.Skipf("Fashion-MNIST not installed at %s (apt-get install dataset-fashion-mnist): %v", FashionMNISTDir, err)
	}
	ds, err := FashionMNIST("test", "")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 10000 || ds.Shape != [3]int{1, 28, 28} || ds.Name != "fashion-mnist:test" || len(ds.Sources) != 2 {
		t.Fatalf("got %s: %d images of %v, sources %v", ds.Name, ds.Len(), ds.Shape, ds.Sources)
	}
	want := []int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}
	if got := ds.ClassCounts(); !reflect.DeepEqual(got, want) {
		t.Errorf("class counts %v", got)
	}
	if ds.ClassNames[9] != "Ankle boot" || ds.Labels[0] != 9 {
		t.Errorf("first label %d (%s)", ds.Labels[0], ds.ClassNames[ds.Labels[0]])
	}
}

// TestFashionMNISTDir reads a folder of small fake idx files, plain and
// compressed, without needing the real data.
func TestFashionMNISTDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), gz(idxBytes([]int{2, 2, 2}, make([]byte, 8))), 0o644)
	os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), idxBytes([]int{2}, []byte{4, 5}), 0o644)
	ds, err := Open("fashion-mnist@"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 2 || ds.Name != "fashion-mnist:test@"+dir || ds.ClassNames[4] != "Coat" {
		t.Errorf("got %+v", ds)
	}
	for _, tt := range []struct{ spec, want string }{
		{"fashion-mnist:train@" + dir, "neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte in " + dir},
		{"fashion-mnist@" + filepath.Join(dir, "nope"), "not found (install the Debian package dataset-fashion-mnist"},
		{"fashion-mnist:val", `unknown split "val"`},
		{"fashion-mnist:test@", "empty folder"},
	} {
		_, err := Open(tt.spec, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) error %v, want %q", tt.spec, err, tt.want)
		}
	}
}
