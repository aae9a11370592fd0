package datasets

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/advmatrix/advmatrix/internal/safeio"
)

// maxIDXBytes bounds the data of one idx file.
const maxIDXBytes = 1 << 31

// maxIDXFileBytes bounds the size of an idx file, plain or compressed: the
// data, a header and gzip's overhead on incompressible data.
const maxIDXFileBytes = maxIDXBytes + 1<<24

// IDX is the content of an idx file (the format of MNIST and
// Fashion-MNIST) holding unsigned bytes.
type IDX struct {
	// Dims holds the sizes of the dimensions, the first being the item count.
	Dims []int
	// Data holds the items, row-major.
	Data []uint8
}

// ReadIDX reads an idx file of unsigned bytes from r, gzip-compressed or
// plain. It is strict: the magic number must announce unsigned bytes and
// 1 to 4 dimensions, and the data must hold exactly as many bytes as the
// dimensions say — no fewer and no more.
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(2); err == nil && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		return readIDX(zr)
	}
	return readIDX(br)
}

func readIDX(r io.Reader) (*IDX, error) {
	var m [4]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		return nil, fmt.Errorf("idx header: %w", unexpected(err))
	}
	if m[0] != 0 || m[1] != 0 {
		return nil, fmt.Errorf("not an idx file (magic %#08x)", binary.BigEndian.Uint32(m[:]))
	}
	if m[2] != 0x08 {
		return nil, fmt.Errorf("idx element type %#02x is not supported (only unsigned bytes, 0x08)", m[2])
	}
	nd := int(m[3])
	if nd < 1 || nd > 4 {
		return nil, fmt.Errorf("idx file has %d dimensions, want 1 to 4", nd)
	}
	dims := make([]int, nd)
	size := int64(1)
	for i := range dims {
		if _, err := io.ReadFull(r, m[:]); err != nil {
			return nil, fmt.Errorf("idx header: %w", unexpected(err))
		}
		d := int64(binary.BigEndian.Uint32(m[:]))
		if d > maxIDXBytes || (d > 0 && size > maxIDXBytes/d) {
			return nil, fmt.Errorf("idx dimensions too large (limit %d bytes)", int64(maxIDXBytes))
		}
		dims[i] = int(d)
		size *= d
	}
	data, extra, err := readExactly(r, size)
	if err != nil {
		return nil, fmt.Errorf("idx data: %w", err)
	}
	if int64(len(data)) < size {
		return nil, fmt.Errorf("idx header says %d items of %s (%d bytes), but only %d bytes are present",
			dims[0], itemShape(dims[1:]), size, len(data))
	}
	if extra {
		return nil, fmt.Errorf("idx file has data after the %d items its header announces", dims[0])
	}
	return &IDX{Dims: dims, Data: data}, nil
}

func itemShape(d []int) string {
	if len(d) == 0 {
		return "1 byte"
	}
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, "x")
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readExactly reads up to n bytes, growing its buffer only as data
// arrives, and reports whether more data follows. Fewer than n bytes
// means r ended early.
func readExactly(r io.Reader, n int64) (data []byte, extra bool, err error) {
	buf := make([]byte, 0, min(n, 1<<20))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	var one [1]byte
	for {
		k, err := r.Read(one[:])
		if k > 0 {
			return buf, true, nil
		}
		if err == io.EOF {
			return buf, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// ReadIDXFile reads the idx file at path (gzip-compressed or plain) and
// returns it with its provenance.
func ReadIDXFile(path string) (*IDX, Source, error) {
	f, err := safeio.Open(path, maxIDXFileBytes)
	if err != nil {
		return nil, Source{}, err
	}
	defer f.Close()
	h := sha256.New()
	x, err := ReadIDX(io.TeeReader(f, h))
	if err != nil {
		return nil, Source{}, fmt.Errorf("read %s: %w", path, err)
	}
	// Hash any bytes the reader did not need (such as a gzip trailer).
	if _, err := io.Copy(h, f); err != nil {
		return nil, Source{}, fmt.Errorf("read %s: %w", path, err)
	}
	return x, Source{Path: path, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// fromIDX builds a dataset from an idx3 image file and an idx1 label file.
// imgName and lblName name them in errors.
func fromIDX(images, labels *IDX, imgName, lblName string, classes int) (*Dataset, error) {
	if len(images.Dims) != 3 {
		return nil, fmt.Errorf("%s: images must have 3 dimensions (N, H, W), found %d", imgName, len(images.Dims))
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("%s: labels must have 1 dimension, found %d", lblName, len(labels.Dims))
	}
	if images.Dims[0] != labels.Dims[0] {
		return nil, fmt.Errorf("%s has %d images but %s has %d labels", imgName, images.Dims[0], lblName, labels.Dims[0])
	}
	if images.Dims[1] == 0 || images.Dims[2] == 0 {
		return nil, fmt.Errorf("%s: empty image size %dx%d", imgName, images.Dims[1], images.Dims[2])
	}
	lab := make([]int, len(labels.Data))
	for i, l := range labels.Data {
		if int(l) >= classes {
			return nil, fmt.Errorf("%s: label %d of item %d is outside 0..%d", lblName, l, i, classes-1)
		}
		lab[i] = int(l)
	}
	return NewUint8([3]int{1, images.Dims[1], images.Dims[2]}, images.Data, lab, classes)
}
