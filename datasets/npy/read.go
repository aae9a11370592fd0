package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/advmatrix/advmatrix/internal/safeio"
)

// Limits on untrusted input.
const (
	// MaxHeaderLen bounds the length of the header dictionary in bytes.
	MaxHeaderLen = 1 << 16
	// MaxDims bounds the number of dimensions (numpy's own limit).
	MaxDims = 64
	// MaxElements bounds the number of elements of one array.
	MaxElements = 1 << 31
)

const magic = "\x93NUMPY"

// header is the decoded header dictionary of an .npy file.
type header struct {
	dtype   DType
	order   binary.ByteOrder
	fortran bool
	shape   []int
	size    int64 // bytes of magic, version, length and dictionary
	n       int   // elements, the product of shape
}

// dataBytes is the size of the data section the header announces.
func (h *header) dataBytes() int64 { return int64(h.n) * int64(h.dtype.Size()) }

// Read reads one array in .npy format from r. It reads exactly the bytes of
// the array, so several arrays written one after another can be read in turn.
//
// If r reports how much data it holds (it has a Len method, as
// *bytes.Reader does, or it is a regular *os.File), a data section shorter
// than the shape requires is rejected before anything is allocated.
func Read(r io.Reader) (*Array, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	return readData(r, h)
}

// readData reads the data section that h announces.
func readData(r io.Reader, h *header) (*Array, error) {
	n, need := h.n, h.dataBytes()
	known := false
	var err error
	if rem, ok := remaining(r); ok {
		if rem < need {
			return nil, fmt.Errorf("npy: data too short: shape %v of %v needs %d bytes, %d present",
				h.shape, h.dtype, need, rem)
		}
		known = true
	}
	a := &Array{Shape: h.shape, DType: h.dtype}
	switch h.dtype {
	case Float32:
		a.Data, err = readElems(r, h, n, known, func(b []byte) float32 {
			return math.Float32frombits(h.order.Uint32(b))
		})
	case Float64:
		a.Data, err = readElems(r, h, n, known, func(b []byte) float64 {
			return math.Float64frombits(h.order.Uint64(b))
		})
	case Uint8:
		a.Data, err = readElems(r, h, n, known, func(b []byte) uint8 { return b[0] })
	case Int32:
		a.Data, err = readElems(r, h, n, known, func(b []byte) int32 { return int32(h.order.Uint32(b)) })
	case Int64:
		a.Data, err = readElems(r, h, n, known, func(b []byte) int64 { return int64(h.order.Uint64(b)) })
	case Bool:
		a.Data, err = readElems(r, h, n, known, func(b []byte) bool { return b[0] != 0 })
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// MaxFileBytes bounds the size of an .npy file: the largest header and
// MaxElements elements of 8 bytes.
const MaxFileBytes = 12 + MaxHeaderLen + 8*MaxElements

// ReadFile reads the .npy file at path. Bytes after the array are an error,
// and so is a path that is not a regular file (a FIFO, a device) or a file
// larger than MaxFileBytes.
func ReadFile(path string) (*Array, error) {
	f, err := safeio.Open(path, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(f)
	if err == nil {
		err = checkEOF(f)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return a, nil
}

// checkEOF reports an error unless r is exhausted.
func checkEOF(r io.Reader) error {
	n, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
	if err != nil {
		return err
	}
	if n > 0 {
		if n == 1<<20 {
			return fmt.Errorf("npy: 1 MiB or more of trailing data after the array")
		}
		return fmt.Errorf("npy: %d bytes of trailing data after the array", n)
	}
	return nil
}

// remaining reports how many bytes r still holds, if r can tell.
func remaining(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len()), true
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, false
		}
		return fi.Size() - off, true
	}
	return 0, false
}

// chunk is the number of bytes read and decoded at a time.
const chunk = 1 << 20

// readElems reads n elements of h.dtype. Unless known says the data is
// there, the result grows as data arrives rather than being allocated
// up front from the header's claim.
func readElems[T any](r io.Reader, h *header, n int, known bool, dec func([]byte) T) ([]T, error) {
	size := h.dtype.Size()
	per := chunk / size
	var out []T
	if known {
		out = make([]T, 0, n)
	} else {
		out = make([]T, 0, min(n, per))
	}
	buf := make([]byte, min(n, per)*size)
	for len(out) < n {
		k := min(n-len(out), per)
		b := buf[:k*size]
		got, err := io.ReadFull(r, b)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("npy: data too short: shape %v of %v needs %d bytes, %d present",
					h.shape, h.dtype, int64(n)*int64(size), int64(len(out))*int64(size)+int64(got))
			}
			return nil, fmt.Errorf("npy: reading data: %w", err)
		}
		if cap(out)-len(out) < k {
			grown := make([]T, len(out), min(n, max(2*cap(out), len(out)+k)))
			copy(grown, out)
			out = grown
		}
		for i := 0; i < k; i++ {
			out = append(out, dec(b[i*size:]))
		}
	}
	if h.fortran && len(h.shape) > 1 {
		out = fortranToC(out, h.shape)
	}
	return out, nil
}

