package npy

import (
	"fmt"
	"math"
)

// DType is the element type of an [Array]. The zero value is invalid.
type DType uint8

// The supported element types, with the descriptors Write uses. Read also
// accepts their big-endian forms ('>f4', …), returning native values.
const (
	Float32 DType = iota + 1 // '<f4'
	Float64                  // '<f8'
	Uint8                    // '|u1'
	Int32                    // '<i4'
	Int64                    // '<i8'
	Bool                     // '|b1'
)

var dtypeInfo = [...]struct {
	descr string
	size  int
}{
	Float32: {"<f4", 4},
	Float64: {"<f8", 8},
	Uint8:   {"|u1", 1},
	Int32:   {"<i4", 4},
	Int64:   {"<i8", 8},
	Bool:    {"|b1", 1},
}

func (t DType) valid() bool { return t >= Float32 && t <= Bool }

// String returns the numpy descriptor of t as written to files, such as "<f4".
func (t DType) String() string {
	if !t.valid() {
		return fmt.Sprintf("DType(%d)", uint8(t))
	}
	return dtypeInfo[t].descr
}

// Size returns the size of one element in bytes, or 0 for an invalid DType.
func (t DType) Size() int {
	if !t.valid() {
		return 0
	}
	return dtypeInfo[t].size
}

// Array is an n-dimensional array in C (row-major) order.
//
// Data holds the elements as a slice whose type matches DType: []float32,
// []float64, []uint8, []int32, []int64 or []bool. Its length must equal the
// product of Shape (1 for a zero-dimensional array).
type Array struct {
	Shape []int
	DType DType
	Data  any
}

// NewFloat32 returns an array of the given shape that uses data as its
// storage (it is not copied). [Write] reports a length mismatch.
func NewFloat32(shape []int, data []float32) *Array {
	return &Array{Shape: clone(shape), DType: Float32, Data: data}
}

// NewFloat64 is like [NewFloat32] for float64 data.
func NewFloat64(shape []int, data []float64) *Array {
	return &Array{Shape: clone(shape), DType: Float64, Data: data}
}

// NewUint8 is like [NewFloat32] for uint8 data.
func NewUint8(shape []int, data []uint8) *Array {
	return &Array{Shape: clone(shape), DType: Uint8, Data: data}
}

// NewInt32 is like [NewFloat32] for int32 data.
func NewInt32(shape []int, data []int32) *Array {
	return &Array{Shape: clone(shape), DType: Int32, Data: data}
}

// NewInt64 is like [NewFloat32] for int64 data.
func NewInt64(shape []int, data []int64) *Array {
	return &Array{Shape: clone(shape), DType: Int64, Data: data}
}

// NewBool is like [NewFloat32] for bool data.
func NewBool(shape []int, data []bool) *Array {
	return &Array{Shape: clone(shape), DType: Bool, Data: data}
}

func clone(s []int) []int {
	if s == nil {
		return []int{}
	}
	return append([]int(nil), s...)
}

// Len returns the number of elements that the shape describes: the product
// of Shape, 1 for a zero-dimensional array.
func (a *Array) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// check reports whether Data agrees with DType and Shape.
func (a *Array) check() error {
	if len(a.Shape) > MaxDims {
		return fmt.Errorf("npy: %d dimensions, at most %d supported", len(a.Shape), MaxDims)
	}
	n, err := elements(a.Shape)
	if err != nil {
		return err
	}
	var got int
	ok := true
	switch d := a.Data.(type) {
	case []float32:
		got, ok = len(d), a.DType == Float32
	case []float64:
		got, ok = len(d), a.DType == Float64
	case []uint8:
		got, ok = len(d), a.DType == Uint8
	case []int32:
		got, ok = len(d), a.DType == Int32
	case []int64:
		got, ok = len(d), a.DType == Int64
	case []bool:
		got, ok = len(d), a.DType == Bool
	default:
		return fmt.Errorf("npy: unsupported data type %T", a.Data)
	}
	if !ok {
		return fmt.Errorf("npy: data of type %T does not match dtype %v", a.Data, a.DType)
	}
	if got != n {
		return fmt.Errorf("npy: shape %v needs %d elements, data has %d", a.Shape, n, got)
	}
	return nil
}

// Float32 returns the elements converted to float32. Booleans become 0 and 1.
// When DType is Float32 the result is the array's own storage, not a copy.
func (a *Array) Float32() ([]float32, error) {
	switch d := a.Data.(type) {
	case []float32:
		return d, nil
	case []float64:
		return convert(d, func(v float64) float32 { return float32(v) }), nil
	case []uint8:
		return convert(d, func(v uint8) float32 { return float32(v) }), nil
	case []int32:
		return convert(d, func(v int32) float32 { return float32(v) }), nil
	case []int64:
		return convert(d, func(v int64) float32 { return float32(v) }), nil
	case []bool:
		return convert(d, func(v bool) float32 {
			if v {
				return 1
			}
			return 0
		}), nil
	}
	return nil, fmt.Errorf("npy: cannot convert %T to float32", a.Data)
}

func convert[S, D any](src []S, f func(S) D) []D {
	dst := make([]D, len(src))
	for i, v := range src {
		dst[i] = f(v)
	}
	return dst
}

// Ints returns the elements as ints. Integer and boolean arrays convert
// directly; float arrays convert only if every element is a whole number
// that fits in an int.
func (a *Array) Ints() ([]int, error) {
	switch d := a.Data.(type) {
	case []uint8:
		return convert(d, func(v uint8) int { return int(v) }), nil
	case []int32:
		return convert(d, func(v int32) int { return int(v) }), nil
	case []int64:
		out := make([]int, len(d))
		for i, v := range d {
			if int64(int(v)) != v {
				return nil, fmt.Errorf("npy: element %d (%d) does not fit in an int", i, v)
			}
			out[i] = int(v)
		}
		return out, nil
	case []bool:
		return convert(d, func(v bool) int {
			if v {
				return 1
			}
			return 0
		}), nil
	case []float32:
		return floatsToInts(d)
	case []float64:
		return floatsToInts(d)
	}
	return nil, fmt.Errorf("npy: cannot convert %T to int", a.Data)
}

func floatsToInts[F float32 | float64](d []F) ([]int, error) {
	out := make([]int, len(d))
	for i, v := range d {
		f := float64(v)
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 ||
			float64(int(f)) != f {
			return nil, fmt.Errorf("npy: element %d (%v) is not an integer", i, f)
		}
		out[i] = int(f)
	}
	return out, nil
}
