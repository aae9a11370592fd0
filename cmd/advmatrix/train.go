package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/internal/progress"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/models"
	zoobuild "github.com/advmatrix/advmatrix/models/zoo/build"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/train"
	"github.com/spf13/cobra"
)

// trainFlags are the flags of `advmatrix train`.
type trainFlags struct {
	arch, data, balance, test, out string
	optimizer, schedule            string
	epochs, batch, limit           int
	testLimit, patience            int
	checkpointDir                  string
	lr, momentum, wd, valFraction  float64
	seed                           uint64
	augment, asJSON                bool
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a reference architecture on a data set and write it as ONNX",
		Long: `train builds a freshly initialised reference architecture (` + strings.Join(models.Architectures(), ", ") + `;
see models.Build) for the data's image shape and number of classes, trains it,
evaluates it on test data and writes it as ONNX (atomically).

Defaults per architecture, unless --optimizer/--lr say otherwise:
  mlp, lenet                    SGD, lr 0.05, momentum 0.9
  resnet, vgg, mobilenet, vit   Adam (β 0.9/0.999, ε 1e-8), lr 1e-3
and for all: batch 64, constant schedule, no weight decay, no augmentation.
--augment adds a random shift of up to 2 px, rotation within ±10° and scaling
within ±10% to every training image.

Training data: --limit N takes a seeded sample of N images of --data first; then
--balance resamples it to given class proportions, either
  a ratio vector  one weight per class, such as 1,1,1,1,1,4,4,4,4,4
  a DUMB level    P/Q with P+Q = 100 (50/50, 40/60, 30/70, 20/80): the first half
                  of the classes (0…⌊k/2⌋−1; digits 0–4) together make P% of the
                  images and the other classes Q%, evenly within each half. For a
                  binary task this is DUMB's definition exactly (class 0 is P%);
                  for digits, 20/80 gives classes 0–4 4% each and 5–9 16% each.
Balancing keeps the largest subset with those proportions: as in DUMB, the
under-represented classes are subsampled and the others keep their images.
Then --val-fraction of the images is held out (a seeded draw) for the
per-epoch validation accuracy and --patience early stopping, which restores
the best epoch's weights.

Test data: --test, by default the test split of the same source (mnist:train →
mnist:test, fashion-mnist:train → fashion-mnist:test, syndigits:train →
syndigits:test); none when --data has no splits or is itself a test split, or
with --test none.

One line of metrics per epoch goes to stderr (and a progress bar, on a
terminal); the summary, or JSON with provenance, to stdout. Every random choice
derives from --seed: the same flags give a byte-identical ONNX file.`,
		Example: `  advmatrix train --arch lenet --data mnist:train -o lenet.onnx
  advmatrix train --arch mobilenet --data syndigits:train --balance 20/80 --epochs 3 -o m.onnx --json
  advmatrix train --arch mlp --data npy:x.npy,y.npy --test npy:xt.npy,yt.npy --balance 1,3 -o mlp.onnx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.arch, "arch", "", "architecture: "+strings.Join(models.Architectures(), ", ")+" (required)")
	fl.StringVar(&f.data, "data", "mnist:train", "training data spec (see advmatrix --help)")
	fl.StringVar(&f.balance, "balance", "", "class balance: a level P/Q such as 20/80, or one weight per class (see above)")
	fl.IntVar(&f.limit, "limit", 0, "train on a seeded sample of N images of --data (0: all)")
	fl.IntVar(&f.epochs, "epochs", 5, "training epochs")
	fl.IntVar(&f.batch, "batch", 64, "images per training step")
	fl.Float64Var(&f.lr, "lr", 0, "learning rate (default per architecture: 0.05 SGD, 1e-3 Adam)")
	fl.StringVar(&f.optimizer, "optimizer", "", "sgd, nesterov or adam (default per architecture)")
	fl.Float64Var(&f.momentum, "momentum", 0.9, "momentum of sgd and nesterov")
	fl.Float64Var(&f.wd, "weight-decay", 0, "L2 weight decay added to the gradient")
	fl.StringVar(&f.schedule, "schedule", "constant", "learning-rate schedule: constant, step (×0.1 every third of the run), cosine, cyclical (cosine restarting every epoch)")
	fl.BoolVar(&f.augment, "augment", false, "augment training images (shift ±2 px, rotate ±10°, scale ±10%)")
	fl.Float64Var(&f.valFraction, "val-fraction", 0.1, "hold out this fraction of the training images for validation")
	fl.IntVar(&f.patience, "patience", 0, "stop after P epochs without a better validation accuracy (0: never)")
	fl.StringVar(&f.checkpointDir, "checkpoint-dir", "", "also write the model after every epoch to DIR/epoch_NNN.onnx")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of initialisation, sampling, balancing, shuffling, augmentation and dropout")
	fl.StringVar(&f.test, "test", "", "test data spec (default: the test split of --data's source; none: no test)")
	fl.IntVar(&f.testLimit, "test-limit", 0, "evaluate on the first N test images (0: all)")
	fl.StringVarP(&f.out, "out", "o", "", "write the trained model to this .onnx file (required)")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON instead of a summary")
	return cmd
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	start := time.Now()
	if f.arch == "" {
		return fmt.Errorf("--arch is required (one of %s)", strings.Join(models.Architectures(), ", "))
	}
	if f.out == "" {
		return fmt.Errorf("--out (-o) is required: where to write the model")
	}
	h := zoobuild.Defaults(f.arch)
	if f.optimizer != "" {
		h.Optimizer = f.optimizer
		if !cmd.Flags().Changed("lr") && h.Optimizer != zoobuild.Defaults(f.arch).Optimizer {
			if f.optimizer == "adam" {
				h.LR = 1e-3
			} else {
				h.LR = 0.05
			}
		}
	}
	if cmd.Flags().Changed("lr") {
		h.LR = f.lr
	}
	h.Momentum = f.momentum
	if h.Optimizer == "adam" {
		h.Momentum = 0
	}
	h.WeightDecay, h.Schedule, h.Batch = f.wd, f.schedule, f.batch
	job := zoobuild.Job{Arch: f.arch, Hyper: h, Epochs: f.epochs, Augment: f.augment, ValFraction: f.valFraction,
		Patience: f.patience, Seed: f.seed, CheckpointDir: f.checkpointDir}
	if err := job.Validate(); err != nil {
		return err
	}
	if f.limit < 0 {
		return fmt.Errorf("--limit %d is negative", f.limit)
	}
	if f.testLimit < 0 {
		return fmt.Errorf("--test-limit %d is negative", f.testLimit)
	}
	if err := checkOutputDir(f.out); err != nil {
		return err
	}

	d, err := datasets.Open(f.data, datasets.Options{})
	if err != nil {
		return err
	}
	if d.Labels == nil {
		return fmt.Errorf("data %s has no labels; training needs them", f.data)
	}
	if d.Len() == 0 {
		return fmt.Errorf("data %s holds no images", f.data)
	}
	var bal *zoobuild.Balance
	if f.balance != "" {
		if bal, err = zoobuild.ParseBalance(f.balance, d.Classes); err != nil {
			return err
		}
	}
	dref := report.DataRef{Spec: f.data, Limit: f.limit, Sample: "first", Seed: f.seed}
	if f.limit > 0 && f.limit < d.Len() {
		dref.Sample = "seeded"
	}
	for _, s := range d.Sources {
		dref.Sources = append(dref.Sources, report.File{Path: s.Path, SHA256: s.SHA256})
	}
	sampled := d.Len()
	if f.limit > 0 {
		sampled = min(f.limit, d.Len())
	}
	dref.N, dref.Shape = sampled, d.Shape
	if d, err = zoobuild.Prepare(d, f.limit, bal, f.seed); err != nil {
		return err
	}

	// The test data, opened before training so that a bad spec fails fast.
	testSpec := f.test
	if testSpec == "" {
		testSpec = zoobuild.DefaultTestSpec(f.data)
		if testSpec == "" && f.test != "none" {
			fmt.Fprintf(cmd.ErrOrStderr(), "note: no test data for %s (its source has no separate test split, or it is the test split); give --test SPEC\n", f.data)
		}
	}
	var test *datasets.Dataset
	var tref *report.DataRef
	if testSpec != "" && testSpec != "none" {
		if test, err = datasets.Open(testSpec, datasets.Options{Shape: d.Shape}); err != nil {
			return fmt.Errorf("--test: %w", err)
		}
		if test.Labels == nil {
			return fmt.Errorf("test data %s has no labels", testSpec)
		}
		if test.Len() == 0 {
			return fmt.Errorf("test data %s holds no images", testSpec)
		}
		if test.Classes > d.Classes {
			return fmt.Errorf("test data %s has %d classes, the training data %d", testSpec, test.Classes, d.Classes)
		}
		test.Name = testSpec
		n := test.Len()
		if f.testLimit > 0 {
			n = min(n, f.testLimit)
		}
		tref = &report.DataRef{Spec: testSpec, N: n, Shape: test.Shape, Limit: f.testLimit, Sample: "first"}
		for _, s := range test.Sources {
			tref.Sources = append(tref.Sources, report.File{Path: s.Path, SHA256: s.SHA256})
		}
	}

	stderr := cmd.ErrOrStderr()
	var bar *progress.Bar
	prev, epoch := 0, 1
	job.Data = d
	job.Progress = func(done, total int) {
		if bar == nil {
			bar, prev = progress.New(fmt.Sprintf("epoch %d/%d", epoch, f.epochs), total), 0
		}
		bar.Add(done - prev)
		prev = done
	}
	job.OnEpoch = func(s train.EpochStats) {
		if bar != nil {
			bar.Done()
			bar = nil
		}
		epoch = s.Epoch + 1
		printEpoch(stderr, s, f.epochs, f.valFraction > 0)
	}
	t, err := zoobuild.Train(job)
	if err != nil {
		return err
	}
	res := zoobuild.TrainReport{Schema: report.SchemaVersion, ToolVersion: version.String(), StartedAt: start.UTC().Format(time.RFC3339),
		Arch: f.arch, Data: dref, Balance: bal, TrainImages: d.Len(), ValImages: t.Fit.ValN, ClassCounts: d.ClassCounts(),
		Seed: f.seed, Hyper: h, Augment: f.augment, ValFraction: f.valFraction, Patience: f.patience,
		EpochsWanted: f.epochs, EpochsRun: len(t.Fit.Epochs), BestEpoch: t.Fit.BestEpoch, Epochs: t.Fit.Epochs,
		TrainSeconds: t.Seconds, TestData: tref}
	if f.patience == 0 {
		res.BestEpoch = len(t.Fit.Epochs) // the weights written are the last epoch's
	}
	last := t.Fit.Epochs[len(t.Fit.Epochs)-1]
	res.TrainAccuracy = last.TrainAccuracy
	if t.Fit.ValN > 0 {
		v := t.Fit.Epochs[res.BestEpoch-1].ValAccuracy
		res.ValAccuracy = &v
	}
	res.ImagesPerSecond = float64(t.Fit.TrainN*len(t.Fit.Epochs)) / max(t.Seconds, 1e-9)
	if test != nil {
		acc, err := zoobuild.Evaluate(t.Model, test, f.testLimit)
		if err != nil {
			return err
		}
		res.Test = &acc
	}
	h256 := sha256.Sum256(t.ONNX)
	res.Model = report.ModelRef{File: report.File{Path: f.out, SHA256: hex.EncodeToString(h256[:])}, Opset: t.Model.Opset(),
		Parameters: t.Model.NumParams(), InputShape: t.Model.InputShape(), Classes: t.Model.NumClasses()}
	if err := writeFilesAtomic([]pendingFile{{path: f.out, data: t.ONNX}}); err != nil {
		return err
	}
	res.WallSeconds = time.Since(start).Seconds()
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	return printTrain(cmd.OutOrStdout(), &res)
}

func printEpoch(w io.Writer, s train.EpochStats, epochs int, val bool) {
	line := fmt.Sprintf("epoch %d/%d  loss %.4f  train %s", s.Epoch, epochs, s.TrainLoss, pct(s.TrainAccuracy))
	if val {
		line += "  val " + pct(s.ValAccuracy)
	}
	line += fmt.Sprintf("  lr %.4g  %.0f images/s", s.LR, s.ImagesPerSec)
	if s.StoppedEarly {
		line += "  (stopping early)"
	}
	fmt.Fprintln(w, line)
}

func printTrain(w io.Writer, r *zoobuild.TrainReport) error {
	fmt.Fprintf(w, "model     %s (%s, %d parameters, sha256 %s)\n", r.Model.Path, r.Arch, r.Model.Parameters, r.Model.SHA256[:16])
	data := fmt.Sprintf("%s (%d images", r.Data.Spec, r.Data.N)
	if r.Data.Sample == "seeded" {
		data += ", a seeded sample"
	}
	data += ")"
	if r.Balance != nil {
		data += fmt.Sprintf(", balance %s → %d images", r.Balance.Spec, r.TrainImages)
	}
	fmt.Fprintf(w, "data      %s; %d train, %d validation\n", data, r.TrainImages-r.ValImages, r.ValImages)
	fmt.Fprintf(w, "classes   %s\n", intsString(r.ClassCounts))
	h := r.Hyper
	opt := fmt.Sprintf("%s lr %g", h.Optimizer, h.LR)
	if h.Optimizer != "adam" {
		opt += fmt.Sprintf(" momentum %g", h.Momentum)
	}
	if h.WeightDecay > 0 {
		opt += fmt.Sprintf(" weight decay %g", h.WeightDecay)
	}
	fmt.Fprintf(w, "training  %d/%d epochs, %s, %s schedule, batch %d, seed %d\n", r.EpochsRun, r.EpochsWanted, opt, h.Schedule, h.Batch, r.Seed)
	acc := "train " + pct(r.TrainAccuracy)
	if r.ValAccuracy != nil {
		acc += fmt.Sprintf("  val %s (epoch %d)", pct(*r.ValAccuracy), r.BestEpoch)
	}
	if r.Test != nil {
		acc += fmt.Sprintf("  test %s (%s, %d/%d)", pct(r.Test.Accuracy), r.Test.Spec, r.Test.Correct, r.Test.N)
	}
	fmt.Fprintf(w, "accuracy  %s\n", acc)
	fmt.Fprintf(w, "time      %.2f s training, %.2f s wall, %.0f images/s\n", r.TrainSeconds, r.WallSeconds, r.ImagesPerSecond)
	return nil
}

func intsString(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, " ")
}
