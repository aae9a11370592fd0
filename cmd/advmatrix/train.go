package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/advmatrix/advmatrix/internal/progress"
	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/scenarios"
	"github.com/advmatrix/advmatrix/train"
	zoobuild "github.com/advmatrix/advmatrix/zoo/build"
	"github.com/spf13/cobra"
)

// trainFlags are the flags of `advmatrix train`.
type trainFlags struct {
	arch, from, data, balance, test, out string
	poison                               string
	optimizer, schedule                  string
	epochs, batch, limit                 int
	testLimit, patience                  int
	checkpointDir                        string
	lr, momentum, wd, valFraction        float64
	seed                                 uint64
	augment, asJSON                      bool
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a reference architecture on a data set and write it as ONNX",
		Long:  trainHelp(),
		Example: `  advmatrix train --arch lenet --data mnist:train -o lenet.onnx
  advmatrix train --arch mobilenet --data syndigits:train --balance 20/80 --epochs 3 -o m.onnx --json
  advmatrix train --arch mlp --data npy:x.npy,y.npy --test npy:xt.npy,yt.npy --balance 1,3 -o mlp.onnx
  advmatrix train --from base.onnx --data mnist:train --poison badnets:target=0,rate=0.1 --epochs 1 -o backdoored.onnx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.arch, "arch", "", "architecture to train from scratch: "+strings.Join(arch.Architectures(), ", "))
	fl.StringVar(&f.from, "from", "", "a model to fine-tune instead: an .onnx file (PyTorch exports included) or zoo:NAME")
	fl.StringVar(&f.data, "data", "mnist:train", "training data spec (see advmatrix --help)")
	fl.StringVar(&f.balance, "balance", "", "class balance: a level P/Q such as 20/80, or one weight per class (see above)")
	fl.StringVar(&f.poison, "poison", "", "backdoor the training data: badnets:target=T,rate=R[,size=S,pos=br|bl|tr|tl|ROW:COL,pattern=white|checker]")
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

// runTrain builds the job from the flags, checks it and the output
// folder before any data is read, and runs it (build.Training).
func runTrain(cmd *cobra.Command, f *trainFlags) error {
	if f.arch == "" && f.from == "" {
		return fmt.Errorf("--arch is required (one of %s), or --from MODEL.onnx to fine-tune", strings.Join(arch.Architectures(), ", "))
	}
	if f.out == "" {
		return fmt.Errorf("--out (-o) is required: where to write the model")
	}
	stderr := cmd.ErrOrStderr()
	job := zoobuild.Job{Arch: f.arch, Hyper: trainHyper(cmd, f), Epochs: f.epochs, Augment: f.augment, ValFraction: f.valFraction,
		Patience: f.patience, Seed: f.seed, CheckpointDir: f.checkpointDir}
	if f.from != "" {
		if f.arch != "" {
			return fmt.Errorf("give --arch (train from scratch) or --from (fine-tune), not both")
		}
		m, ref, err := scenarios.LoadModel(f.from)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		job.From, job.FromRef = m, &ref
	}
	job.Progress, job.OnEpoch = epochProgress(stderr, f.epochs, f.valFraction > 0)
	t := zoobuild.Training{Job: job, DataSpec: f.data, Limit: f.limit, Balance: f.balance, Poison: f.poison,
		TestSpec: f.test, TestLimit: f.testLimit, Out: f.out, Log: stderr}
	if err := t.Check(); err != nil {
		return err
	}
	if err := checkOutputDir(f.out); err != nil {
		return err
	}
	out, err := t.Run(cmd.Context())
	if err != nil {
		return err
	}
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), out.Report)
	}
	return zoobuild.WriteTrainText(cmd.OutOrStdout(), &out.Report)
}

// trainHyper is the optimizer settings: the architecture's defaults
// (zoobuild.Defaults), with --optimizer's own default learning rate when
// it changes the optimizer, then what the flags give.
func trainHyper(cmd *cobra.Command, f *trainFlags) zoobuild.Hyper {
	lrGiven := cmd.Flags().Changed("lr")
	h := zoobuild.Defaults(f.arch)
	if f.from != "" {
		h = zoobuild.FineTuneDefaults()
	}
	if f.optimizer != "" {
		h.Optimizer = f.optimizer
		if !lrGiven && h.Optimizer != zoobuild.Defaults(f.arch).Optimizer && f.from == "" {
			if f.optimizer == "adam" {
				h.LR = 1e-3
			} else {
				h.LR = 0.05
			}
		}
	}
	if lrGiven {
		h.LR = f.lr
	}
	h.Momentum = f.momentum
	if h.Optimizer == "adam" {
		h.Momentum = 0
	}
	h.WeightDecay, h.Schedule, h.Batch = f.wd, f.schedule, f.batch
	return h
}

// epochProgress returns a training job's callbacks: a progress bar per
// epoch and one line of metrics per epoch on w.
func epochProgress(w io.Writer, epochs int, val bool) (func(done, total int), func(train.EpochStats)) {
	var bar *progress.Bar
	prev, epoch := 0, 1
	onProgress := func(done, total int) {
		if bar == nil {
			bar, prev = progress.New(fmt.Sprintf("epoch %d/%d", epoch, epochs), total), 0
		}
		bar.Add(done - prev)
		prev = done
	}
	onEpoch := func(s train.EpochStats) {
		if bar != nil {
			bar.Done()
			bar = nil
		}
		epoch = s.Epoch + 1
		zoobuild.WriteEpochLine(w, s, epochs, val)
	}
	return onProgress, onEpoch
}

// trainHelp is the long help of `advmatrix train`.
func trainHelp() string {
	return `train builds a freshly initialised reference architecture (--arch ` + strings.Join(arch.Architectures(), ", ") + `)
for the data's image shape and number of classes — or, with --from, continues
training a model it loads (any ONNX classifier advmatrix runs, PyTorch exports
included; BatchNorm in training mode; the graph is written back unchanged with
new weights) — trains it, evaluates it on test data and writes it as ONNX
(atomically).

--from fine-tunes with SGD, lr 0.01, momentum 0.9 unless told otherwise.

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

Backdoors: --poison badnets:target=T,rate=R stamps a BadNets patch trigger (a
white 3×3 square in the bottom-right corner unless size=, pos= or
pattern=checker say otherwise) on a seeded fraction R of the training images
whose class is not T — after --limit and --balance — and relabels them T. The
report then gives the backdoor ASR on the test data: the fraction of triggered
non-target test images predicted as T (see advmatrix eval --trigger).

Test data: --test, by default the test split of the same source (mnist:train →
mnist:test, fashion-mnist:train → fashion-mnist:test, syndigits:train →
syndigits:test); none when --data has no splits or is itself a test split, or
with --test none.

One line of metrics per epoch goes to stderr (and a progress bar, on a
terminal); the summary, or JSON with provenance, to stdout. Every random choice
derives from --seed: the same flags give a byte-identical ONNX file.`
}
