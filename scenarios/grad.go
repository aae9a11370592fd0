package scenarios

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
)

// GradRequest names the files of an input gradient: the images, and
// either labels or a cotangent on the logits.
type GradRequest struct {
	// Input holds the images: float32 (or float64) .npy of N×C×H×W in
	// [0,1].
	Input string
	// Labels, an integer .npy of shape N, asks for the gradient of the
	// sum-reduced softmax cross-entropy ∂/∂x Σᵢ CE(f(xᵢ), yᵢ).
	Labels string
	// Cotangent, a float .npy of shape N×classes, asks for the
	// vector–Jacobian product (∂f(x)/∂x)ᵀ V.
	Cotangent string
	// Batch is the number of images per Grad call (0: DefaultGradBatch):
	// memory does not grow with N, and each image's gradient is the same
	// whatever the chunking.
	Batch int
}

// DefaultGradBatch is GradRequest.Batch's default.
const DefaultGradBatch = 128

// chunks calls f on the image ranges [i, j) of n images, batch at a time.
func chunks(ctx context.Context, n, batch int, f func(i, j int) error) error {
	if batch <= 0 {
		batch = DefaultGradBatch
	}
	for i := 0; i < n; i += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f(i, min(n, i+batch)); err != nil {
			return err
		}
	}
	return nil
}

// GradOutcome is an input gradient and its results (Out and WallSeconds
// are the caller's to fill).
type GradOutcome struct {
	Result report.GradResult
	// Grad has the shape of the input, Shape.
	Grad  []float32
	Shape []int
}

// Gradient reads and checks the request's files against m and computes
// the input gradient — the code path behind `advmatrix grad`. With Labels
// it is the gradient of the SUM-reduced softmax cross-entropy (divide by N
// for PyTorch's mean), and Result.Loss is that sum; with Cotangent it is
// the VJP. Exactly one of them must be given. Any Classifier will do:
// the gradient is Classifier.Grad over req.Batch images at a time.
func Gradient(ctx context.Context, m Model, req GradRequest) (*GradOutcome, error) {
	if m.Classifier == nil {
		return nil, fmt.Errorf("%w: Gradient without a model", attacks.ErrInternal)
	}
	if (req.Labels == "") == (req.Cotangent == "") {
		return nil, fmt.Errorf("give exactly one of labels and a cotangent")
	}
	x, shape, input, err := ReadImages(req.Input, m.InputShape())
	if err != nil {
		return nil, err
	}
	n, k := shape[0], m.NumClasses()
	out := &GradOutcome{Shape: shape, Result: report.GradResult{Schema: report.SchemaVersion, ToolVersion: version.String(),
		Model: m.Ref, Input: input, Shape: shape}}
	t0 := time.Now()
	if req.Labels != "" {
		err = out.crossEntropy(ctx, m, x, req, n, k)
	} else {
		err = out.vjp(ctx, m, x, req, n, k)
	}
	if err != nil {
		return nil, err
	}
	r := &out.Result
	r.ComputeSeconds = time.Since(t0).Seconds()
	for _, v := range out.Grad {
		r.GradLinf = max(r.GradLinf, math.Abs(float64(v)))
		r.GradL2 += float64(v) * float64(v)
	}
	r.GradL2 = math.Sqrt(r.GradL2)
	return out, nil
}

