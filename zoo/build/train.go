// Package build trains advmatrix models from data: one model at a time
// ([Train], behind `advmatrix train`) and the DUMB digits zoo ([Zoo],
// behind `advmatrix zoo build`): 2 data sources × 3 architectures × 4
// class-balance levels = 24 models, with a manifest of their test accuracy
// on their own source and on the other one.
//
// # Class balance
//
// DUMB (Alecci et al., RAID 2023) trains binary classifiers on four
// balance levels, 50/50, 40/60, 30/70 and 20/80, by subsampling class 0 of
// the training set. A level "P/Q" here means: the first half of the
// classes, 0 … ⌊k/2⌋−1, together make P% of the training images and the
// other classes Q%, the images spread evenly over the classes within each
// half. For a binary task that is DUMB's definition exactly (class 0 is
// P%); for the ten digits, 20/80 gives classes 0–4 4% each and classes 5–9
// 16% each, and 50/50 makes all ten classes the same size. The data are
// then resampled with datasets.Balance: the largest subset with those
// proportions, so, as in DUMB, the under-represented classes are
// subsampled and the others keep (nearly) all their images.
package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/train"
)

// Levels are DUMB's four class-balance levels, most balanced first.
var Levels = []string{"50/50", "40/60", "30/70", "20/80"}

// Balance is a parsed class-balance setting.
type Balance struct {
	// Spec is the setting as given: a level "P/Q" or a ratio vector.
	Spec string `json:"spec"`
	// Level is P of a level "P/Q" (the percentage of the first half of the
	// classes), or 0 for a ratio vector.
	Level float64 `json:"level,omitempty"`
	// Ratios is the weight of each class, as datasets.Balance takes them.
	Ratios []float64 `json:"ratios"`
}

// ParseBalance parses a class-balance setting for a task with the given
// number of classes: a DUMB level "P/Q" (two percentages that sum to 100;
// see the package documentation for how it maps to classes) or a vector
// of one non-negative weight per class, "0.2,0.8" or "1,1,1,1,1,4,4,4,4,4"
// (weights need not sum to 1).
func ParseBalance(s string, classes int) (*Balance, error) {
	if classes < 2 {
		return nil, fmt.Errorf("balance %q: the data has %d classes; balancing needs at least 2", s, classes)
	}
	if p, q, ok := strings.Cut(s, "/"); ok {
		a, err1 := strconv.ParseFloat(strings.TrimSpace(p), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(q), 64)
		if err1 != nil || err2 != nil || strings.Contains(q, "/") {
			return nil, fmt.Errorf("balance %q: a level is two percentages P/Q such as 20/80", s)
		}
		if !(a > 0 && b > 0) || math.Abs(a+b-100) > 1e-9 {
			return nil, fmt.Errorf("balance %q: P and Q must be positive and sum to 100 (such as 20/80)", s)
		}
		return &Balance{Spec: s, Level: a, Ratios: LevelRatios(a, classes)}, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != classes {
		return nil, fmt.Errorf("balance %q: %d weights for %d classes (give one per class, or a level P/Q such as 20/80)", s, len(parts), classes)
	}
	r := make([]float64, classes)
	sum := 0.0
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("balance %q: weight %q of class %d is not a finite non-negative number", s, p, i)
		}
		r[i] = v
		sum += v
	}
	if sum == 0 {
		return nil, fmt.Errorf("balance %q: all weights are zero", s)
	}
	return &Balance{Spec: s, Ratios: r}, nil
}

// LevelRatios gives the class weights of the level P/(100−P): classes
// 0 … ⌊k/2⌋−1 share P, the others share 100−P, evenly within each group.
func LevelRatios(p float64, classes int) []float64 {
	lo := classes / 2
	r := make([]float64, classes)
	for i := range r {
		if i < lo {
			r[i] = p / 100 / float64(lo)
		} else {
			r[i] = (100 - p) / 100 / float64(classes-lo)
		}
	}
	return r
}

// Hyper are the optimizer settings of a training run.
type Hyper struct {
	Optimizer   string  `json:"optimizer"` // sgd, nesterov or adam
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum,omitempty"` // SGD only
	WeightDecay float64 `json:"weight_decay"`
	Schedule    string  `json:"schedule"` // constant, step, cosine or cyclical
	Batch       int     `json:"batch"`
}

