package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/datasets/npy"
)

func writeNPY(t *testing.T, dir, name string, a *npy.Array) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := npy.WriteFile(p, a); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNumPy(t *testing.T) {
	dir := t.TempDir()
	f32 := []float32{0, 0.25, 0.5, 1, 0.75, 0.125, 0, 1}
	f64 := make([]float64, len(f32))
	for i, v := range f32 {
		f64[i] = float64(v)
	}
	x4 := writeNPY(t, dir, "x4.npy", npy.NewFloat32([]int{2, 1, 2, 2}, f32))
	x64 := writeNPY(t, dir, "x64.npy", npy.NewFloat64([]int{2, 1, 2, 2}, f64))
	xu8 := writeNPY(t, dir, "xu8.npy", npy.NewUint8([]int{2, 2, 2}, []uint8{0, 51, 102, 255, 0, 0, 0, 0}))
	y := writeNPY(t, dir, "y.npy", npy.NewInt64([]int{2}, []int64{4, 1}))
	y21 := writeNPY(t, dir, "y21.npy", npy.NewFloat32([]int{2, 1}, []float32{0, 2}))
	npz := filepath.Join(dir, "d.npz")
	if err := npy.WriteNPZ(npz, map[string]*npy.Array{
		"x":     npy.NewFloat32([]int{2, 1, 2, 2}, f32),
		"y":     npy.NewInt32([]int{2}, []int32{1, 0}),
		"extra": npy.NewUint8([]int{1}, []uint8{0}),
	}); err != nil {
		t.Fatal(err)
	}
	npzNoY := filepath.Join(dir, "nolabels.NPZ")
	npy.WriteNPZ(npzNoY, map[string]*npy.Array{"x": npy.NewUint8([]int{3, 1, 1}, []uint8{1, 2, 3})})

	tests := []struct {
		spec    string
		opt     Options
		n       int
		shape   [3]int
		classes int
		labels  []int
		first   []float32
		sources int
	}{
		{"npy:" + x4, Options{}, 2, [3]int{1, 2, 2}, 0, nil, f32[:4], 1},
		{"npy:" + x4 + "," + y, Options{}, 2, [3]int{1, 2, 2}, 5, []int{4, 1}, f32[:4], 2},
		{"npy:" + x4 + "," + y, Options{Classes: 10}, 2, [3]int{1, 2, 2}, 10, []int{4, 1}, f32[:4], 2},
		{"npy:" + x64 + "," + y21, Options{}, 2, [3]int{1, 2, 2}, 3, []int{0, 2}, f32[:4], 2},
		{"npy:" + xu8, Options{}, 2, [3]int{1, 2, 2}, 0, nil, []float32{0, 0.2, 0.4, 1}, 1},
		{"npy:" + npz, Options{}, 2, [3]int{1, 2, 2}, 2, []int{1, 0}, f32[:4], 1},
		{"npy:" + npzNoY, Options{}, 3, [3]int{1, 1, 1}, 0, nil, []float32{1.0 / 255}, 1},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.spec), func(t *testing.T) {
			ds, err := Open(tt.spec, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != tt.n || ds.Shape != tt.shape || ds.Classes != tt.classes || !reflect.DeepEqual(ds.Labels, tt.labels) {
				t.Errorf("got %d images of %v, %d classes, labels %v", ds.Len(), ds.Shape, ds.Classes, ds.Labels)
			}
			img := make([]float32, len(tt.first))
			ds.Image(0, img)
			if !reflect.DeepEqual(img, tt.first) {
				t.Errorf("first image %v, want %v", img, tt.first)
			}
			if ds.Name != tt.spec || len(ds.Sources) != tt.sources {
				t.Errorf("name %q sources %v", ds.Name, ds.Sources)
			}
			b, _ := os.ReadFile(ds.Sources[0].Path)
			if sum := sha256.Sum256(b); ds.Sources[0].SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("source hash %s is not the file's", ds.Sources[0].SHA256)
			}
		})
	}
}

