package npy

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
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
