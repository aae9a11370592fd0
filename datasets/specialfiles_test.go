package datasets

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/advmatrix/advmatrix/datasets/npy"
)

// noHang fails the test, instead of hanging the suite, when f blocks.
func noHang(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("blocked for 10s")
		return nil
	}
}

// Every loader opens only regular files: a FIFO named like a data file
// used to block forever, /dev/zero to be read as data.
func TestSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := func(name string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := mkfifo(p); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		return p
	}
	x := writeNPY(t, dir, "x.npy", npy.NewFloat32([]int{1, 1, 2, 2}, make([]float32, 4)))
	// An image folder whose class "b" holds a FIFO named like a PNG.
	folder := filepath.Join(dir, "images")
	savePNG(t, filepath.Join(folder, "a", "0.png"), image.NewGray(image.Rect(0, 0, 2, 2)))
	fifo(filepath.Join("images", "b", "1.png"))
	// Fashion-MNIST files that are FIFOs.
	fashion := filepath.Join(dir, "fashion")
	fifo(filepath.Join("fashion", "t10k-images-idx3-ubyte"))
	fifo(filepath.Join("fashion", "t10k-labels-idx1-ubyte"))
	tests := []struct {
		spec, want string
	}{
		{"npy:" + fifo("x.fifo.npy"), "named pipe"},
		{"npy:" + x + "," + fifo("y.fifo.npy"), "named pipe"},
		{"npy:" + fifo("d.npz"), "named pipe"},
		{"npy:/dev/zero", "character device"},
		{"npy:/dev/null", "character device"},
		{"cifar10:" + fifo("c.bin"), "named pipe"},
		{"cifar10:/dev/zero", "character device"},
		{"folder:" + folder, "named pipe"},
		{"fashion-mnist@" + fashion, "named pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			if _, path, _ := strings.Cut(tt.spec, ":"); strings.HasPrefix(path, "/dev/") {
				if _, err := os.Stat(path); err != nil {
					t.Skip(err)
				}
			}
			err := noHang(t, func() error { _, err := Open(tt.spec, Options{}); return err })
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	for _, f := range []func() error{
		func() error { _, _, err := ReadIDXFile(filepath.Join(fashion, "t10k-images-idx3-ubyte")); return err },
		func() error { _, err := npy.ReadFile("/dev/zero"); return err },
		func() error { _, err := npy.ReadNPZ("/dev/zero"); return err },
	} {
		if err := noHang(t, f); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("error %v, want one saying not a regular file", err)
		}
	}
}

// rawEntry is a zip entry written as given: a deflate stream and the size
// the archive's directory declares.
type rawEntry struct {
	name     string
	deflated []byte
	size     uint64 // declared uncompressed size
}

func deflate(t *testing.T, parts ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	for _, p := range parts {
		w.Write(p)
	}
	w.Close()
	return b.Bytes()
}

func writeZip(t *testing.T, path string, entries ...rawEntry) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: zip.Deflate,
			CompressedSize64: uint64(len(e.deflated)), UncompressedSize64: e.size})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.deflated)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func npyBytes(t *testing.T, a *npy.Array) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := npy.Write(&b, a); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// An .npz holding x, y and a junk entry declared as 2 GiB: only x and y
// are decompressed. Before, every entry was read; the junk one here (a
// deflate stream of a few bytes that cannot deliver what it declares)
// made the whole file fail, and a real 2 GiB one took 2 GiB of memory.
func TestNPZReadsOnlyXAndY(t *testing.T) {
	dir := t.TempDir()
	xb := npyBytes(t, npy.NewUint8([]int{2, 1, 2, 2}, []uint8{0, 1, 2, 3, 4, 5, 6, 7}))
	yb := npyBytes(t, npy.NewInt64([]int{2}, []int64{1, 0}))
	junkHeader := npyBytes(t, npy.NewUint8([]int{0}, nil))
	p := filepath.Join(dir, "data.npz")
	writeZip(t, p,
		rawEntry{"junk.npy", deflate(t, junkHeader, make([]byte, 1<<16)), 2 << 30},
		rawEntry{"x.npy", deflate(t, xb), uint64(len(xb))},
		rawEntry{"y.npy", deflate(t, yb), uint64(len(yb))})
	ds, err := Open("npy:"+p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 2 || ds.Classes != 2 || ds.Labels[0] != 1 {
		t.Errorf("got %d images, %d classes, labels %v", ds.Len(), ds.Classes, ds.Labels)
	}
	// Reading the junk entry itself fails at once, on the sizes.
	z, err := npy.OpenNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if _, err := z.Read("junk"); err == nil || !strings.Contains(err.Error(), "trailing data") {
		t.Errorf("junk entry: %v", err)
	}
}
