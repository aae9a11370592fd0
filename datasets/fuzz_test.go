package datasets

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/advmatrix/advmatrix/datasets/npy"
)

// checkDataset checks the invariants every opened dataset keeps.
func checkDataset(t *testing.T, ds *Dataset) {
	t.Helper()
	if ds.Classes < 0 || ds.Classes > MaxClasses {
		t.Fatalf("%d classes", ds.Classes)
	}
	if ds.Labels != nil {
		if len(ds.Labels) != ds.Len() {
			t.Fatalf("%d labels for %d images", len(ds.Labels), ds.Len())
		}
		if err := ds.CheckClasses(max(ds.Classes, 1)); err != nil {
			t.Fatal(err)
		}
	}
	chw := ds.Shape[0] * ds.Shape[1] * ds.Shape[2]
	if chw <= 0 {
		t.Fatalf("shape %v", ds.Shape)
	}
	img := make([]float32, chw)
	for i := 0; i < ds.Len(); i++ {
		ds.Image(i, img)
		for _, v := range img {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("image %d has pixel %v", i, v)
			}
		}
	}
}

func FuzzCIFAR10(f *testing.F) {
	rec := func(label byte, fill byte) []byte {
		b := make([]byte, cifarRecord)
		b[0] = label
		for i := 1; i < len(b); i++ {
			b[i] = fill + byte(i)
		}
		return b
	}
	f.Add(rec(3, 0))
	f.Add(append(rec(9, 7), rec(0, 1)...))
	f.Add(rec(10, 0))
	f.Add(rec(1, 0)[:100])
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "batch.bin")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ds, err := CIFAR10(p)
		if err != nil {
			return
		}
		if ds.Len()*cifarRecord != len(b) || ds.Classes != 10 {
			t.Fatalf("%d images, %d classes from %d bytes", ds.Len(), ds.Classes, len(b))
		}
		checkDataset(t, ds)
		img := make([]float32, 3072)
		for i := 0; i < ds.Len(); i++ {
			ds.Image(i, img)
			if int(b[i*cifarRecord]) != ds.Labels[i] || img[0] != float32(b[i*cifarRecord+1])/255 {
				t.Fatalf("record %d read wrong", i)
			}
		}
	})
}

// FuzzNumPy opens fuzzed .npy images and labels, and the two as an .npz,
// the way the npy: data spec does.
func FuzzNumPy(f *testing.F) {
	dir := f.TempDir()
	enc := func(a *npy.Array) []byte {
		p := filepath.Join(dir, "seed.npy")
		if err := npy.WriteFile(p, a); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(enc(npy.NewFloat32([]int{2, 1, 2, 2}, []float32{0, 0.5, 1, 0.25, 0, 0, 0, 1})), enc(npy.NewInt64([]int{2}, []int64{0, 3})))
	f.Add(enc(npy.NewUint8([]int{1, 2, 2}, []uint8{0, 255, 7, 9})), enc(npy.NewFloat64([]int{1, 1}, []float64{2})))
	f.Add(enc(npy.NewFloat64([]int{1, 3, 1, 1}, []float64{0, 1, 0.5})), []byte{})
	f.Fuzz(func(t *testing.T, x, y []byte) {
		xp, yp, zp := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy"), filepath.Join(dir, "d.npz")
		os.WriteFile(xp, x, 0o644)
		os.WriteFile(yp, y, 0o644)
		spec := "npy:" + xp
		if len(y) > 0 {
			spec += "," + yp
		}
		if ds, err := Open(spec, Options{}); err == nil {
			checkDataset(t, ds)
		}
		// The same arrays in an archive, when both parse.
		xa, err1 := npy.ReadFile(xp)
		ya, err2 := npy.ReadFile(yp)
		if err1 != nil || err2 != nil {
			return
		}
		if err := npy.WriteNPZ(zp, map[string]*npy.Array{"x": xa, "y": ya}); err != nil {
			return
		}
		if ds, err := Open("npy:"+zp, Options{}); err == nil {
			checkDataset(t, ds)
		}
	})
}
