package build

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/defenses"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
)

// Training is one model trained from data specs — the code path behind
// `advmatrix train`: open the training data, sample and balance it (see
// Prepare), open the test data, train (Train), evaluate on the test data,
// write the model and report.
type Training struct {
	// Job is the model and how to train it; Run sets Job.Data.
	Job Job
	// DataSpec is the training data; Limit, when positive, takes a seeded
	// sample of that many images first; Balance (a level P/Q or a ratio
	// vector, see ParseBalance) then resamples it.
	DataSpec string
	Limit    int
	Balance  string
	// TestSpec is the test data: "" for the test split of DataSpec's
	// source (DefaultTestSpec), "none" for none. TestLimit, when
	// positive, evaluates on its first images only.
	TestSpec  string
	TestLimit int
	// Poison, when set, is a backdoor trigger (defenses.ParseTrigger,
	// with rate=R): after sampling and balancing, that fraction of the
	// non-target training images carry the trigger and the target label,
	// and the model's backdoor ASR is measured on the test data.
	Poison string
	// Out is the model file, written atomically; "" writes none.
	Out string
	// Log, when set, receives notes for people (no test data).
	Log io.Writer
}

// TrainOutcome is what a Training produced.
type TrainOutcome struct {
	Report  TrainReport
	Trained *Trained
}

// Check validates the settings without touching data.
func (t *Training) Check() error {
	if err := t.Job.Validate(); err != nil {
		return err
	}
	if t.Limit < 0 {
		return fmt.Errorf("--limit %d is negative", t.Limit)
	}
	if t.TestLimit < 0 {
		return fmt.Errorf("--test-limit %d is negative", t.TestLimit)
	}
	if t.Poison != "" {
		tr, err := defenses.ParseTrigger(t.Poison)
		if err != nil {
			return fmt.Errorf("--poison: %w", err)
		}
		if tr.Rate == 0 {
			return fmt.Errorf("--poison %s: give the poisoning rate, rate=R (a fraction of the non-target images)", t.Poison)
		}
	}
	return nil
}

// Run trains, evaluates and writes the model. Training stops with ctx's
// error when ctx is done, before anything is written.
func (t *Training) Run(ctx context.Context) (*TrainOutcome, error) {
	start := time.Now()
	if err := t.Check(); err != nil {
		return nil, err
	}
	d, dref, bal, err := t.trainData()
	if err != nil {
		return nil, err
	}
	var trigger *defenses.Trigger
	var poisoning *defenses.Poisoning
	if t.Poison != "" {
		trigger, _ = defenses.ParseTrigger(t.Poison)
		if d, poisoning, err = defenses.Poison(d, trigger, t.Job.Seed); err != nil {
			return nil, fmt.Errorf("--poison: %w", err)
		}
	}
	// The test data, opened before training so that a bad spec fails fast.
	test, tref, err := t.testData(d)
	if err != nil {
		return nil, err
	}
	job := t.Job
	job.Data = d
	tr, err := Train(ctx, job)
	if err != nil {
		return nil, err
	}
	res := t.report(tr, d, dref, bal, tref)
	res.StartedAt = start.UTC().Format(time.RFC3339)
	res.Poison = poisoning
	if test != nil {
		acc, err := Evaluate(tr.Model, test, t.TestLimit)
		if err != nil {
			return nil, err
		}
		res.Test = &acc
		if trigger != nil {
			if res.Backdoor, err = defenses.EvaluateBackdoor(ctx, tr.Model, limited(test, t.TestLimit), trigger, nil, 256); err != nil {
				return nil, err
			}
		}
	}
	if t.Out != "" {
		if err := atomicfile.Write(t.Out, tr.ONNX); err != nil {
			return nil, err
		}
	}
	res.WallSeconds = time.Since(start).Seconds()
	return &TrainOutcome{Report: *res, Trained: tr}, nil
}

// limited is the first limit images of d (0: all).
func limited(d *datasets.Dataset, limit int) *datasets.Dataset {
	if limit <= 0 || limit >= d.Len() {
		return d
	}
	return d.Subset(identity(limit))
}