// Defaults are the settings an architecture trains with unless told
// otherwise: SGD with lr 0.05 and momentum 0.9 for the shallow mlp and
// lenet (one epoch of MNIST takes lenet past 97%), Adam with lr 1e-3 for
// the deeper BatchNorm networks resnet, vgg and mobilenet, where plain SGD
// at 0.05 starts slowly, and for the vision transformer vit, which SGD at
// that rate does not train. Batch 64, constant learning rate, no weight
// decay.
func Defaults(arch string) Hyper {
	switch arch {
	case "resnet", "vgg", "mobilenet", "vit":
		return Hyper{Optimizer: "adam", LR: 1e-3, Schedule: "constant", Batch: 64}
	}
	return Hyper{Optimizer: "sgd", LR: 0.05, Momentum: 0.9, Schedule: "constant", Batch: 64}
}

// FineTuneDefaults are the optimizer settings for continuing to train a
// loaded model (train --from): plain SGD at a learning rate low enough not
// to undo what it learned.
func FineTuneDefaults() Hyper {
	return Hyper{Optimizer: "sgd", LR: 0.01, Momentum: 0.9, Schedule: "constant", Batch: 64}
}

// Augmentation applied by Job.Augment: translation by up to 2 pixels,
// rotation within ±10°, scaling within ±10%.
const (
	AugmentCropPad = 2
	AugmentRotate  = 10
	AugmentScale   = 0.1
)

// Job is one model to train.
type Job struct {
	// Arch names a reference architecture to build and train from
	// scratch; From, when set instead, is a model to continue training
	// (fine-tuning): any ONNX classifier the engine loads, BatchNorm in
	// training mode, its graph written back unchanged with new weights.
	Arch        string
	From        *models.Model
	FromRef     *report.ModelRef
	Data        *datasets.Dataset // the training images, already sampled and balanced
	Hyper       Hyper
	Epochs      int
	Augment     bool
	ValFraction float64
	Patience    int
	Seed        uint64 // initialisation and training (shuffling, augmentation, dropout, validation split)
	// CheckpointDir, when set, receives the model after every epoch.
	CheckpointDir string

	OnEpoch  func(train.EpochStats)
	Progress func(done, total int)
	// OnStep, when set, is train.Config.OnStep: called with the new
	// weights after every optimizer step (pruning keeps its mask here).
	OnStep func(step int, lr float64, params [][]float32)
}

// Trained is a trained model.
type Trained struct {
	Model   *models.Model
	ONNX    []byte // the model file
	Fit     *train.Result
	Seconds float64
}

// Validate checks a job's settings without touching data.
func (j *Job) Validate() error {
	h := j.Hyper
	switch {
	case j.Epochs < 1:
		return fmt.Errorf("--epochs %d must be at least 1", j.Epochs)
	case h.Batch < 1:
		return fmt.Errorf("--batch %d must be at least 1", h.Batch)
	case !(h.LR > 0) || math.IsInf(h.LR, 0):
		return fmt.Errorf("--lr %v must be a positive number", h.LR)
	case !(h.Momentum >= 0 && h.Momentum < 1):
		return fmt.Errorf("--momentum %v must be in [0, 1)", h.Momentum)
	case !(h.WeightDecay >= 0) || math.IsInf(h.WeightDecay, 0):
		return fmt.Errorf("--weight-decay %v must be a non-negative number", h.WeightDecay)
	case !(j.ValFraction >= 0 && j.ValFraction < 1):
		return fmt.Errorf("--val-fraction %v must be in [0, 1)", j.ValFraction)
	case j.Patience < 0:
		return fmt.Errorf("--patience %d must not be negative", j.Patience)
	case j.Patience > 0 && j.ValFraction == 0:
		return errors.New("--patience needs a validation split (--val-fraction > 0)")
	}
	if _, err := train.ParseOptimizer(h.Optimizer, h.Momentum, h.WeightDecay); err != nil {
		return fmt.Errorf("--optimizer: %w", err)
	}
	if _, err := train.ParseSchedule(h.Schedule, h.LR, 1, 1); err != nil {
		return fmt.Errorf("--schedule: %w", err)
	}
	switch {
	case j.From != nil && j.Arch != "":
		return errors.New("give --arch (train from scratch) or --from (fine-tune a model), not both")
	case j.From == nil && !knownArch(j.Arch):
		return fmt.Errorf("unknown architecture %q (known: %s)", j.Arch, strings.Join(arch.Architectures(), ", "))
	}
	return nil
}

func knownArch(a string) bool {
	for _, k := range arch.Architectures() {
		if k == a {
			return true
		}
	}
	return false
}

