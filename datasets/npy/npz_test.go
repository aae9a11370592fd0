package npy

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestReadNPZNumpy(t *testing.T) {
	want := map[string]*Array{
		"x": NewFloat32([]int{2, 1, 2, 3}, iota32(12, 5)),
		"y": NewInt64([]int{2}, []int64{1, 0}),
	}
	for _, file := range []string{"stored.npz", "deflated.npz"} {
		t.Run(file, func(t *testing.T) {
			got, err := ReadNPZ(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestNPZRoundTrip(t *testing.T) {
	dir := t.TempDir()
	arrays := map[string]*Array{
		"x":      NewFloat32([]int{2, 2}, []float32{0, 0.25, 0.5, 1}),
		"labels": NewInt64([]int{2}, []int64{3, 4}),
		"mask":   NewBool([]int{2}, []bool{true, false}),
		"sub/z":  NewUint8(nil, []uint8{7}),
	}
	p1, p2 := filepath.Join(dir, "a.npz"), filepath.Join(dir, "b.npz")
	for _, p := range []string{p1, p2} {
		if err := WriteNPZ(p, arrays); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadNPZ(p1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, arrays) {
		t.Errorf("got %v, want %v", got, arrays)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) {
		t.Error("WriteNPZ is not reproducible")
	}
}

func zipFile(t *testing.T, entries map[string][]byte, names ...string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(entries[n])
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "f.npz")
	os.WriteFile(p, b.Bytes(), 0o644)
	return p
}

func TestReadNPZErrors(t *testing.T) {
	var good bytes.Buffer
	Write(&good, NewUint8([]int{1}, []uint8{1}))
	dir := t.TempDir()
	notZip := filepath.Join(dir, "plain.npz")
	os.WriteFile(notZip, good.Bytes(), 0o644)

	// A stored entry whose CRC is wrong.
	var bad bytes.Buffer
	zw := zip.NewWriter(&bad)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "x.npy", Method: zip.Store})
	w.Write(good.Bytes())
	zw.Close()
	corrupt := bad.Bytes()
	i := bytes.Index(corrupt, good.Bytes())
	corrupt[i+len(good.Bytes())-1] ^= 0xff
	crc := filepath.Join(dir, "crc.npz")
	os.WriteFile(crc, corrupt, 0o644)

	tests := []struct {
		name, path, want string
	}{
		{"not npy entry", zipFile(t, map[string][]byte{"x.txt": good.Bytes()}, "x.txt"), `entry "x.txt" is not an .npy file`},
		{"duplicate", zipFile(t, map[string][]byte{"x.npy": good.Bytes()}, "x.npy", "x.npy"), "appears twice"},
		{"bad entry", zipFile(t, map[string][]byte{"x.npy": good.Bytes()[:20]}, "x.npy"), "entry x.npy: npy: header truncated"},
		{"trailing", zipFile(t, map[string][]byte{"x.npy": append(good.Bytes(), 1)}, "x.npy"), "trailing"},
		{"not zip", notZip, "not a valid zip"},
		{"checksum", crc, "checksum"},
		{"missing", filepath.Join(dir, "nope.npz"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadNPZ(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %v, want one naming %s and containing %q", err, tt.path, tt.want)
			}
		})
	}
}

func TestWriteNPZErrors(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []map[string]*Array{
		{"": NewUint8([]int{1}, []uint8{1})},
		{"x": nil},
		{"x": NewUint8([]int{2}, []uint8{1})},
	} {
		p := filepath.Join(dir, "a.npz")
		if err := WriteNPZ(p, m); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("WriteNPZ(%v) error %v", m, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %v", entries)
	}
}

// rawZip writes entries with the deflate streams and declared sizes given,
// as a hostile or damaged archive would hold them.
func rawZip(t *testing.T, entries ...rawEntry) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: zip.Deflate,
			CompressedSize64: uint64(len(e.deflated)), UncompressedSize64: e.size, CRC32: crc32.ChecksumIEEE(e.plain)})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.deflated)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "raw.npz")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type rawEntry struct {
	name     string
	plain    []byte // for the CRC
	deflated []byte
	size     uint64 // declared uncompressed size
}

// entry deflates plain and declares its true size plus extra bytes.
func entry(t *testing.T, name string, plain []byte, extra int64) rawEntry {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(plain)
	w.Close()
	return rawEntry{name: name, plain: plain, deflated: b.Bytes(), size: uint64(int64(len(plain)) + extra)}
}

func TestOpenNPZ(t *testing.T) {
	var x, y bytes.Buffer
	Write(&x, NewUint8([]int{2}, []uint8{1, 2}))
	Write(&y, NewInt64([]int{1}, []int64{7}))
	p := rawZip(t, entry(t, "y.npy", y.Bytes(), 0), entry(t, "x.npy", x.Bytes(), 0), entry(t, "junk.npy", x.Bytes(), 1<<31))
	z, err := OpenNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if got := z.Names(); !reflect.DeepEqual(got, []string{"y", "x", "junk"}) || !z.Has("x") || z.Has("z") {
		t.Errorf("Names %v", got)
	}
	a, err := z.Read("x")
	if err != nil || !reflect.DeepEqual(a.Data, []uint8{1, 2}) {
		t.Errorf("Read(x) = %v, %v", a, err)
	}
	if _, err := z.Read("z"); err == nil || !strings.Contains(err.Error(), "no array named z") || !strings.Contains(err.Error(), p) {
		t.Errorf("Read(z): %v", err)
	}
	// ReadNPZ reads everything, so the junk entry fails it.
	if _, err := ReadNPZ(p); err == nil || !strings.Contains(err.Error(), "entry junk.npy") {
		t.Errorf("ReadNPZ: %v", err)
	}
}

// An entry's declared size must be what its header announces: nothing
// beyond that is decompressed, and a short one fails clearly.
func TestNPZEntrySizes(t *testing.T) {
	var good bytes.Buffer
	Write(&good, NewFloat32([]int{4}, []float32{0, 1, 2, 3}))
	g := good.Bytes()
	// A header promising 2^28 float64 values (2 GiB) followed by 1 MiB.
	huge := append(raw(1, dict("<f8", "(268435456,)"), nil), make([]byte, 1<<20)...)
	tests := []struct {
		name string
		e    rawEntry
		want string
	}{
		{"declared larger", entry(t, "x.npy", g, 1<<31), "2147483648 bytes of trailing data"},
		{"declared smaller", entry(t, "x.npy", g, -4), "data too short: shape [4] of <f4 needs 16 bytes, 12 present"},
		{"stream shorter than declared", entry(t, "x.npy", g[:len(g)-4], 4), "data too short: shape [4] of <f4 needs 16 bytes"},
		{"stream longer than declared", entry(t, "x.npy", append(g, 0, 0), -2), "the data disagrees with the size the archive declares"},
		{"header claims 2 GiB", entry(t, "x.npy", huge, int64(1<<31-1<<20)), "needs 2147483648 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rawZip(t, tt.e)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadNPZ(p)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "entry x.npy") {
				t.Errorf("error %v, want one naming entry x.npy and containing %q", err, tt.want)
			}
			// Memory follows the data present, not the claims.
			if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
				t.Errorf("allocated %d MiB", d>>20)
			}
		})
	}
}
