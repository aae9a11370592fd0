package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/advmatrix/advmatrix/internal/atomicfile"
)

// Write writes a in .npy format to w: format version 1.0 (2.0 if the header
// is too long for 1.0), little-endian, C order, with the header laid out
// exactly as numpy.save lays it out.
func Write(w io.Writer, a *Array) error {
	if err := a.check(); err != nil {
		return err
	}
	if _, err := w.Write(encodeHeader(a)); err != nil {
		return err
	}
	buf := make([]byte, 0, chunk)
	flush := func() error {
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	le := binary.LittleEndian
	put := func(n int, enc func(i int)) error {
		for i := 0; i < n; i++ {
			if len(buf)+8 > cap(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			enc(i)
		}
		return flush()
	}
	switch d := a.Data.(type) {
	case []float32:
		return put(len(d), func(i int) { buf = le.AppendUint32(buf, math.Float32bits(d[i])) })
	case []float64:
		return put(len(d), func(i int) { buf = le.AppendUint64(buf, math.Float64bits(d[i])) })
	case []uint8:
		_, err := w.Write(d)
		return err
	case []int32:
		return put(len(d), func(i int) { buf = le.AppendUint32(buf, uint32(d[i])) })
	case []int64:
		return put(len(d), func(i int) { buf = le.AppendUint64(buf, uint64(d[i])) })
	case []bool:
		return put(len(d), func(i int) {
			if d[i] {
				buf = append(buf, 1)
			} else {
				buf = append(buf, 0)
			}
		})
	}
	return fmt.Errorf("npy: unsupported data type %T", a.Data)
}

// encodeHeader returns magic, version, header length and padded header,
// as numpy's _write_array_header produces them.
func encodeHeader(a *Array) []byte {
	var sb strings.Builder
	sb.WriteString("{'descr': '")
	sb.WriteString(a.DType.String())
	sb.WriteString("', 'fortran_order': False, 'shape': (")
	for i, d := range a.Shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(d))
	}
	if len(a.Shape) == 1 {
		sb.WriteByte(',')
	}
	sb.WriteString("), }")
	// numpy leaves room for the first axis to grow to 21 digits.
	if len(a.Shape) > 0 {
		sb.WriteString(strings.Repeat(" ", max(0, 21-len(strconv.Itoa(a.Shape[0])))))
	}
	h := sb.String()
	const align = 64
	hlen := len(h) + 1 // with the final newline
	version, lenSize := byte(1), 2
	if pad := align - (len(magic)+2+lenSize+hlen)%align; hlen+pad > math.MaxUint16 {
		version, lenSize = 2, 4
	}
	pad := align - (len(magic)+2+lenSize+hlen)%align
	out := make([]byte, 0, len(magic)+2+lenSize+hlen+pad)
	out = append(out, magic...)
	out = append(out, version, 0)
	if lenSize == 2 {
		out = binary.LittleEndian.AppendUint16(out, uint16(hlen+pad))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(hlen+pad))
	}
	out = append(out, h...)
	out = append(out, strings.Repeat(" ", pad)...)
	return append(out, '\n')
}

// WriteFile writes a to the .npy file at path atomically: it writes a
// temporary file in the same directory and renames it into place.
func WriteFile(path string, a *Array) error {
	return atomicfile.WriteFunc(path, func(w io.Writer) error { return Write(w, a) })
}
