package npy

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// raw builds an .npy file from a header dictionary and data bytes.
func raw(major byte, dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.WriteByte(major)
	b.WriteByte(0)
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(dict)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(dict)))
	}
	b.WriteString(dict)
	b.Write(data)
	return b.Bytes()
}

func dict(descr, shape string) string {
	return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }\n"
}

// plainReader hides Len and Seek so Read cannot know the data length.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func iota32(n int, scale float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(i) / scale
	}
	return out
}

func TestReadNumpyFixtures(t *testing.T) {
	a24 := iota32(24, 8)
	i8 := []int64{-3, 0, 1 << 40, 7}
	tests := []struct {
		file string
		want *Array
	}{
		{"f4.npy", NewFloat32([]int{2, 3, 4}, a24)},
		{"f4_be.npy", NewFloat32([]int{2, 3, 4}, a24)},
		{"f4_fortran.npy", NewFloat32([]int{2, 3, 4}, a24)},
		{"f4_v2.npy", NewFloat32([]int{2, 3, 4}, a24)},
		{"f4_v3.npy", NewFloat32([]int{2, 3, 4}, a24)},
		{"f8.npy", NewFloat64([]int{5}, []float64{-1, -0.5, 0, 0.5, 1})},
		{"u1.npy", NewUint8([]int{16, 16}, func() []uint8 {
			b := make([]uint8, 256)
			for i := range b {
				b[i] = uint8(i)
			}
			return b
		}())},
		{"i8.npy", NewInt64([]int{2, 2}, i8)},
		{"i8_be.npy", NewInt64([]int{2, 2}, i8)},
		{"i4.npy", NewInt32([]int{3}, []int32{-1, 2, 3})},
		{"b1.npy", NewBool([]int{3}, []bool{true, false, true})},
		{"scalar.npy", NewFloat64(nil, []float64{3.5})},
		{"empty.npy", NewFloat32([]int{0, 3}, []float32{})},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Write reproduces numpy.save byte for byte.
func TestWriteMatchesNumpy(t *testing.T) {
	for _, file := range []string{"f4.npy", "f8.npy", "u1.npy", "i8.npy", "i4.npy", "b1.npy", "scalar.npy", "empty.npy"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			a, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := Write(&b, a); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("Write output differs from numpy:\n got %q\nwant %q", b.Bytes(), want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	long := make([]int, 30) // a header too long for version 1.0 is not possible; many dims test padding
	for i := range long {
		long[i] = 1
	}
	tests := []struct {
		name string
		a    *Array
	}{
		{"f32", NewFloat32([]int{2, 3}, []float32{0, 1, -1, float32(math.Inf(1)), float32(math.NaN()), 1e-40})},
		{"f64", NewFloat64([]int{3}, []float64{math.Pi, -0.0, math.MaxFloat64})},
		{"u8", NewUint8([]int{1, 2, 2}, []uint8{0, 1, 254, 255})},
		{"i32", NewInt32([]int{2}, []int32{math.MinInt32, math.MaxInt32})},
		{"i64", NewInt64([]int{2, 1}, []int64{math.MinInt64, math.MaxInt64})},
		{"bool", NewBool([]int{4}, []bool{true, false, false, true})},
		{"scalar", NewInt64(nil, []int64{42})},
		{"empty", NewUint8([]int{0}, []uint8{})},
		{"empty4d", NewFloat32([]int{5, 0, 2, 2}, []float32{})},
		{"manydims", NewFloat64(long, []float64{7})},
		{"large", NewFloat32([]int{3, chunk/4 + 7}, iota32(3*(chunk/4+7), 3))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, tt.a); err != nil {
				t.Fatal(err)
			}
			if b.Len()%64 != 0 && tt.a.Len() == 0 {
				t.Errorf("header not 64-byte aligned: %d bytes", b.Len())
			}
			for _, r := range []io.Reader{bytes.NewReader(b.Bytes()), plainReader{bytes.NewReader(b.Bytes())}} {
				got, err := Read(r)
				if err != nil {
					t.Fatal(err)
				}
				if !sameArray(got, tt.a) {
					t.Errorf("%T: got %+v, want %+v", r, got, tt.a)
				}
			}
			path := filepath.Join(t.TempDir(), "a.npy")
			if err := WriteFile(path, tt.a); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !sameArray(got, tt.a) {
				t.Errorf("file: got %+v, want %+v", got, tt.a)
			}
		})
	}
}

// sameArray compares arrays bitwise, so NaNs compare equal.
func sameArray(a, b *Array) bool {
	if a.DType != b.DType || !reflect.DeepEqual(clone(a.Shape), clone(b.Shape)) {
		return false
	}
	var x, y bytes.Buffer
	if Write(&x, a) != nil || Write(&y, b) != nil {
		return false
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

func TestReadSequence(t *testing.T) {
	var b bytes.Buffer
	Write(&b, NewInt64([]int{2}, []int64{1, 2}))
	Write(&b, NewUint8([]int{1}, []uint8{9}))
	r := plainReader{&b}
	a1, err := Read(r)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := Read(r)
	if err != nil {
		t.Fatal(err)
	}
	if a1.Data.([]int64)[1] != 2 || a2.Data.([]uint8)[0] != 9 {
		t.Errorf("got %v %v", a1.Data, a2.Data)
	}
}

func TestFortranOrder(t *testing.T) {
	// 2x3 matrix [[0 1 2] [3 4 5]] stored column by column.
	f := raw(1, "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }\n", []byte{0, 3, 1, 4, 2, 5})
	a, err := Read(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint8{0, 1, 2, 3, 4, 5}; !reflect.DeepEqual(a.Data, want) {
		t.Errorf("got %v, want %v", a.Data, want)
	}
}

func TestReadErrors(t *testing.T) {
	f4 := dict("<f4", "(2,)")
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"bad magic", []byte("\x93NUMPZ\x01\x00\x00\x00"), "bad magic"},
		{"version 4", raw(4, f4, make([]byte, 8)), "version 4.0"},
		{"minor 1", func() []byte { b := raw(1, f4, make([]byte, 8)); b[7] = 1; return b }(), "version 1.1"},
		{"header truncated", raw(1, f4, nil)[:20], "header truncated"},
		{"header too long", func() []byte {
			b := raw(2, f4, nil)
			binary.LittleEndian.PutUint32(b[8:], MaxHeaderLen+1)
			return b
		}(), "exceeds the limit"},
		{"not a dict", raw(1, "['descr']", nil), "not a dictionary"},
		{"missing shape", raw(1, "{'descr': '<f4', 'fortran_order': False}", nil), `missing key "shape"`},
		{"extra key", raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", nil), `unexpected key "x"`},
		{"duplicate key", raw(1, "{'descr': '<f4', 'descr': '<f4'}", nil), "duplicate key"},
		{"structured", raw(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", nil), "structured"},
		{"float16", raw(1, dict("<f2", "(1,)"), nil), "unsupported dtype"},
		{"complex", raw(1, dict("<c8", "(1,)"), nil), "unsupported dtype"},
		{"pipe f4", raw(1, dict("|f4", "(1,)"), nil), "byte order"},
		{"long descr", raw(1, dict("<f4x", "(1,)"), nil), "unsupported dtype"},
		{"fortran not bool", raw(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", nil), "fortran_order"},
		{"shape not tuple", raw(1, dict("<f4", "[2]"), nil), "not a tuple"},
		{"shape paren int", raw(1, dict("<f4", "(2)"), nil), "trailing comma"},
		{"negative dim", raw(1, dict("<f4", "(-2,)"), nil), "negative"},
		{"float dim", raw(1, dict("<f4", "(2.0,)"), nil), "expected ',' or ')'"},
		{"leading zero", raw(1, dict("<f4", "(02,)"), nil), "invalid integer"},
		{"huge dim", raw(1, dict("<f4", "(99999999999999999999999,)"), nil), "exceeds the limit"},
		{"too many elements", raw(1, dict("<f4", "(65536, 65536)"), nil), "more than 2147483648 elements"},
		{"overflow", raw(1, dict("<f8", "(2147483648, 2147483648, 2147483648, 4)"), nil), "more than"},
		{"too many dims", raw(1, dict("<f4", "("+strings.Repeat("1, ", 65)+")"), nil), "more than 64 dimensions"},
		{"missing comma", raw(1, dict("<f4", "(2 3)"), nil), "expected ',' or ')'"},
		{"text after dict", raw(1, f4+"x", nil), "after the dictionary"},
		{"unterminated string", raw(1, "{'descr", nil), "unterminated"},
		{"escape in string", raw(1, `{'de\scr': 1}`, nil), "unsupported character"},
		{"data short", raw(1, dict("<f4", "(2, 3)"), make([]byte, 8)), "needs 24 bytes, 8 present"},
		{"data missing", raw(1, dict("<i8", "(1,)"), nil), "needs 8 bytes, 0 present"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(tt.in), plainReader{bytes.NewReader(tt.in)}} {
				a, err := Read(r)
				if err == nil {
					t.Fatalf("%T: got %+v, want error containing %q", r, a, tt.want)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%T: error %q does not contain %q", r, err, tt.want)
				}
			}
		})
	}
}

func TestHeaderVariants(t *testing.T) {
	tests := []struct {
		name, dict string
		shape      []int
	}{
		{"double quotes", `{"descr": "<f4", "fortran_order": False, "shape": (1,)}`, []int{1}},
		{"key order", "{'shape': (1, 1), 'fortran_order': False, 'descr': '<f4'}", []int{1, 1}},
		{"no trailing comma", "{'descr': '<f4','fortran_order':False,'shape':(1,)}", []int{1}},
		{"python2 long", "{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 1L), }", []int{1, 1}},
		{"tabs and newlines", "{\t'descr': '<f4',\n'fortran_order': False, 'shape': ( 1 , ) }  \n", []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Read(bytes.NewReader(raw(1, tt.dict, make([]byte, 4))))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Shape, tt.shape) {
				t.Errorf("shape %v, want %v", a.Shape, tt.shape)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	Write(&b, NewUint8([]int{2}, []uint8{1, 2}))
	trailing := filepath.Join(dir, "trailing.npy")
	os.WriteFile(trailing, append(b.Bytes(), 0, 0, 0), 0o644)
	short := filepath.Join(dir, "short.npy")
	os.WriteFile(short, raw(1, dict("<f8", "(1000000000,)"), make([]byte, 16)), 0o644)
	tests := []struct {
		path, want string
	}{
		{trailing, "3 bytes of trailing data"},
		{short, "needs 8000000000 bytes, 16 present"},
		{filepath.Join(dir, "missing.npy"), "no such file"},
	}
	for _, tt := range tests {
		_, err := ReadFile(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("ReadFile(%s) error %v, want one naming the file and containing %q", tt.path, err, tt.want)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		a    *Array
		want string
	}{
		{"length", NewFloat32([]int{2, 2}, []float32{1}), "needs 4 elements, data has 1"},
		{"dtype", &Array{Shape: []int{1}, DType: Float64, Data: []float32{1}}, "does not match"},
		{"type", &Array{Shape: []int{1}, DType: Float64, Data: []string{"a"}}, "unsupported data type"},
		{"negative", NewUint8([]int{-1}, nil), "negative"},
		{"dims", NewUint8(make([]int, 65), nil), "65 dimensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(io.Discard, tt.a)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	dir := filepath.Join(t.TempDir(), "missing")
	err := WriteFile(filepath.Join(dir, "a.npy"), NewUint8([]int{1}, []uint8{1}))
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("WriteFile into a missing directory: %v", err)
	}
}

func TestWriteFileLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.npy")
	if err := WriteFile(path, NewUint8([]int{1}, []uint8{1})); err != nil {
		t.Fatal(err)
	}
	// A failing write must not replace the existing file or leave a temporary.
	if err := WriteFile(path, NewUint8([]int{2}, []uint8{1})); err == nil {
		t.Fatal("want error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "a.npy" {
		t.Errorf("directory holds %v", entries)
	}
	a, err := ReadFile(path)
	if err != nil || a.Len() != 1 {
		t.Errorf("original file damaged: %v %v", a, err)
	}
}

func TestConversions(t *testing.T) {
	tests := []struct {
		name    string
		a       *Array
		floats  []float32
		ints    []int
		intsErr string
	}{
		{"f32", NewFloat32([]int{2}, []float32{1, 2.5}), []float32{1, 2.5}, nil, "element 1 (2.5) is not an integer"},
		{"f32 int", NewFloat32([]int{2}, []float32{1, -2}), []float32{1, -2}, []int{1, -2}, ""},
		{"f64 nan", NewFloat64([]int{1}, []float64{math.NaN()}), nil, nil, "not an integer"},
		{"f64 inf", NewFloat64([]int{1}, []float64{math.Inf(1)}), []float32{float32(math.Inf(1))}, nil, "not an integer"},
		{"f64", NewFloat64([]int{2}, []float64{0.5, 3}), []float32{0.5, 3}, nil, "not an integer"},
		{"u8", NewUint8([]int{2}, []uint8{0, 255}), []float32{0, 255}, []int{0, 255}, ""},
		{"i32", NewInt32([]int{2}, []int32{-5, 6}), []float32{-5, 6}, []int{-5, 6}, ""},
		{"i64", NewInt64([]int{2}, []int64{-5, 1 << 40}), []float32{-5, 1 << 40}, []int{-5, 1 << 40}, ""},
		{"bool", NewBool([]int{2}, []bool{true, false}), []float32{1, 0}, []int{1, 0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := tt.a.Float32()
			if err != nil {
				t.Fatal(err)
			}
			if tt.floats != nil && !reflect.DeepEqual(f, tt.floats) {
				t.Errorf("Float32() = %v, want %v", f, tt.floats)
			}
			ints, err := tt.a.Ints()
			if tt.intsErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.intsErr) {
					t.Errorf("Ints() error %v, want %q", err, tt.intsErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(ints, tt.ints) {
				t.Errorf("Ints() = %v, %v, want %v", ints, err, tt.ints)
			}
		})
	}
}

func TestLen(t *testing.T) {
	for _, tt := range []struct {
		shape []int
		want  int
	}{{nil, 1}, {[]int{0}, 0}, {[]int{2, 3}, 6}, {[]int{4, 0, 7}, 0}} {
		if got := (&Array{Shape: tt.shape}).Len(); got != tt.want {
			t.Errorf("Len(%v) = %d, want %d", tt.shape, got, tt.want)
		}
	}
}

func TestDType(t *testing.T) {
	if Float32.String() != "<f4" || Uint8.Size() != 1 || DType(0).Size() != 0 || DType(99).String() != "DType(99)" {
		t.Error("DType String/Size")
	}
}
