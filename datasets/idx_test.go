package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// idxBytes builds an idx file of unsigned bytes.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestReadIDX(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	plain := idxBytes([]int{2, 2, 2}, data)
	for name, in := range map[string][]byte{"plain": plain, "gzip": gz(plain)} {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(x, &IDX{Dims: []int{2, 2, 2}, Data: data}) {
			t.Errorf("%s: got %+v", name, x)
		}
	}
	x, err := ReadIDX(bytes.NewReader(idxBytes([]int{0}, nil)))
	if err != nil || x.Dims[0] != 0 || len(x.Data) != 0 {
		t.Errorf("empty: %+v %v", x, err)
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes([]int{3, 2, 2}, make([]byte, 12))
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "unexpected EOF"},
		{"short magic", []byte{0, 0}, "unexpected EOF"},
		{"bad magic", []byte{1, 2, 8, 1, 0, 0, 0, 0}, "not an idx file"},
		{"int type", []byte{0, 0, 0x0c, 1, 0, 0, 0, 0}, "element type 0x0c is not supported"},
		{"no dims", []byte{0, 0, 8, 0}, "0 dimensions"},
		{"five dims", []byte{0, 0, 8, 5}, "5 dimensions"},
		{"truncated dims", []byte{0, 0, 8, 3, 0, 0, 0, 1}, "unexpected EOF"},
		{"count lies", idxBytes([]int{60000, 28, 28}, make([]byte, 784*3)),
			"header says 60000 items of 28x28 (47040000 bytes), but only 2352 bytes are present"},
		{"count lies gz", gz(idxBytes([]int{5}, []byte{1, 2})), "header says 5 items of 1 byte (5 bytes), but only 2"},
		{"trailing", append(good, 9), "data after the 3 items"},
		{"too large", idxBytes([]int{1 << 20, 1 << 20, 1 << 20}, nil), "too large"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, "gzip"},
		{"gzip corrupt", func() []byte { b := gz(good); b[len(b)-5] ^= 0xff; return b }(), "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestIDXPair(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	img := write("img", gz(idxBytes([]int{2, 1, 2}, []byte{0, 255, 51, 102})))
	lbl := write("lbl", idxBytes([]int{2}, []byte{3, 9}))
	ds, err := idxPair(img, lbl, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Shape != [3]int{1, 1, 2} || !reflect.DeepEqual(ds.Labels, []int{3, 9}) || len(ds.Sources) != 2 {
		t.Fatalf("got %+v", ds)
	}
	if ds.Sources[0].Path != img || len(ds.Sources[0].SHA256) != 64 {
		t.Errorf("sources %+v", ds.Sources)
	}
	tests := []struct {
		name, img, lbl, want string
	}{
		{"count mismatch", img, write("lbl3", idxBytes([]int{3}, []byte{1, 2, 3})), "has 2 images but"},
		{"label range", img, write("lbl10", idxBytes([]int{2}, []byte{1, 10})), "label 10 of item 1 is outside 0..9"},
		{"labels 2d", img, write("lbl2d", idxBytes([]int{2, 1}, []byte{1, 1})), "labels must have 1 dimension"},
		{"images 2d", lbl, lbl, "images must have 3 dimensions"},
		{"missing", filepath.Join(dir, "nope"), lbl, "no such file"},
		{"lies", write("lies", idxBytes([]int{9, 1, 2}, make([]byte, 4))), lbl, "header says 9 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := idxPair(tt.img, tt.lbl, 10)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	// Errors from a file name the file.
	_, err = idxPair(filepath.Join(dir, "lies"), lbl, 10)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "lies")) {
		t.Errorf("error %v does not name the file", err)
	}
}

func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 2, 2}, make([]byte, 8)))
	f.Add(idxBytes([]int{3}, []byte{1, 2, 3}))
	f.Add(gz(idxBytes([]int{1, 3, 1}, []byte{1, 2, 3})))
	f.Add(idxBytes([]int{4, 1, 1, 1}, []byte{1, 2, 3, 4}))
	if b, err := os.ReadFile("mnist/t10k-labels-idx1-ubyte.gz"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			return
		}
		n := 1
		for _, d := range x.Dims {
			n *= d
		}
		if n != len(x.Data) {
			t.Fatalf("dims %v but %d bytes", x.Dims, len(x.Data))
		}
		// What was read re-encodes to an equal file.
		y, err := ReadIDX(bytes.NewReader(idxBytes(x.Dims, x.Data)))
		if err != nil || !reflect.DeepEqual(x, y) {
			t.Fatalf("re-read: %v", err)
		}
	})
}
