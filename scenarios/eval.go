package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/report"
)

// EvalOutcome is what an evaluation produced: the results and the logits.
type EvalOutcome struct {
	Result report.EvalResult
	// Logits are the model's outputs, N×classes, in the data's order.
	Logits []float32
}

// Evaluate runs m over every image of d, batch images per forward pass,
// and scores it (metrics.Classify): accuracy with its interval, per-class
// accuracy and the confusion matrix — the code path behind `advmatrix
// eval`. Images are read from d one batch at a time, so memory does not
// grow with the data beyond the logits. progress, when not nil, is told
// how many images are done out of how many after every batch; ctx is
// checked between batches.
//
// Result.StartedAt and Result.WallSeconds cover Evaluate itself; a caller
// that also loaded the model and data may overwrite them.
func Evaluate(ctx context.Context, m Model, d Data, batch int, progress func(done, total int)) (*EvalOutcome, error) {
	start := time.Now()
	if m.Classifier == nil || d.Dataset == nil {
		return nil, fmt.Errorf("%w: Evaluate without a model or data", attacks.ErrInternal)
	}
	if f, ok := m.Classifier.(interface{ FixedBatch() int }); ok && f.FixedBatch() > 0 && batch != f.FixedBatch() {
		// An export with a fixed batch axis runs only batches of that size.
		fb := f.FixedBatch()
		if d.Len()%fb != 0 {
			return nil, fmt.Errorf("model %s takes batches of exactly %d images (its batch axis is fixed); evaluate a multiple of %d images (--limit), or re-export it with a dynamic batch axis", m.Ref.Path, fb, fb)
		}
		batch = fb
	}
	if batch <= 0 {
		return nil, fmt.Errorf("batch %d must be positive", batch)
	}
	if d.Labels == nil {
		return nil, fmt.Errorf("data %s has no labels; eval needs them", d.Ref.Spec)
	}
	k := m.NumClasses()
	if d.Classes > k {
		return nil, fmt.Errorf("data %s has %d classes, the model outputs %d logits", d.Ref.Spec, d.Classes, k)
	}
	res := report.EvalResult{Schema: report.SchemaVersion, ToolVersion: version.String(),
		StartedAt: start.UTC().Format(time.RFC3339), Model: m.Ref, Data: d.Ref, BatchSize: batch}
	n := d.Len()
	logits := make([]float32, n*k)
	sz := d.Shape[0] * d.Shape[1] * d.Shape[2]
	x := make([]float32, batch*sz)
	idx := make([]int, 0, batch)
	var compute time.Duration
	for i := 0; i < n; i += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		j := min(n, i+batch)
		idx = idx[:0]
		for t := i; t < j; t++ {
			idx = append(idx, t)
		}
		xb := x[:(j-i)*sz]
		d.Batch(idx, xb)
		t0 := time.Now()
		if err := m.Logits(logits[i*k:j*k], xb); err != nil {
			return nil, fmt.Errorf("images %d-%d: %w", i, j-1, err)
		}
		if err := models.CheckFinite(m.Ref.Path+" logits of images "+fmt.Sprint(i)+"-"+fmt.Sprint(j-1), logits[i*k:j*k]); err != nil {
			return nil, err
		}
		compute += time.Since(t0)
		res.ForwardCalls++
		if progress != nil {
			progress(j, n)
		}
	}
	res.Classification = metrics.Classify(metrics.Argmax(logits, k), d.Labels, k, d.ClassNames)
	res.ComputeSeconds = compute.Seconds()
	res.ImagesPerSecond = float64(n) / max(compute.Seconds(), 1e-9)
	res.WallSeconds = time.Since(start).Seconds()
	return &EvalOutcome{Result: res, Logits: logits}, nil
}
