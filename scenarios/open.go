package scenarios

import (
	"fmt"
	"strings"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/surrogates"
	"github.com/advmatrix/advmatrix/zoo"
)

// Model is a classifier and what results say about it.
type Model struct {
	models.Classifier
	Ref report.ModelRef
}

// ReadModel returns the bytes and provenance of a model spec: a path to an
// ONNX file, or zoo:NAME for a model embedded in the binary.
func ReadModel(spec string) ([]byte, provenance.File, error) {
	if name, ok := strings.CutPrefix(spec, "zoo:"); ok {
		b, err := zoo.Bytes(name)
		if err != nil {
			return nil, provenance.File{}, err
		}
		return b, provenance.File{Path: spec, SHA256: zoo.SHA256(name)}, nil
	}
	b, err := models.ReadModelFile(spec)
	if err != nil {
		return nil, provenance.File{}, fmt.Errorf("model: %w", err)
	}
	return b, provenance.Of(spec, b), nil
}

// OpenModel loads a model spec (see ReadModel) and describes it for
// results.
func OpenModel(spec string, opts ...models.Option) (Model, error) {
	m, ref, err := LoadModel(spec, opts...)
	if err != nil {
		return Model{}, err
	}
	return Model{Classifier: m, Ref: ref}, nil
}

// LoadModel is OpenModel for callers that need the engine's model itself
// (its weights, intermediate tensors, VJPs).
func LoadModel(spec string, opts ...models.Option) (*models.Model, report.ModelRef, error) {
	b, f, err := ReadModel(spec)
	if err != nil {
		return nil, report.ModelRef{}, err
	}
	var m *models.Model
	if strings.HasPrefix(spec, "zoo:") {
		m, err = models.Load(b, opts...)
	} else {
		m, err = models.LoadFile(spec, opts...) // external data needs the file's folder
	}
	if err != nil {
		if !strings.HasPrefix(err.Error(), "load ") {
			err = fmt.Errorf("load %s: %w", spec, err)
		}
		return nil, report.ModelRef{}, err
	}
	return m, RefOf(m, f), nil
}

// RefOf describes a loaded model for results.
func RefOf(m *models.Model, f provenance.File) report.ModelRef {
	return report.ModelRef{File: f, Opset: m.Opset(), Parameters: m.NumParams(), InputShape: m.InputShape(), Classes: m.NumClasses()}
}

// OpenSurrogateSet resolves a Bayesian surrogate set — a folder or set.json
// written by package surrogates, or zoo:NAME for an embedded set — to its
// members' model specs, and says whether the set is meant to be attacked
// one member per iteration.
func OpenSurrogateSet(spec string) (members []string, onePerStep bool, err error) {
	if name, ok := strings.CutPrefix(spec, "zoo:"); ok {
		prefix := strings.TrimSuffix(name, "/") + "/"
		for _, n := range zoo.Names() {
			if strings.HasPrefix(n, prefix) {
				members = append(members, "zoo:"+n)
			}
		}
		if len(members) == 0 {
			return nil, false, fmt.Errorf("no embedded surrogate set %q", spec)
		}
		return members, true, nil // the embedded set is cSGLD's
	}
	set, _, err := surrogates.LoadSet(spec)
	if err != nil {
		return nil, false, err
	}
	return set.Files, set.Mode == surrogates.OnePerStep, nil
}

// Data is a labelled image set and what results say about it.
type Data struct {
	*datasets.Dataset
	Ref report.DataRef
}

// Images returns the images, N×C×H×W, as one slice.
func (d Data) Images() []float32 {
	n := d.Len()
	x := make([]float32, n*d.Shape[0]*d.Shape[1]*d.Shape[2])
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	d.Batch(idx, x)
	return x
}

// OpenData loads a data spec for models that take images of the given
// shape (C×H×W, or H×W for one channel) and keeps the first limit images
// (0: all), or with shuffle a sample of them seeded by seed.
func OpenData(spec string, shape []int, limit int, shuffle bool, seed uint64) (Data, error) {
	var want [3]int
	switch len(shape) {
	case 3:
		copy(want[:], shape)
	case 2:
		want = [3]int{1, shape[0], shape[1]}
	}
	opt := datasets.Options{}
	if strings.HasPrefix(spec, "folder:") {
		opt.Shape = want
	}
	if limit < 0 {
		return Data{}, fmt.Errorf("limit %d is negative", limit)
	}
	d, err := datasets.Open(spec, opt)
	if err != nil {
		return Data{}, err
	}
	if d.Shape != want {
		return Data{}, fmt.Errorf("data %s has images of shape %v, the model takes %v", spec, d.Shape, want)
	}
	if d.Len() == 0 {
		return Data{}, fmt.Errorf("data %s holds no images", spec)
	}
	ref := report.DataRef{Spec: spec, Sample: "first", Limit: limit, Seed: seed}
	switch {
	case shuffle:
		n := d.Len()
		if limit > 0 {
			n = min(limit, n)
		}
		d = d.Sample(n, seed)
		ref.Sample = "seeded"
	case limit > 0 && limit < d.Len():
		idx := make([]int, limit)
		for i := range idx {
			idx[i] = i
		}
		d = d.Subset(idx)
	}
	ref.N, ref.Shape = d.Len(), d.Shape
	ref.Sources = append(ref.Sources, d.Sources...)
	return Data{Dataset: d, Ref: ref}, nil
}

// ReadTargets reads n target classes in [0, k) from an integer .npy.
func ReadTargets(path string, n, k int) ([]int, provenance.File, error) {
	file, err := provenance.HashFile(path)
	if err != nil {
		return nil, file, err
	}
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, file, err
	}
	t, err := a.Ints()
	if err != nil {
		return nil, file, fmt.Errorf("%s: %w", path, err)
	}
	if len(a.Shape) != 1 || len(t) != n {
		return nil, file, fmt.Errorf("%s has shape %v; %d images are attacked, so it must have shape [%d]", path, a.Shape, n, n)
	}
	for i, v := range t {
		if v < 0 || v >= k {
			return nil, file, fmt.Errorf("%s: target %d of image %d is outside [0, %d)", path, v, i, k)
		}
	}
	return t, file, nil
}
