package datasets

import (
	"fmt"
	"math"

	"github.com/advmatrix/advmatrix/provenance"
)

// Source records one input of a Dataset for provenance: the file read, or
// "embedded:NAME" for data built into the binary, and the SHA-256 of the
// bytes read (for compressed files, of the compressed bytes).
type Source = provenance.File

// Dataset is a set of images of one shape with optional integer labels.
//
// The pixel storage is unexported and never modified after construction, so
// subsets share it freely. The exported fields may be changed by the
// caller (Labels, ClassNames and Sources are never shared with another
// Dataset), but labels must stay in 0..Classes-1 and Shape must not change.
type Dataset struct {
	// Name identifies the data, usually the spec it was opened from.
	Name string
	// Shape is the shape of one image: channels, height, width.
	Shape [3]int
	// Classes is the number of classes, 0 for unlabelled data.
	Classes int
	// ClassNames, if not nil, names each class; len(ClassNames) == Classes.
	ClassNames []string
	// Labels holds one label in 0..Classes-1 per image, or is nil for
	// unlabelled data.
	Labels []int
	// Sources lists every file the data was read from.
	Sources []Source

	n   int       // number of images
	u8  []uint8   // 8-bit pixel storage, CHW per image, or nil
	f32 []float32 // float pixel storage in [0,1], CHW per image, or nil
	idx []int     // storage position of each image; nil means identity
}

// MaxClasses bounds the number of classes of a dataset, far above
// ImageNet-21k's 21841 (and equal to arch.MaxClasses): a class count
// inferred from a corrupt label such as 1e9 is an error, not an allocation
// of a billion counters or of a model's output layer.
const MaxClasses = 1 << 16

// CheckClasses reports whether d's labels can be those of a classifier of
// k classes: d has at most k classes and every label is in 0..k-1. Data
// with fewer classes than k passes (a subset of the classes, or labels
// whose count was inferred from the largest one); unlabelled data always
// passes. Callers use it to make data agree with a model before using
// its labels as logit indices.
func (d *Dataset) CheckClasses(k int) error {
	if k < 1 || k > MaxClasses {
		return fmt.Errorf("%d classes: want 1 to %d", k, MaxClasses)
	}
	if d.Labels == nil {
		return nil
	}
	if d.Classes > k {
		return fmt.Errorf("data %s has %d classes, more than the %d expected", d.Name, d.Classes, k)
	}
	for i, l := range d.Labels {
		if l < 0 || l >= k {
			return fmt.Errorf("data %s: label %d of image %d is outside 0..%d", d.Name, l, i, k-1)
		}
	}
	return nil
}

// unit maps a byte to the float32 that torchvision's ToTensor gives it.
var unit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// NewUint8 returns a dataset whose images are the bytes pix, image after
// image, each C×H×W in CHW order, scaled to [0,1] by dividing by 255.
// labels may be nil for unlabelled data; otherwise it has one label per
// image, each in 0..classes-1. pix is used as storage, not copied.
func NewUint8(shape [3]int, pix []uint8, labels []int, classes int) (*Dataset, error) {
	n, err := count(shape, len(pix), labels, classes)
	if err != nil {
		return nil, err
	}
	return &Dataset{Shape: shape, Classes: classes, Labels: labels, n: n, u8: pix}, nil
}

// NewFloat32 is like [NewUint8] for float32 pixels, which must lie in [0,1];
// the error for a value outside that range or NaN names its position.
func NewFloat32(shape [3]int, pix []float32, labels []int, classes int) (*Dataset, error) {
	n, err := count(shape, len(pix), labels, classes)
	if err != nil {
		return nil, err
	}
	if err := checkUnit(pix, shape); err != nil {
		return nil, err
	}
	return &Dataset{Shape: shape, Classes: classes, Labels: labels, n: n, f32: pix}, nil
}

// checkUnit reports the first value of pix outside [0,1], NaN included,
// with its (n, c, h, w) index.
func checkUnit(pix []float32, shape [3]int) error {
	for i, v := range pix {
		if v >= 0 && v <= 1 {
			continue
		}
		chw := shape[0] * shape[1] * shape[2]
		j := i % chw
		what := "is outside [0,1]"
		if v != v || v-v != 0 {
			what = "is not a finite number (images are in [0,1])"
		}
		return fmt.Errorf("pixel value %v at index [%d, %d, %d, %d] %s",
			v, i/chw, j/(shape[1]*shape[2]), j/shape[2]%shape[1], j%shape[2], what)
	}
	return nil
}

