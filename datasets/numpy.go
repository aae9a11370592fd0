package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"

	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/safeio"
)

// NumPy reads images from the .npy file xPath and, unless yPath is empty,
// labels from the .npy file yPath.
//
// The images are an N×C×H×W array of float32 or float64 values in [0,1],
// or of uint8 values (divided by 255), or an N×H×W array, read as one
// channel. The labels are N integers (or whole-number floats), shape (N,)
// or (N, 1). classes is the number of classes; 0 means the largest label
// plus one. Without labels the dataset is unlabelled: Labels is nil and
// Classes is 0.
func NumPy(xPath, yPath string, classes int) (*Dataset, error) {
	x, xsrc, err := readNPY(xPath)
	if err != nil {
		return nil, err
	}
	sources := []Source{xsrc}
	var y *npy.Array
	if yPath != "" {
		var ysrc Source
		if y, ysrc, err = readNPY(yPath); err != nil {
			return nil, err
		}
		sources = append(sources, ysrc)
	}
	ds, err := fromArrays(x, y, xPath, yPath, classes)
	if err != nil {
		return nil, err
	}
	ds.Name = "npy:" + xPath
	if yPath != "" {
		ds.Name += "," + yPath
	}
	ds.Sources = sources
	return ds, nil
}

// NPZ is like [NumPy] for an .npz file holding the images as array x and,
// optionally, the labels as array y. Other arrays are ignored: they are
// never decompressed.
func NPZ(path string, classes int) (*Dataset, error) {
	f, err := safeio.Open(path, npy.MaxNPZBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	// Hash the bytes the archive is then read from.
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	src := Source{Path: path, SHA256: hex.EncodeToString(h.Sum(nil))}
	z, err := npy.NewNPZ(f, fi.Size(), path)
	if err != nil {
		return nil, err
	}
	if !z.Has("x") {
		keys := z.Names()
		slices.Sort(keys)
		return nil, fmt.Errorf("read %s: no array named x (arrays present: %q)", path, keys)
	}
	x, err := z.Read("x")
	if err != nil {
		return nil, err
	}
	var y *npy.Array
	yName := ""
	if z.Has("y") {
		if y, err = z.Read("y"); err != nil {
			return nil, err
		}
		yName = path + ":y"
	}
	ds, err := fromArrays(x, y, path+":x", yName, classes)
	if err != nil {
		return nil, err
	}
	ds.Name = "npy:" + path
	ds.Sources = []Source{src}
	return ds, nil
}

// fromArrays builds a dataset from an image array and an optional label
// array; xName and yName name them in errors.
func fromArrays(x, y *npy.Array, xName, yName string, classes int) (*Dataset, error) {
	if classes < 0 || classes > MaxClasses {
		return nil, fmt.Errorf("%d classes: want 1 to %d, or 0 to infer them from the labels", classes, MaxClasses)
	}
	var shape [3]int
	switch len(x.Shape) {
	case 4:
		shape = [3]int{x.Shape[1], x.Shape[2], x.Shape[3]}
	case 3:
		shape = [3]int{1, x.Shape[1], x.Shape[2]}
	default:
		return nil, fmt.Errorf("read %s: images have shape %v, want N×C×H×W or N×H×W", xName, x.Shape)
	}
	if shape[0] <= 0 || shape[1] <= 0 || shape[2] <= 0 {
		return nil, fmt.Errorf("read %s: images have shape %v, with an empty image size", xName, x.Shape)
	}
	n := x.Shape[0]
	var labels []int
	if y != nil {
		if len(y.Shape) != 1 && !(len(y.Shape) == 2 && y.Shape[1] == 1) {
			return nil, fmt.Errorf("read %s: labels have shape %v, want (N,) or (N, 1)", yName, y.Shape)
		}
		if y.Shape[0] != n {
			return nil, fmt.Errorf("%s has %d images but %s has %d labels", xName, n, yName, y.Shape[0])
		}
		var err error
		if labels, err = y.Ints(); err != nil {
			return nil, fmt.Errorf("read %s: labels: %w", yName, err)
		}
		top := -1
		for i, l := range labels {
			switch {
			case l < 0 && classes == 0:
				return nil, fmt.Errorf("read %s: label %d of item %d is negative", yName, l, i)
			case classes > 0 && (l < 0 || l >= classes):
				return nil, fmt.Errorf("read %s: label %d of item %d is outside 0..%d", yName, l, i, classes-1)
			case l >= MaxClasses:
				// The class count is inferred from the largest label:
				// a corrupt one must not become a billion classes.
				return nil, fmt.Errorf("read %s: label %d of item %d implies more than %d classes; give the class count if the labels are right",
					yName, l, i, MaxClasses)
			}
			top = max(top, l)
		}
		if classes == 0 {
			classes = top + 1
		}
	} else {
		classes = 0
	}
	var ds *Dataset
	var err error
	switch x.DType {
	case npy.Uint8:
		ds, err = NewUint8(shape, x.Data.([]uint8), labels, classes)
	case npy.Float32, npy.Float64:
		var pix []float32
		if pix, err = x.Float32(); err == nil {
			ds, err = NewFloat32(shape, pix, labels, classes)
		}
	default:
		return nil, fmt.Errorf("read %s: images have dtype %v, want float32 or float64 in [0,1], or uint8", xName, x.DType)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", xName, err)
	}
	return ds, nil
}

// readNPY reads an .npy file, hashing the bytes as they are read. Only a
// regular file is opened, so its length is known.
func readNPY(path string) (*npy.Array, Source, error) {
	f, err := safeio.Open(path, npy.MaxFileBytes)
	if err != nil {
		return nil, Source{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, Source{}, fmt.Errorf("read %s: %w", path, err)
	}
	h := sha256.New()
	a, err := npy.Read(&countingTee{r: io.TeeReader(f, h), left: fi.Size()})
	if err == nil {
		var extra int64
		if extra, err = io.Copy(h, f); err == nil && extra > 0 {
			err = fmt.Errorf("%d bytes of trailing data after the array", extra)
		}
	}
	if err != nil {
		return nil, Source{}, fmt.Errorf("read %s: %w", path, err)
	}
	return a, Source{Path: path, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// countingTee tells npy.Read how many bytes of the file remain, so that a
// header promising more data than the file holds is rejected before
// anything is allocated.
type countingTee struct {
	r    io.Reader
	left int64
}

func (c *countingTee) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *countingTee) Len() int { return int(max(0, c.left)) }
