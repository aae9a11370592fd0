package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/defenses"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/scenarios"
	zoobuild "github.com/advmatrix/advmatrix/zoo/build"
)

// pruneFlags are the flags of `advmatrix prune`.
type pruneFlags struct {
	job                   defenses.PruneJob
	data, test, optimizer string
	epochs, limit, batch  int
	testLimit             int
	lr                    float64
	seed                  uint64
	asJSON                bool
}

func newPruneCmd() *cobra.Command {
	var f pruneFlags
	cmd := &cobra.Command{
		Use:   "prune --model M.onnx --sparsity S [--scope layer|global] [--structured channel] -o P.onnx",
		Short: "Prune a model's weights by magnitude, or whole channels, and optionally fine-tune it",
		Long:  pruneHelp(),
		Example: `  advmatrix prune --model zoo:digits/mnist_lenet_b50 --sparsity 0.9 -o lenet90.onnx
  advmatrix prune --model m.onnx --sparsity 0.8 --scope global --epochs 1 --data mnist:train --limit 10000 -o m80.onnx
  advmatrix prune --model zoo:digits/mnist_mobilenet_b50 --sparsity 0.5 --structured channel -o mobilenet_half.onnx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPrune(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.job.Model, "model", "", "the model to prune: an .onnx file or zoo:NAME")
	fl.Float64Var(&f.job.Config.Sparsity, "sparsity", 0, "fraction of weights (or of each layer's channels) removed, in [0, 1)")
	fl.StringVar(&f.job.Config.Scope, "scope", defenses.ScopeLayer, "layer (each tensor loses the fraction) or global (one threshold over all)")
	fl.StringVar(&f.job.Config.Structured, "structured", "", "channel: remove whole output channels (and their inputs downstream)")
	fl.StringVarP(&f.job.Out, "output", "o", "", "the pruned model's ONNX file")
	fl.IntVar(&f.epochs, "epochs", 0, "fine-tune the pruned model for N epochs (0: no fine-tuning), pruned weights kept at zero")
	fl.StringVar(&f.data, "data", "mnist:train", "fine-tuning data spec")
	fl.IntVar(&f.limit, "limit", 0, "fine-tune on a seeded sample of N images of --data (0: all)")
	fl.IntVar(&f.batch, "batch", 64, "fine-tuning batch size")
	fl.StringVar(&f.optimizer, "optimizer", "sgd", "fine-tuning optimizer: sgd (momentum 0.9), nesterov or adam")
	fl.Float64Var(&f.lr, "lr", 0.01, "fine-tuning learning rate")
	fl.Uint64Var(&f.seed, "seed", 1, "fine-tuning seed")
	fl.StringVar(&f.test, "test", "", "test data after fine-tuning (default: the test split of --data's source; none: no test)")
	fl.IntVar(&f.testLimit, "test-limit", 0, "evaluate on the first N test images (0: all)")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	return cmd
}

// runPrune prunes (defenses.PruneJob) and, with --epochs, fine-tunes the
// pruned model (build.Training) with its mask re-applied after every step.
func runPrune(cmd *cobra.Command, f *pruneFlags) error {
	if err := f.job.Check(); err != nil {
		return err
	}
	out, err := f.job.Run(f.epochs == 0)
	if err != nil {
		return err
	}
	r := &out.Report
	if f.epochs > 0 {
		h := zoobuild.FineTuneDefaults()
		h.Optimizer, h.LR, h.Batch = f.optimizer, f.lr, f.batch
		if h.Optimizer == "adam" {
			h.Momentum = 0
		}
		ref := scenarios.RefOf(out.Pruned.Model, provenance.File{Path: f.job.Model + ", pruned", SHA256: r.Output.SHA256})
		job := zoobuild.Job{From: out.Pruned.Model, FromRef: &ref, Hyper: h, Epochs: f.epochs, Seed: f.seed}
		if m := out.Pruned.Mask; m != nil {
			job.OnStep = func(_ int, _ float64, params [][]float32) { m.Apply(params) }
		}
		job.Progress, job.OnEpoch = epochProgress(cmd.ErrOrStderr(), f.epochs, false)
		t := zoobuild.Training{Job: job, DataSpec: f.data, Limit: f.limit, TestSpec: f.test, TestLimit: f.testLimit,
			Out: f.job.Out, Log: cmd.ErrOrStderr()}
		tuned, err := t.Run(cmd.Context())
		if err != nil {
			return err
		}
		r.FineTune, r.Output = tuned.Report, tuned.Report.Model.File
		r.BytesAfter = len(tuned.Trained.ONNX)
	}
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), r)
	}
	if err := defenses.WritePruneText(cmd.OutOrStdout(), r); err != nil || r.FineTune == nil {
		return err
	}
	tr := r.FineTune.(zoobuild.TrainReport)
	fmt.Fprintln(cmd.OutOrStdout(), "\nfine-tuned, pruned weights held at zero:")
	return zoobuild.WriteTrainText(cmd.OutOrStdout(), &tr)
}

func pruneHelp() string {
	return `prune removes weights from a model and writes it as ONNX.

Unstructured (the default): magnitude pruning of the weights of Conv, Gemm and
MatMul nodes — biases, normalisation and every other tensor are left alone.
With --scope layer each weight tensor of n entries loses exactly round(S·n),
with --scope global the round(S·N) smallest of all N prunable weights go; the
smallest magnitudes are zeroed (ties by tensor, then element order), so the
largest are the ones kept. The file keeps its size: the zeros are stored.

--structured channel removes whole output channels (Li et al. 2017): in each
Conv, Gemm or MatMul whose channels reach other weight layers only through
channel-wise ops (BatchNorm, activations, pooling, depthwise convolutions,
Flatten), the round(S·C) channels with the smallest L1 norm go, together with
their BatchNorm entries, depthwise filters, and the matching inputs of the
next layer; the file really shrinks. Layers whose channels reach the output,
a residual Add or anything else stay whole, and the report says why. A
removed channel's constant BatchNorm shift is dropped, not folded forward.

--epochs N fine-tunes the pruned model on --data (SGD, lr 0.01, momentum 0.9
unless --optimizer and --lr say otherwise, as train --from does; BatchNorm
networks such as the digits MobileNet recover better with --optimizer adam
--lr 0.001, their training defaults), re-applying the pruning mask after
every step so that pruned weights stay zero; the tuned model is written
instead.

Every run is deterministic. On any error nothing is written (exit 2).`
}
