package main

import (
	"fmt"
	"time"

	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/defenses"
	"github.com/advmatrix/advmatrix/internal/progress"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
	"github.com/advmatrix/advmatrix/zoo"
	"github.com/spf13/cobra"
)

// evalFlags are the flags of `advmatrix eval`.
type evalFlags struct {
	model, data, saveLogits string
	trigger                 string
	limit, batch            int
	shuffle, asJSON         bool
	seed                    uint64
}

func newEvalCmd() *cobra.Command {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure a model's clean accuracy on a data set",
		Long: `eval runs a model over a data set and reports its accuracy with a 95% Wilson
interval, per-class accuracy and the confusion matrix. With no flags it evaluates
the embedded LeNet on the embedded MNIST test set.

--trigger badnets:target=T[,size=S,pos=…,pattern=…] also measures a backdoor:
every test image whose label is not T is stamped with the trigger (as train
--poison stamps them) and classified again. The backdoor ASR is the fraction of
those predicted as T, with a Wilson interval; target-class images are left out
of its denominator, since they would count without any backdoor. Beside it:
the rate at which the same images are predicted as T without the trigger, the
paired difference of the two (Newcombe's interval, exact McNemar test), and the
accuracy on the triggered images.`,
		Example: `  advmatrix eval
  advmatrix eval --model model.onnx --data fashion-mnist:test --limit 1000 --json
  advmatrix eval --model model.onnx --data npy:x.npy,y.npy --save-logits logits.npy
  advmatrix eval --model backdoored.onnx --data mnist:test --trigger badnets:target=0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "zoo:"+zoo.Default, "model: an .onnx file or zoo:NAME")
	fl.StringVar(&f.data, "data", "mnist:test", "data spec (see advmatrix --help)")
	fl.IntVar(&f.limit, "limit", 0, "use at most N images (0: all)")
	fl.BoolVar(&f.shuffle, "shuffle", false, "take a seeded random sample instead of the first N images")
	fl.Uint64Var(&f.seed, "seed", 0, "seed for --shuffle")
	fl.IntVar(&f.batch, "batch", 128, "images per forward pass")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON (schema "+report.SchemaVersion+")")
	fl.StringVar(&f.saveLogits, "save-logits", "", "write the logits to this .npy file")
	fl.StringVar(&f.trigger, "trigger", "", "also measure a backdoor's ASR: badnets:target=T[,size=S,pos=…,pattern=…]")
	return cmd
}

// runEval opens the model and data, evaluates (scenarios.Evaluate),
// writes --save-logits and renders the results.
func runEval(cmd *cobra.Command, f *evalFlags) error {
	start := time.Now()
	if f.batch <= 0 {
		return fmt.Errorf("--batch %d must be positive", f.batch)
	}
	var trigger *defenses.Trigger
	if f.trigger != "" {
		var err error
		if trigger, err = defenses.ParseTrigger(f.trigger); err != nil {
			return fmt.Errorf("--trigger: %w", err)
		}
	}
	m, err := scenarios.OpenModel(f.model)
	if err != nil {
		return err
	}
	data, err := scenarios.OpenData(f.data, m.InputShape(), f.limit, f.shuffle, f.seed)
	if err != nil {
		return err
	}
	bar := progress.New("eval", data.Len())
	shown := 0
	out, err := scenarios.Evaluate(cmd.Context(), m, data, f.batch, func(done, _ int) { bar.Add(done - shown); shown = done })
	bar.Done()
	if err != nil {
		return err
	}
	res := &out.Result
	if trigger != nil {
		if res.Backdoor, err = defenses.EvaluateBackdoor(cmd.Context(), m, data.Dataset, trigger, metrics.Argmax(out.Logits, m.NumClasses()), f.batch); err != nil {
			return err
		}
	}
	if f.saveLogits != "" {
		if err := npy.WriteFile(f.saveLogits, npy.NewFloat32([]int{data.Len(), m.NumClasses()}, out.Logits)); err != nil {
			return err
		}
	}
	res.StartedAt, res.WallSeconds = start.UTC().Format(time.RFC3339), time.Since(start).Seconds()
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	return report.WriteEvalText(cmd.OutOrStdout(), res)
}