// Train builds a freshly initialised arch.Build(arch) for the data's
// image shape and classes and trains it with train.Fit. The same job and
// data give byte-identical ONNX. Training stops with ctx's error when ctx
// is done.
func Train(ctx context.Context, j Job) (*Trained, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	d := j.Data
	if d.Labels == nil {
		return nil, errors.New("training data has no labels")
	}
	if d.Len() == 0 {
		return nil, errors.New("no training images")
	}
	nval := int(j.ValFraction * float64(d.Len()))
	if d.Len()-nval < 1 {
		return nil, fmt.Errorf("%d images leave none to train on after the validation split", d.Len())
	}
	if j.ValFraction > 0 && nval == 0 {
		return nil, fmt.Errorf("--val-fraction %v of %d images is no image; use more data or a larger fraction", j.ValFraction, d.Len())
	}
	m := j.From
	if m == nil {
		var err error
		if m, err = arch.Build(j.Arch, d.Shape[:], d.Classes, j.Seed); err != nil {
			return nil, err
		}
	} else {
		if got := m.InputShape(); len(got) != 3 || [3]int(got) != d.Shape {
			return nil, fmt.Errorf("the model to fine-tune takes %v images, the data has %v", got, d.Shape)
		}
		if err := d.CheckClasses(m.NumClasses()); err != nil {
			return nil, fmt.Errorf("the model to fine-tune outputs %d classes: %w", m.NumClasses(), err)
		}
	}
	h := j.Hyper
	opt, _ := train.ParseOptimizer(h.Optimizer, h.Momentum, h.WeightDecay)
	perEpoch := (d.Len() - nval + h.Batch - 1) / h.Batch
	sched, _ := train.ParseSchedule(h.Schedule, h.LR, j.Epochs*perEpoch, perEpoch)
	cfg := train.Config{Epochs: j.Epochs, Batch: h.Batch, LR: h.LR, Schedule: sched, Optimizer: opt, Seed: j.Seed,
		ValFraction: j.ValFraction, Patience: j.Patience, OnEpoch: j.OnEpoch, Progress: j.Progress, CheckpointDir: j.CheckpointDir,
		OnStep: j.OnStep}
	if j.Augment {
		cfg.CropPad, cfg.RotateDeg, cfg.Scale = AugmentCropPad, AugmentRotate, AugmentScale
	}
	start := time.Now()
	res, err := train.FitContext(ctx, m, d, cfg)
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	var buf bytes.Buffer
	if err := m.WriteONNX(&buf); err != nil {
		// A model advmatrix built and trained must export.
		return nil, fmt.Errorf("%w: export the trained model: %v", attacks.ErrInternal, err)
	}
	return &Trained{Model: m, ONNX: buf.Bytes(), Fit: res, Seconds: secs}, nil
}

// Accuracy is a model's accuracy on a labelled data set.
type Accuracy struct {
	Source   string  `json:"source,omitempty"`
	Spec     string  `json:"spec"`
	N        int     `json:"n"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

// Evaluate measures m on the first limit images of d (limit 0: all).
func Evaluate(m models.Classifier, d *datasets.Dataset, limit int) (Accuracy, error) {
	n := d.Len()
	if limit > 0 {
		n = min(n, limit)
	}
	if d.Labels == nil {
		return Accuracy{}, fmt.Errorf("test data %s has no labels", d.Name)
	}
	if d.Classes > m.NumClasses() {
		return Accuracy{}, fmt.Errorf("test data %s has %d classes, the model outputs %d", d.Name, d.Classes, m.NumClasses())
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	acc, err := train.Accuracy(m, d, idx, 256)
	if err != nil {
		return Accuracy{}, err
	}
	return Accuracy{Spec: d.Name, N: n, Correct: int(math.Round(acc * float64(n))), Accuracy: acc}, nil
}

// Prepare turns a training set into what a job trains on: a seeded sample
// of limit images (0: all), then, if b is not nil, the largest subset with
// b's class proportions. Sampling and balancing derive their draws from
// seed.
func Prepare(d *datasets.Dataset, limit int, b *Balance, seed uint64) (*datasets.Dataset, error) {
	if limit < 0 {
		return nil, fmt.Errorf("--limit %d is negative", limit)
	}
	if limit > 0 && limit < d.Len() {
		d = d.Sample(limit, seed)
	}
	if b != nil {
		if d.Labels == nil {
			return nil, errors.New("--balance needs labelled data")
		}
		if len(b.Ratios) != d.Classes {
			return nil, fmt.Errorf("balance %q has %d weights, the data has %d classes", b.Spec, len(b.Ratios), d.Classes)
		}
		bd, err := d.Balance(b.Ratios, seed^0x62616c616e6365) // "balance"
		if err != nil {
			return nil, err
		}
		d = bd
	}
	if d.Len() == 0 {
		return nil, errors.New("no training images left after sampling and balancing")
	}
	return d, nil
}
