package npy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.npy"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(raw(1, "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }\n", []byte{0, 3, 1, 4, 2, 5}))
	f.Add(raw(2, dict("<i8", "(1, 1, 1)"), make([]byte, 8)))
	f.Add(raw(3, dict(">f8", "()"), make([]byte, 8)))
	f.Fuzz(func(t *testing.T, data []byte) {
		a1, err1 := Read(bytes.NewReader(data))
		a2, err2 := Read(plainReader{bytes.NewReader(data)})
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("known-length and streaming reads disagree: %v vs %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if !sameArray(a1, a2) {
			t.Fatal("known-length and streaming reads differ")
		}
		var b bytes.Buffer
		if err := Write(&b, a1); err != nil {
			t.Fatalf("Write of a read array: %v", err)
		}
		a3, err := Read(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("Read of a written array: %v", err)
		}
		if !sameArray(a1, a3) {
			t.Fatal("round trip changed the array")
		}
	})
}

func FuzzReadNPZ(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.npz"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p := filepath.Join(f.TempDir(), "seed.npz")
	if err := WriteNPZ(p, map[string]*Array{
		"x": NewUint8([]int{1, 2, 2}, []uint8{0, 1, 2, 3}),
		"y": NewInt64([]int{1}, []int64{1}),
	}); err != nil {
		f.Fatal(err)
	}
	if b, err := os.ReadFile(p); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		z, err := NewNPZ(bytes.NewReader(data), int64(len(data)), "fuzz.npz")
		if err != nil {
			return
		}
		for _, name := range z.Names() {
			if !z.Has(name) {
				t.Fatalf("Names lists %q, Has denies it", name)
			}
			a, err := z.Read(name)
			if err != nil {
				continue
			}
			if err := a.check(); err != nil {
				t.Fatalf("array %q: %v", name, err)
			}
			// What was read is a well-formed array: it writes back.
			var b bytes.Buffer
			if err := Write(&b, a); err != nil {
				t.Fatalf("Write of array %q: %v", name, err)
			}
		}
	})
}