// fortranToC reorders data laid out in Fortran (column-major) order into C
// (row-major) order.
func fortranToC[T any](src []T, shape []int) []T {
	dst := make([]T, len(src))
	if len(src) == 0 {
		return dst
	}
	nd := len(shape)
	// fstride[k] is the Fortran stride of axis k.
	fstride := make([]int, nd)
	s := 1
	for k := 0; k < nd; k++ {
		fstride[k] = s
		s *= shape[k]
	}
	idx := make([]int, nd)
	f := 0
	for c := range dst {
		dst[c] = src[f]
		// Advance the C multi-index (last axis fastest), tracking the
		// Fortran offset.
		for k := nd - 1; k >= 0; k-- {
			idx[k]++
			f += fstride[k]
			if idx[k] < shape[k] {
				break
			}
			f -= idx[k] * fstride[k]
			idx[k] = 0
		}
	}
	return dst
}

// elements returns the product of shape, checking every dimension and
// the product against MaxElements.
func elements(shape []int) (int, error) {
	n := 1
	zero := false
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("npy: negative dimension %d in shape %v", d, shape)
		}
		if d > MaxElements {
			return 0, fmt.Errorf("npy: dimension %d in shape %v exceeds the limit of %d elements", d, shape, MaxElements)
		}
		if d == 0 {
			zero = true
		}
	}
	if zero {
		return 0, nil
	}
	for _, d := range shape {
		if n > MaxElements/d {
			return 0, fmt.Errorf("npy: shape %v has more than %d elements", shape, MaxElements)
		}
		n *= d
	}
	return n, nil
}

// readHeader reads the magic string, version, header length and header
// dictionary.
func readHeader(r io.Reader) (*header, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("npy: file too short for an .npy header")
		}
		return nil, fmt.Errorf("npy: reading header: %w", err)
	}
	if string(pre[:6]) != magic {
		return nil, fmt.Errorf("npy: not an .npy file (bad magic %q)", pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch {
	case major == 1 && minor == 0:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, errors.New("npy: file too short for an .npy header")
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:10]))
	case (major == 2 || major == 3) && minor == 0:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, errors.New("npy: file too short for an .npy header")
		}
		n := binary.LittleEndian.Uint32(l[:])
		if n > MaxHeaderLen {
			return nil, fmt.Errorf("npy: header length %d exceeds the limit of %d", n, MaxHeaderLen)
		}
		hlen = int(n)
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", major, minor)
	}
	buf := make([]byte, hlen)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("npy: header truncated: length %d announced", hlen)
		}
		return nil, fmt.Errorf("npy: reading header: %w", err)
	}
	h, err := parseHeader(string(buf))
	if err != nil {
		return nil, fmt.Errorf("npy: header %q: %w", truncate(string(buf), 200), err)
	}
	if h.n, err = elements(h.shape); err != nil {
		return nil, err
	}
	h.size = 8 + 4 + int64(hlen)
	if major == 1 {
		h.size -= 2 // a 2-byte length, not 4
	}
	return h, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parseDescr maps a numpy type descriptor to a DType and byte order.