func TestNumPyErrors(t *testing.T) {
	dir := t.TempDir()
	bad := make([]float32, 2*1*2*2)
	bad[6] = 1.5
	nan := make([]float32, 4)
	nan[3] = float32(math.NaN())
	x := writeNPY(t, dir, "x.npy", npy.NewFloat32([]int{2, 1, 2, 2}, make([]float32, 8)))
	rangeX := writeNPY(t, dir, "range.npy", npy.NewFloat32([]int{2, 1, 2, 2}, bad))
	nanX := writeNPY(t, dir, "nan.npy", npy.NewFloat32([]int{1, 2, 2}, nan))
	x2d := writeNPY(t, dir, "x2d.npy", npy.NewFloat32([]int{2, 4}, make([]float32, 8)))
	x5d := writeNPY(t, dir, "x5d.npy", npy.NewFloat32([]int{1, 1, 1, 1, 1}, make([]float32, 1)))
	xEmpty := writeNPY(t, dir, "xempty.npy", npy.NewFloat32([]int{2, 0, 2, 2}, nil))
	xInt := writeNPY(t, dir, "xint.npy", npy.NewInt64([]int{1, 1, 1}, []int64{0}))
	y3 := writeNPY(t, dir, "y3.npy", npy.NewInt64([]int{3}, []int64{0, 1, 2}))
	yNeg := writeNPY(t, dir, "yneg.npy", npy.NewInt64([]int{2}, []int64{0, -1}))
	yFrac := writeNPY(t, dir, "yfrac.npy", npy.NewFloat64([]int{2}, []float64{0, 0.5}))
	y2d := writeNPY(t, dir, "y2d.npy", npy.NewInt64([]int{2, 2}, []int64{0, 1, 2, 3}))
	y := writeNPY(t, dir, "y.npy", npy.NewInt64([]int{2}, []int64{0, 7}))
	trailing := filepath.Join(dir, "trailing.npy")
	b, _ := os.ReadFile(x)
	os.WriteFile(trailing, append(b, 0), 0o644)
	noX := filepath.Join(dir, "nox.npz")
	npy.WriteNPZ(noX, map[string]*npy.Array{"images": npy.NewUint8([]int{1}, []uint8{0})})
	lying := filepath.Join(dir, "lying.npy")
	os.WriteFile(lying, b[:len(b)-4], 0o644)

	tests := []struct {
		spec string
		opt  Options
		want string
	}{
		{"npy:" + rangeX, Options{}, rangeX + ": pixel value 1.5 at index [1, 0, 1, 0] is outside [0,1]"},
		{"npy:" + nanX, Options{}, "NaN at index [0, 0, 1, 1]"},
		{"npy:" + x2d, Options{}, "images have shape [2 4], want N×C×H×W or N×H×W"},
		{"npy:" + x5d, Options{}, "want N×C×H×W"},
		{"npy:" + xEmpty, Options{}, "empty image size"},
		{"npy:" + xInt, Options{}, "images have dtype <i8"},
		{"npy:" + x + "," + y3, Options{}, "has 2 images but " + y3 + " has 3 labels"},
		{"npy:" + x + "," + yNeg, Options{}, "label -1 of item 1 is negative"},
		{"npy:" + x + "," + yFrac, Options{}, yFrac + ": labels: npy: element 1 (0.5) is not an integer"},
		{"npy:" + x + "," + y2d, Options{}, "labels have shape [2 2]"},
		{"npy:" + x + "," + y, Options{Classes: 5}, "label 7 of item 1 is outside 0..4"},
		{"npy:" + trailing, Options{}, trailing + ": 1 bytes of trailing data"},
		{"npy:" + lying, Options{}, lying + ": npy: data too short: shape [2 1 2 2] of <f4 needs 32 bytes, 28 present"},
		{"npy:" + noX, Options{}, `no array named x (arrays present: ["images"])`},
		{"npy:" + x + "," + y + "," + y, Options{}, "3 files given"},
		{"npy:" + x + "," + noX, Options{}, "give it alone"},
		{"npy:" + filepath.Join(dir, "missing.npy"), Options{}, "no such file"},
		{"npy:" + x, Options{Shape: [3]int{3, 0, 0}}, "images are 1x2x2, but 3x0x0 was requested"},
		{"npy", Options{}, "no file given"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.spec), func(t *testing.T) {
			_, err := Open(tt.spec, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
