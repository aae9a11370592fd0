package models

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"github.com/advmatrix/advmatrix/internal/safeio"
)

// ONNX element types the importer understands. Float tensors become
// differentiable values; integer and boolean tensors are only ever known at
// compile time (shapes, indices, axes), where they are held as float64, which
// represents every int64 below 2^53 exactly.
const (
	dtFloat   = int32(pb.TensorProto_FLOAT)
	dtUint8   = int32(pb.TensorProto_UINT8)
	dtInt8    = int32(pb.TensorProto_INT8)
	dtUint16  = int32(pb.TensorProto_UINT16)
	dtInt16   = int32(pb.TensorProto_INT16)
	dtInt32   = int32(pb.TensorProto_INT32)
	dtInt64   = int32(pb.TensorProto_INT64)
	dtBool    = int32(pb.TensorProto_BOOL)
	dtFloat16 = int32(pb.TensorProto_FLOAT16)
	dtDouble  = int32(pb.TensorProto_DOUBLE)
	dtUint32  = int32(pb.TensorProto_UINT32)
	dtUint64  = int32(pb.TensorProto_UINT64)
	dtBF16    = int32(pb.TensorProto_BFLOAT16)
)

func dtypeName(dt int32) string {
	if s, ok := pb.TensorProto_DataType_name[dt]; ok {
		return s
	}
	return "dtype(" + strconv.Itoa(int(dt)) + ")"
}

func isFloatType(dt int32) bool {
	return dt == dtFloat || dt == dtDouble || dt == dtFloat16 || dt == dtBF16
}

func isIntType(dt int32) bool {
	switch dt {
	case dtUint8, dtInt8, dtUint16, dtInt16, dtInt32, dtInt64, dtUint32, dtUint64, dtBool:
		return true
	}
	return false
}

// elemSize is the raw_data width of one element.
func elemSize(dt int32) int {
	switch dt {
	case dtUint8, dtInt8, dtBool:
		return 1
	case dtUint16, dtInt16, dtFloat16, dtBF16:
		return 2
	case dtFloat, dtInt32, dtUint32:
		return 4
	case dtInt64, dtDouble, dtUint64:
		return 8
	}
	return 0
}

// constant is a tensor whose value is known when a graph is compiled: an
// initializer, a Constant node, or the result of folding shape arithmetic.
// Float32 data stays in f32 (weights are the bulk of a model); everything
// else is widened to float64.
type constant struct {
	dtype int32
	shape []int
	f32   []float32
	f64   []float64
}

func (c *constant) size() int { return numel(c.shape) }

// float64s returns the values widened to float64 (a copy for float32 data).
func (c *constant) float64s() []float64 {
	if c.f64 != nil || c.f32 == nil {
		return c.f64
	}
	out := make([]float64, len(c.f32))
	for i, v := range c.f32 {
		out[i] = float64(v)
	}
	return out
}

// ints returns the values as ints, for shapes, axes and indices.
func (c *constant) ints() []int {
	v := c.float64s()
	out := make([]int, len(v))
	for i, x := range v {
		// Integers are held as float64, so INT64_MAX — exporters' "to the
		// end" in Slice, as in torch.roll — arrives as 2⁶³, which int()
		// would wrap to INT64_MIN. Saturate instead.
		switch {
		case x >= math.MaxInt64:
			out[i] = math.MaxInt64
		case x <= math.MinInt64:
			out[i] = math.MinInt64
		default:
			out[i] = int(x)
		}
	}
	return out
}

// tensorLimits bounds what an untrusted model may make the importer allocate.
type tensorLimits struct {
	maxElements int64  // per tensor
	dir         string // folder external data must live in; "" forbids external data
}

// decodeTensor turns a TensorProto into a constant, checking that the
// payload agrees with the declared shape and type.
func decodeTensor(t *pb.TensorProto, lim tensorLimits) (*constant, error) {
	name := t.GetName()
	dt := t.GetDataType()
	if !isFloatType(dt) && !isIntType(dt) {
		return nil, fmt.Errorf("tensor %q: element type %s is not supported", name, dtypeName(dt))
	}
	if t.Segment != nil {
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported", name)
	}
	shape := make([]int, len(t.GetDims()))
	n := int64(1)
	// bound is n with zero dimensions counted as 1, so that an empty tensor
	// cannot smuggle in dimensions whose product overflows later shape
	// arithmetic.
	bound := int64(1)
	for i, d := range t.GetDims() {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q: negative dimension %d", name, d)
		}
		if dd := max(d, 1); bound > lim.maxElements/dd {
			return nil, fmt.Errorf("tensor %q: shape %v exceeds the limit of %d elements", name, t.GetDims(), lim.maxElements)
		}
		bound *= max(d, 1)
		n *= d
		shape[i] = int(d)
	}
	if n > lim.maxElements {
		return nil, fmt.Errorf("tensor %q: %d elements exceed the limit of %d", name, n, lim.maxElements)
	}
	c := &constant{dtype: dt, shape: shape}
	raw := t.GetRawData()
	if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
		var err error
		if raw, err = readExternal(t, n*int64(elemSize(dt)), lim); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
	}
	count := int(n)
	if raw != nil || t.GetDataLocation() == pb.TensorProto_EXTERNAL {
		if want := count * elemSize(dt); len(raw) != want {
			return nil, fmt.Errorf("tensor %q: raw data holds %d bytes, shape %v of %s needs %d", name, len(raw), shape, dtypeName(dt), want)
		}
		return c, c.fromRaw(raw, count)
	}
	var have int
	switch dt {
	case dtFloat:
		have = len(t.GetFloatData())
		if have == count {
			c.f32 = append([]float32(nil), t.GetFloatData()...)
		}
	case dtDouble:
		have = len(t.GetDoubleData())
		if have == count {
			c.f64 = append([]float64(nil), t.GetDoubleData()...)
		}
	case dtInt64:
		have = len(t.GetInt64Data())
		if have == count {
			c.f64 = make([]float64, count)
			for i, v := range t.GetInt64Data() {
				c.f64[i] = float64(v)
			}
		}
	case dtUint32, dtUint64:
		have = len(t.GetUint64Data())
		if have == count {
			c.f64 = make([]float64, count)
			for i, v := range t.GetUint64Data() {
				c.f64[i] = float64(v)
			}
		}
	case dtFloat16, dtBF16:
		have = len(t.GetInt32Data())
		if have == count {
			c.f64 = make([]float64, count)
			for i, v := range t.GetInt32Data() {
				if dt == dtBF16 {
					c.f64[i] = float64(math.Float32frombits(uint32(v) << 16))
				} else {
					c.f64[i] = float64(halfToFloat(uint16(v)))
				}
			}
		}
	default: // the int32_data carriers
		have = len(t.GetInt32Data())
		if have == count {
			c.f64 = make([]float64, count)
			for i, v := range t.GetInt32Data() {
				c.f64[i] = float64(v)
			}
		}
	}
	if have != count {
		return nil, fmt.Errorf("tensor %q: holds %d values, shape %v needs %d", name, have, shape, count)
	}
	if c.f32 == nil && c.f64 == nil {
		c.f64 = []float64{}
	}
	return c, nil
}