// count checks shape, storage length and labels and returns the number of
// images.
func count(shape [3]int, pixels int, labels []int, classes int) (int, error) {
	for _, d := range shape {
		if d <= 0 {
			return 0, fmt.Errorf("invalid image shape %v", shape)
		}
	}
	if shape[0] > math.MaxInt32 || shape[1] > math.MaxInt32 || shape[2] > math.MaxInt32 ||
		shape[0]*shape[1] > math.MaxInt32 || shape[0]*shape[1]*shape[2] > math.MaxInt32 {
		return 0, fmt.Errorf("image shape %v too large", shape)
	}
	chw := shape[0] * shape[1] * shape[2]
	if pixels%chw != 0 {
		return 0, fmt.Errorf("%d pixel values are not a whole number of %dx%dx%d images", pixels, shape[0], shape[1], shape[2])
	}
	n := pixels / chw
	if classes < 0 {
		return 0, fmt.Errorf("negative class count %d", classes)
	}
	if classes > MaxClasses {
		return 0, fmt.Errorf("%d classes exceed the limit of %d", classes, MaxClasses)
	}
	if labels == nil {
		if classes != 0 {
			return 0, fmt.Errorf("%d classes but no labels", classes)
		}
		return n, nil
	}
	if len(labels) != n {
		return 0, fmt.Errorf("%d labels for %d images", len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || l >= classes {
			return 0, fmt.Errorf("label %d of image %d is outside 0..%d", l, i, classes-1)
		}
	}
	return n, nil
}

// Len returns the number of images.
func (d *Dataset) Len() int { return d.n }

// pos returns the storage position of image i.
func (d *Dataset) pos(i int) int {
	if i < 0 || i >= d.n {
		panic(fmt.Sprintf("datasets: image index %d out of range [0,%d)", i, d.n))
	}
	if d.idx != nil {
		return d.idx[i]
	}
	return i
}

// Image writes image i into dst[:C*H*W] as float32 values in [0,1], CHW
// order. Like slice indexing, it panics if i is out of range or dst is too
// short.
func (d *Dataset) Image(i int, dst []float32) {
	chw := d.Shape[0] * d.Shape[1] * d.Shape[2]
	p := d.pos(i) * chw
	dst = dst[:chw]
	if d.f32 != nil {
		copy(dst, d.f32[p:p+chw])
		return
	}
	for j, b := range d.u8[p : p+chw] {
		dst[j] = unit[b]
	}
}

// Batch writes the images idx[0], idx[1], … one after another into dst,
// which must hold len(idx)*C*H*W values (an NCHW batch).
func (d *Dataset) Batch(idx []int, dst []float32) {
	chw := d.Shape[0] * d.Shape[1] * d.Shape[2]
	if len(dst) < len(idx)*chw {
		panic(fmt.Sprintf("datasets: batch of %d images needs %d values, dst has %d", len(idx), len(idx)*chw, len(dst)))
	}
	for k, i := range idx {
		d.Image(i, dst[k*chw:(k+1)*chw])
	}
}

// Subset returns the dataset of images idx[0], idx[1], … of d, in that
// order, sharing d's pixel storage. Indices may repeat. It panics if an
// index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := *d
	s.n = len(idx)
	s.idx = make([]int, len(idx))
	for k, i := range idx {
		s.idx[k] = d.pos(i)
	}
	if d.Labels != nil {
		s.Labels = make([]int, len(idx))
		for k, i := range idx {
			s.Labels[k] = d.Labels[i]
		}
	}
	s.ClassNames = clone(d.ClassNames)
	s.Sources = clone(d.Sources)
	return &s
}

func clone[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T(nil), s...)
}

// ClassCounts returns the number of images of each class (Classes
// entries; none for unlabelled data).
func (d *Dataset) ClassCounts() []int {
	counts := make([]int, d.Classes)
	for _, l := range d.Labels {
		counts[l]++
	}
	return counts
}
