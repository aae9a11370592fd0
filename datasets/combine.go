package datasets

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Concat joins data sets of one image shape into one: the images of
// parts[0], then those of parts[1], and so on, with their labels. The
// parts must all be labelled or all unlabelled; the result has the
// largest class count of the parts, their class names when they agree,
// and their sources. Its pixels are copied into new storage, 8-bit when
// every part is stored in 8 bits.
func Concat(name string, parts ...*Dataset) (*Dataset, error) {
	if len(parts) == 0 {
		return nil, errors.New("concat: no data sets")
	}
	shape := parts[0].Shape
	labelled := parts[0].Labels != nil
	n, classes, u8 := 0, 0, true
	names := parts[0].ClassNames
	var sources []Source
	for i, p := range parts {
		switch {
		case p.Shape != shape:
			return nil, fmt.Errorf("concat: %s has images of shape %v, %s %v", p.Name, p.Shape, parts[0].Name, shape)
		case (p.Labels != nil) != labelled:
			return nil, fmt.Errorf("concat: %s and %s are not both labelled", p.Name, parts[0].Name)
		}
		if i > 0 && !slices.Equal(p.ClassNames, names) {
			names = nil
		}
		n += p.n
		classes = max(classes, p.Classes)
		u8 = u8 && p.u8 != nil
		sources = append(sources, p.Sources...)
	}
	chw := shape[0] * shape[1] * shape[2]
	out := &Dataset{Name: name, Shape: shape, Classes: classes, ClassNames: clone(names), Sources: sources, n: n}
	if labelled {
		out.Labels = make([]int, 0, n)
	}
	if u8 {
		out.u8 = make([]uint8, 0, n*chw)
	} else {
		out.f32 = make([]float32, 0, n*chw)
	}
	img := make([]float32, chw)
	for _, p := range parts {
		for i := 0; i < p.n; i++ {
			if u8 {
				q := p.pos(i) * chw
				out.u8 = append(out.u8, p.u8[q:q+chw]...)
			} else {
				p.Image(i, img)
				out.f32 = append(out.f32, img...)
			}
		}
		if labelled {
			out.Labels = append(out.Labels, p.Labels...)
		}
	}
	return out, nil
}

// WithEdits returns a copy of d in which each image idx[k] is rewritten by
// edit, which gets k and the image's pixels (C×H×W in [0,1]) to change in
// place and returns the image's new label (ignored for unlabelled data).
// Pixels must stay in [0,1]; data stored in 8 bits stays so, each edited
// value rounded to the nearest multiple of 1/255 (exact for a patch of 0s
// and 1s). The copy has storage of its own.
func (d *Dataset) WithEdits(idx []int, edit func(k int, img []float32) int) (*Dataset, error) {
	chw := d.Shape[0] * d.Shape[1] * d.Shape[2]
	out := *d
	out.idx = nil
	out.Labels = clone(d.Labels)
	out.ClassNames = clone(d.ClassNames)
	out.Sources = clone(d.Sources)
	if d.u8 != nil {
		out.u8 = make([]uint8, d.n*chw)
		for i := 0; i < d.n; i++ {
			q := d.pos(i) * chw
			copy(out.u8[i*chw:], d.u8[q:q+chw])
		}
	} else {
		out.f32 = make([]float32, d.n*chw)
		for i := 0; i < d.n; i++ {
			d.Image(i, out.f32[i*chw:(i+1)*chw])
		}
	}
	img := make([]float32, chw)
	for k, i := range idx {
		if i < 0 || i >= d.n {
			return nil, fmt.Errorf("edit: image index %d out of range [0,%d)", i, d.n)
		}
		out.Image(i, img)
		label := edit(k, img)
		if err := checkUnit(img, d.Shape); err != nil {
			return nil, fmt.Errorf("edit of image %d: %w", i, err)
		}
		if out.u8 != nil {
			for j, v := range img {
				out.u8[i*chw+j] = uint8(math.Round(float64(v) * 255))
			}
		} else {
			copy(out.f32[i*chw:], img)
		}
		if out.Labels != nil {
			if label < 0 || label >= d.Classes {
				return nil, fmt.Errorf("edit of image %d: label %d is outside 0..%d", i, label, d.Classes-1)
			}
			out.Labels[i] = label
		}
	}
	return &out, nil
}