// crossEntropy computes the gradient of the sum cross-entropy with the
// labels of req.Labels, and the loss.
func (o *GradOutcome) crossEntropy(ctx context.Context, m models.Classifier, x []float32, req GradRequest, n, k int) error {
	y, err := readLabels(req.Labels, req.Input, n)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g, z := make([]float32, len(x)), make([]float32, n*k)
	sz := len(x) / n
	err = chunks(ctx, n, req.Batch, func(i, j int) error {
		var bad error
		err := m.Grad(g[i*sz:j*sz], x[i*sz:j*sz], func(zb, dz []float32) {
			copy(z[i*k:], zb)
			bad = models.SoftmaxCrossEntropyGrad(dz, zb, y[i:j], k)
		})
		if err == nil {
			err = bad
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := models.CheckFinite("logits", z); err != nil {
		return err
	}
	if err := models.CheckFinite("gradient", g); err != nil {
		return err
	}
	ce := make([]float64, n)
	if err := models.SoftmaxCrossEntropy(nil, z, y, k, 1, ce); err != nil {
		// The labels passed CrossEntropyGrad's checks.
		return fmt.Errorf("%w: loss: %v", attacks.ErrInternal, err)
	}
	loss := 0.0
	for _, v := range ce {
		loss += v
	}
	o.Grad, o.Result.Mode, o.Result.Loss = g, report.GradCrossEntropySum, &loss
	return nil
}

// vjp computes the vector–Jacobian product with the cotangent of
// req.Cotangent.
func (o *GradOutcome) vjp(ctx context.Context, m models.Classifier, x []float32, req GradRequest, n, k int) error {
	v, err := readCotangent(req.Cotangent, n, k)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g := make([]float32, len(x))
	sz := len(x) / n
	err = chunks(ctx, n, req.Batch, func(i, j int) error {
		return m.Grad(g[i*sz:j*sz], x[i*sz:j*sz], func(_, dz []float32) { copy(dz, v[i*k:j*k]) })
	})
	if err != nil {
		return err
	}
	if err := models.CheckFinite("gradient", g); err != nil {
		return err
	}
	o.Grad, o.Result.Mode = g, report.GradVJP
	return nil
}

// ReadImages reads float images in [0,1] that a model taking images of the
// given shape (C×H×W) accepts from an .npy of N×C×H×W (float32, or float64
// converted), and describes the file for results.
func ReadImages(path string, shape []int) (x []float32, dims []int, file provenance.File, err error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, nil, file, err
	}
	if a.DType != npy.Float32 && a.DType != npy.Float64 {
		return nil, nil, file, fmt.Errorf("%s has dtype %v; images must be float32 (or float64) in [0,1]", path, a.DType)
	}
	if len(a.Shape) != len(shape)+1 || a.Shape[0] == 0 {
		return nil, nil, file, fmt.Errorf("%s has shape %v; the model takes N×%s", path, a.Shape, shapeString(shape))
	}
	for i, d := range shape {
		if a.Shape[i+1] != d {
			return nil, nil, file, fmt.Errorf("%s has shape %v; the model takes N×%s", path, a.Shape, shapeString(shape))
		}
	}
	if x, err = a.Float32(); err != nil {
		return nil, nil, file, fmt.Errorf("%s: %w", path, err)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || v < 0 || v > 1 {
			return nil, nil, file, fmt.Errorf("%s: value %d is %v, outside [0,1]", path, i, v)
		}
	}
	if file, err = provenance.HashFile(path); err != nil {
		return nil, nil, file, err
	}
	return x, append([]int(nil), a.Shape...), file, nil
}

// readLabels reads n integer labels for the images of input.
func readLabels(path, input string, n int) ([]int, error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	y, err := a.Ints()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(y) != n || len(a.Shape) != 1 {
		return nil, fmt.Errorf("%s has shape %v; %s holds %d images, so labels must have shape [%d]", path, a.Shape, input, n, n)
	}
	return y, nil
}

// readCotangent reads a finite n×k cotangent on the logits.
func readCotangent(path string, n, k int) ([]float32, error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(a.Shape) != 2 || a.Shape[0] != n || a.Shape[1] != k {
		return nil, fmt.Errorf("%s has shape %v; the cotangent must be [%d %d] (images × classes)", path, a.Shape, n, k)
	}
	v, err := a.Float32()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, e := range v {
		if math.IsNaN(float64(e)) || math.IsInf(float64(e), 0) {
			return nil, fmt.Errorf("%s: value %d is %v", path, i, e)
		}
	}
	return v, nil
}
