package npy

import (
	"archive/zip"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/advmatrix/advmatrix/internal/atomicfile"
)

// ReadNPZ reads every array of the .npz file at path, keyed by entry name
// without the ".npy" suffix. Stored and deflated entries are accepted; an
// entry that is not an .npy file, or a repeated name, is an error.
func ReadNPZ(path string) (map[string]*Array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer zr.Close()
	out := make(map[string]*Array, len(zr.File))
	for _, f := range zr.File {
		key, ok := strings.CutSuffix(f.Name, ".npy")
		if !ok || key == "" {
			return nil, fmt.Errorf("read %s: entry %q is not an .npy file", path, f.Name)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("read %s: entry %q appears twice", path, f.Name)
		}
		a, err := readEntry(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: entry %s: %w", path, f.Name, err)
		}
		out[key] = a
	}
	return out, nil
}

func readEntry(f *zip.File) (*Array, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	a, err := Read(rc)
	if err != nil {
		return nil, err
	}
	// Reading to the end also verifies the entry's checksum.
	if err := checkEOF(rc); err != nil {
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
