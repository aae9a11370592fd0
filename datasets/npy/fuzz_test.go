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