func parseDescr(s string) (DType, binary.ByteOrder, error) {
	if len(s) != 3 {
		return 0, nil, fmt.Errorf("unsupported dtype %q", s)
	}
	var t DType
	switch s[1:] {
	case "f4":
		t = Float32
	case "f8":
		t = Float64
	case "u1":
		t = Uint8
	case "i4":
		t = Int32
	case "i8":
		t = Int64
	case "b1":
		t = Bool
	default:
		return 0, nil, fmt.Errorf("unsupported dtype %q (supported: <f4 <f8 |u1 <i4 <i8 |b1 and big-endian forms)", s)
	}
	switch s[0] {
	case '<':
		return t, binary.LittleEndian, nil
	case '>':
		return t, binary.BigEndian, nil
	case '|':
		if t.Size() == 1 {
			return t, binary.LittleEndian, nil
		}
	}
	return 0, nil, fmt.Errorf("unsupported byte order in dtype %q", s)
}

// parseHeader parses the header dictionary, a Python literal such as
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//
// It accepts exactly the keys descr, fortran_order and shape, string
// values in single or double quotes without escapes, True and False, and
// tuples of non-negative integers (with Python 2's L suffix allowed).
func parseHeader(s string) (*header, error) {
	p := &lit{s: s}
	p.space()
	if !p.eat('{') {
		return nil, errors.New("header is not a dictionary")
	}
	h := &header{}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, fmt.Errorf("dictionary key: %w", err)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return nil, fmt.Errorf("missing ':' after key %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() == '[' {
				return nil, errors.New("structured dtypes are not supported")
			}
			d, err := p.str()
			if err != nil {
				return nil, fmt.Errorf("descr: %w", err)
			}
			if h.dtype, h.order, err = parseDescr(d); err != nil {
				return nil, err
			}
		case "fortran_order":
			switch {
			case strings.HasPrefix(p.s[p.i:], "True"):
				h.fortran = true
				p.i += 4
			case strings.HasPrefix(p.s[p.i:], "False"):
				p.i += 5
			default:
				return nil, errors.New("fortran_order is not True or False")
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return nil, fmt.Errorf("shape: %w", err)
			}
		default:
			return nil, fmt.Errorf("unexpected key %q", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return nil, fmt.Errorf("expected ',' or '}' at offset %d", p.i)
		}
		break
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected text after the dictionary at offset %d", p.i)
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return nil, fmt.Errorf("missing key %q", k)
		}
	}
	return h, nil
}

// lit is a cursor over a Python literal.
type lit struct {
	s string
	i int
}

func (p *lit) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *lit) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

func (p *lit) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *lit) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("expected a string at offset %d", p.i)
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		switch p.s[j] {
		case q:
			p.i = j + 1
			return p.s[start:j], nil
		case '\\', '\n':
			return "", fmt.Errorf("unsupported character in string at offset %d", j)
		}
	}
	return "", errors.New("unterminated string")
}

func (p *lit) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("not a tuple")
	}
	shape := []int{}
	comma := false
	for {
		p.space()
		if p.eat(')') {
			break
		}
		if len(shape) > 0 && !comma {
			return nil, fmt.Errorf("expected ',' or ')' at offset %d", p.i)
		}
		if len(shape) == MaxDims {
			return nil, fmt.Errorf("more than %d dimensions", MaxDims)
		}
		d, err := p.dim()
		if err != nil {
			return nil, err
		}
		shape = append(shape, d)
		p.space()
		comma = p.eat(',')
	}
	if len(shape) == 1 && !comma {
		// "(3)" is the integer 3 in Python, not a tuple.
		return nil, errors.New("not a tuple (a one-element tuple needs a trailing comma)")
	}
	return shape, nil
}

func (p *lit) dim() (int, error) {
	start := p.i
	if c := p.peek(); c == '-' {
		return 0, fmt.Errorf("negative dimension at offset %d", p.i)
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	digits := p.s[start:p.i]
	if digits == "" {
		return 0, fmt.Errorf("expected an integer at offset %d", start)
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, fmt.Errorf("invalid integer %q", digits)
	}
	if c := p.peek(); c == 'L' || c == 'l' {
		p.i++
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v > MaxElements {
		return 0, fmt.Errorf("dimension %s exceeds the limit of %d elements", digits, MaxElements)
	}
	return int(v), nil
}