func (c *constant) fromRaw(raw []byte, n int) error {
	le := binary.LittleEndian
	switch c.dtype {
	case dtFloat:
		c.f32 = make([]float32, n)
		for i := range c.f32 {
			c.f32[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return nil
	}
	c.f64 = make([]float64, n)
	for i := range c.f64 {
		var v float64
		switch c.dtype {
		case dtDouble:
			v = math.Float64frombits(le.Uint64(raw[8*i:]))
		case dtFloat16:
			v = float64(halfToFloat(le.Uint16(raw[2*i:])))
		case dtBF16:
			v = float64(math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16))
		case dtInt64:
			v = float64(int64(le.Uint64(raw[8*i:])))
		case dtUint64:
			v = float64(le.Uint64(raw[8*i:]))
		case dtInt32:
			v = float64(int32(le.Uint32(raw[4*i:])))
		case dtUint32:
			v = float64(le.Uint32(raw[4*i:]))
		case dtInt16:
			v = float64(int16(le.Uint16(raw[2*i:])))
		case dtUint16:
			v = float64(le.Uint16(raw[2*i:]))
		case dtInt8:
			v = float64(int8(raw[i]))
		case dtUint8:
			v = float64(raw[i])
		case dtBool:
			if raw[i] != 0 {
				v = 1
			}
		}
		c.f64[i] = v
	}
	return nil
}

// readExternal loads external tensor data, refusing any location that is
// not a plain relative path inside the model's own folder.
func readExternal(t *pb.TensorProto, want int64, lim tensorLimits) ([]byte, error) {
	var loc string
	var off, length int64 = 0, -1
	for _, kv := range t.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			loc = kv.GetValue()
		case "offset":
			off, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("external data %s: %w", kv.GetKey(), err)
		}
	}
	if lim.dir == "" {
		return nil, errors.New("external data is only read for models loaded from a file")
	}
	if loc == "" || filepath.IsAbs(loc) || strings.Contains(loc, "\\") {
		return nil, fmt.Errorf("external data location %q is not a relative path", loc)
	}
	clean := filepath.Clean(loc)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, fmt.Errorf("external data location %q is outside the model's folder", loc)
	}
	dir, err := filepath.EvalSymlinks(lim.dir)
	if err != nil {
		return nil, err
	}
	full, err := filepath.EvalSymlinks(filepath.Join(dir, clean))
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	if rel, err := filepath.Rel(dir, full); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("external data location %q resolves outside the model's folder", loc)
	}
	if length < 0 {
		length = want
	}
	if off < 0 {
		return nil, fmt.Errorf("external data offset %d is negative", off)
	}
	if length != want {
		return nil, fmt.Errorf("external data length %d (offset %d) does not match the %d bytes the shape needs", length, off, want)
	}
	// Check the file before allocating: a FIFO or device must not block or
	// stream forever, and a tiny file must not make the importer allocate
	// what the shape claims.
	f, err := safeio.Open(full, -1)
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	if off > fi.Size() || length > fi.Size()-off {
		return nil, fmt.Errorf("external data %s holds %d bytes; offset %d and length %d reach past its end", loc, fi.Size(), off, length)
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && length == 0) {
		return nil, fmt.Errorf("external data %s: %w", loc, err)
	}
	return buf, nil
}

// roundTo rounds a value to the precision of a narrower float type.
func roundTo(dt int32, v float64) float64 {
	switch dt {
	case dtFloat:
		return float64(float32(v))
	case dtFloat16:
		return float64(halfToFloat(floatToHalf(float32(v))))
	case dtBF16:
		// Round to nearest even on the upper 16 bits.
		b := math.Float32bits(float32(v))
		if b&0x7f800000 != 0x7f800000 {
			b += 0x7fff + (b>>16)&1
		}
		return float64(math.Float32frombits(b &^ 0xffff))
	}
	return v
}

// floatToHalf converts to IEEE 754 binary16 with round-to-nearest-even.
func floatToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	man := b & 0x7fffff
	switch {
	case b&0x7fffffff > 0x7f800000:
		return sign | 0x7e00
	case exp >= 31:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint(14 - exp)
		h := man >> shift
		rem := man & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// halfToFloat converts an IEEE 754 binary16 value.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(man) / 1024 / 16384
		if sign != 0 {
			return -f
		}
		return f
	case exp == 31:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
