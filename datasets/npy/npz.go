package npy

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/internal/safeio"
)

// MaxNPZBytes bounds the size of an .npz file: room for a few arrays of
// MaxFileBytes, stored uncompressed.
const MaxNPZBytes = 4 * MaxFileBytes

// NPZ is an open .npz archive. Its arrays are decompressed one at a time,
// when asked for, so that an archive holding an array the caller does not
// need (or a decompression bomb posing as one) costs nothing.
type NPZ struct {
	name    string // for errors
	closer  io.Closer
	names   []string
	entries map[string]*zip.File
}

// OpenNPZ opens the .npz file at path, which must be a regular file of at
// most MaxNPZBytes. It reads the archive's directory only: every entry
// must be a NAME.npy file, each name once.
func OpenNPZ(path string) (*NPZ, error) {
	f, err := safeio.Open(path, MaxNPZBytes)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	z, err := NewNPZ(f, fi.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	z.closer = f
	return z, nil
}

// NewNPZ reads the directory of the .npz archive of the given size in r;
// name identifies it in errors. See OpenNPZ.
func NewNPZ(r io.ReaderAt, size int64, name string) (*NPZ, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	z := &NPZ{name: name, entries: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		key, ok := strings.CutSuffix(f.Name, ".npy")
		if !ok || key == "" {
			return nil, fmt.Errorf("read %s: entry %q is not an .npy file", name, f.Name)
		}
		if _, dup := z.entries[key]; dup {
			return nil, fmt.Errorf("read %s: entry %q appears twice", name, f.Name)
		}
		z.entries[key] = f
		z.names = append(z.names, key)
	}
	return z, nil
}

// Names lists the arrays in archive order.
func (z *NPZ) Names() []string { return slices.Clone(z.names) }

// Has reports whether the archive holds an array of that name.
func (z *NPZ) Has(name string) bool { return z.entries[name] != nil }

// Read decompresses and reads one array. The archive's directory must
// declare the entry's size to be exactly what its .npy header announces,
// and no more than that is ever decompressed: a truncated entry, one with
// trailing data, or one whose header claims more than the archive says it
// holds fails before its data is read.
func (z *NPZ) Read(name string) (*Array, error) {
	f := z.entries[name]
	if f == nil {
		return nil, fmt.Errorf("read %s: no array named %s", z.name, name)
	}
	a, err := readEntry(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: entry %s: %w", z.name, f.Name, err)
	}
	return a, nil
}

// Close closes the file OpenNPZ opened.
func (z *NPZ) Close() error {
	if z.closer == nil {
		return nil
	}
	return z.closer.Close()
}

// ReadNPZ reads every array of the .npz file at path, keyed by entry name
// without the ".npy" suffix. Stored and deflated entries are accepted; an
// entry that is not an .npy file, or a repeated name, is an error. To read
// some of the arrays only, use OpenNPZ.
func ReadNPZ(path string) (map[string]*Array, error) {
	z, err := OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	out := make(map[string]*Array, len(z.names))
	for _, k := range z.names {
		if out[k], err = z.Read(k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readEntry(f *zip.File) (*Array, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h, err := readHeader(rc)
	if err != nil {
		return nil, err
	}
	// archive/zip stops at the declared size, so checking it against the
	// header bounds what is decompressed by what the shape needs.
	need := uint64(h.size) + uint64(h.dataBytes())
	if have := f.UncompressedSize64; have < need {
		return nil, fmt.Errorf("npy: data too short: shape %v of %v needs %d bytes, %d present",
			h.shape, h.dtype, h.dataBytes(), have-min(have, uint64(h.size)))
	} else if have > need {
		return nil, fmt.Errorf("npy: %d bytes of trailing data after the array", have-need)
	}
	a, err := readData(rc, h)
	if err == nil {
		// Reading to the end also verifies the entry's checksum.
		err = checkEOF(rc)
	}
	if errors.Is(err, zip.ErrFormat) {
		err = fmt.Errorf("the data disagrees with the size the archive declares: %w", err)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// WriteNPZ writes arrays to the .npz file at path atomically, one deflated
// NAME.npy entry per array in sorted order. The output is byte-for-byte
// reproducible: entry times are fixed.
func WriteNPZ(path string, arrays map[string]*Array) error {
	keys := make([]string, 0, len(arrays))
	for k, a := range arrays {
		if k == "" {
			return fmt.Errorf("write %s: empty array name", path)
		}
		if a == nil {
			return fmt.Errorf("write %s: array %q is nil", path, k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return atomicfile.WriteFunc(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, k := range keys {
			ew, err := zw.CreateHeader(&zip.FileHeader{
				Name:     k + ".npy",
				Method:   zip.Deflate,
				Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC),
			})
			if err != nil {
				return err
			}
			if err := Write(ew, arrays[k]); err != nil {
				return fmt.Errorf("array %q: %w", k, err)
			}
		}
		return zw.Close()
	})
}
