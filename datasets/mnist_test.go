package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestMNIST(t *testing.T) {
	tests := []struct {
		split      string
		n          int
		first      []int
		counts     []int
		imagesFile string
	}{
		{"test", 10000, []int{7, 2, 1, 0, 4}, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, "t10k-images-idx3-ubyte.gz"},
		{"train", 60000, []int{5, 0, 4, 1, 9}, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, "train-images-idx3-ubyte.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.split, func(t *testing.T) {
			ds, err := MNIST(tt.split)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != tt.n || ds.Shape != [3]int{1, 28, 28} || ds.Classes != 10 || ds.Name != "mnist:"+tt.split {
				t.Fatalf("got %s: %d images of %v, %d classes", ds.Name, ds.Len(), ds.Shape, ds.Classes)
			}
			if !reflect.DeepEqual(ds.Labels[:5], tt.first) {
				t.Errorf("first labels %v, want %v", ds.Labels[:5], tt.first)
			}
			if got := ds.ClassCounts(); !reflect.DeepEqual(got, tt.counts) {
				t.Errorf("class counts %v, want %v", got, tt.counts)
			}
			b, err := os.ReadFile("mnist/" + tt.imagesFile)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if s := ds.Sources[0]; s.Path != "embedded:mnist/"+tt.imagesFile || s.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("source %+v", s)
			}
			// The images have ink: the first one is not blank and in range.
			img := make([]float32, 784)
			ds.Image(0, img)
			var total float32
			for _, v := range img {
				if v < 0 || v > 1 {
					t.Fatalf("value %v out of range", v)
				}
				total += v
			}
			if total < 10 {
				t.Errorf("first image nearly blank: sum %v", total)
			}
			// A second call shares the pixels but not the labels.
			again, _ := MNIST(tt.split)
			if &again.u8[0] != &ds.u8[0] {
				t.Error("pixels decoded twice")
			}
			again.Labels[0] = 3
			if ds.Labels[0] == 3 {
				t.Error("labels shared between calls")
			}
		})
	}
	if _, err := MNIST("valid"); err == nil || !strings.Contains(err.Error(), `unknown split "valid"`) {
		t.Errorf("bad split: %v", err)
	}
}