// trainData opens, samples and balances the training data, and describes
// it as sampled (before balancing).
func (t *Training) trainData() (*datasets.Dataset, report.DataRef, *Balance, error) {
	d, err := datasets.Open(t.DataSpec, datasets.Options{})
	if err != nil {
		return nil, report.DataRef{}, nil, err
	}
	if d.Labels == nil {
		return nil, report.DataRef{}, nil, fmt.Errorf("data %s has no labels; training needs them", t.DataSpec)
	}
	if d.Len() == 0 {
		return nil, report.DataRef{}, nil, fmt.Errorf("data %s holds no images", t.DataSpec)
	}
	var bal *Balance
	if t.Balance != "" {
		if bal, err = ParseBalance(t.Balance, d.Classes); err != nil {
			return nil, report.DataRef{}, nil, err
		}
	}
	sample := "first"
	if t.Limit > 0 && t.Limit < d.Len() {
		sample = "seeded"
	}
	ref := dataRef(t.DataSpec, d, t.Limit, sample, t.Job.Seed)
	if t.Limit > 0 {
		ref.N = min(t.Limit, d.Len())
	}
	if d, err = Prepare(d, t.Limit, bal, t.Job.Seed); err != nil {
		return nil, report.DataRef{}, nil, err
	}
	return d, ref, bal, nil
}

// testData opens the test data for the training data d, or returns nil
// when there is none.
func (t *Training) testData(d *datasets.Dataset) (*datasets.Dataset, *report.DataRef, error) {
	spec := t.TestSpec
	if spec == "" {
		spec = DefaultTestSpec(t.DataSpec)
		if spec == "" && t.Log != nil {
			fmt.Fprintf(t.Log, "note: no test data for %s (its source has no separate test split, or it is the test split); give --test SPEC\n", t.DataSpec)
		}
	}
	if spec == "" || spec == "none" {
		return nil, nil, nil
	}
	test, err := datasets.Open(spec, datasets.Options{Shape: d.Shape})
	if err != nil {
		return nil, nil, fmt.Errorf("--test: %w", err)
	}
	switch {
	case test.Labels == nil:
		return nil, nil, fmt.Errorf("test data %s has no labels", spec)
	case test.Len() == 0:
		return nil, nil, fmt.Errorf("test data %s holds no images", spec)
	case test.Classes > d.Classes:
		return nil, nil, fmt.Errorf("test data %s has %d classes, the training data %d", spec, test.Classes, d.Classes)
	}
	test.Name = spec
	ref := dataRef(spec, test, t.TestLimit, "first", 0)
	if t.TestLimit > 0 {
		ref.N = min(ref.N, t.TestLimit)
	}
	return test, &ref, nil
}

// report describes a trained model (without its test accuracy and times).
// d is the data trained on, dref the data before balancing.
func (t *Training) report(tr *Trained, d *datasets.Dataset, dref report.DataRef, bal *Balance, tref *report.DataRef) *TrainReport {
	j, fit := t.Job, tr.Fit
	res := &TrainReport{Schema: report.SchemaVersion, ToolVersion: version.String(), Arch: j.Arch, From: j.FromRef, Data: dref, Balance: bal,
		TrainImages: d.Len(), ValImages: fit.ValN, ClassCounts: d.ClassCounts(), Seed: j.Seed, Hyper: j.Hyper, Augment: j.Augment, ValFraction: j.ValFraction, Patience: j.Patience,
		EpochsWanted: j.Epochs, EpochsRun: len(fit.Epochs), BestEpoch: fit.BestEpoch, Epochs: fit.Epochs,
		TrainSeconds: tr.Seconds, TestData: tref}
	if j.Patience == 0 {
		res.BestEpoch = len(fit.Epochs) // the weights written are the last epoch's
	}
	res.TrainAccuracy = fit.Epochs[len(fit.Epochs)-1].TrainAccuracy
	if fit.ValN > 0 {
		v := fit.Epochs[res.BestEpoch-1].ValAccuracy
		res.ValAccuracy = &v
	}
	res.ImagesPerSecond = float64(fit.TrainN*len(fit.Epochs)) / max(tr.Seconds, 1e-9)
	stepSeconds := 0.0
	for _, e := range fit.Epochs {
		stepSeconds += e.Seconds // training steps only; validation is timed apart
	}
	res.TrainImagesPerSecond = float64(fit.TrainN*len(fit.Epochs)) / max(stepSeconds, 1e-9)
	m := tr.Model
	res.Model = report.ModelRef{File: provenance.Of(t.Out, tr.ONNX), Opset: m.Opset(),
		Parameters: m.NumParams(), InputShape: m.InputShape(), Classes: m.NumClasses()}
	return res
}
