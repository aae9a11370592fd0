package main

import (
	"fmt"
	"time"

	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/progress"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
	"github.com/advmatrix/advmatrix/zoo"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
)

func newEvalCmd() *cobra.Command {
	var (
		modelSpec, dataSpec, saveLogits string
		limit, batch                    int
		shuffle, asJSON                 bool
		seed                            uint64
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure a model's clean accuracy on a data set",
		Long: `eval runs a model over a data set and reports its accuracy with a 95% Wilson
interval, per-class accuracy and the confusion matrix. With no flags it evaluates
the embedded LeNet on the embedded MNIST test set.`,
		Example: `  advmatrix eval
  advmatrix eval --model model.onnx --data fashion-mnist:test --limit 1000 --json
  advmatrix eval --model model.onnx --data npy:x.npy,y.npy --save-logits logits.npy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if batch <= 0 {
				return fmt.Errorf("--batch %d must be positive", batch)
			}
			m, mref, err := scenarios.LoadModel(modelSpec)
			if err != nil {
				return err
			}
			data, err := scenarios.OpenData(dataSpec, m.InputShape(), limit, shuffle, seed)
			if err != nil {
				return err
			}
			d, dref := data.Dataset, data.Ref
			if d.Labels == nil {
				return fmt.Errorf("data %s has no labels; eval needs them", dataSpec)
			}
			k := m.NumClasses()
			if d.Classes > k {
				return fmt.Errorf("data %s has %d classes, the model outputs %d logits", dataSpec, d.Classes, k)
			}
			res := report.EvalResult{Schema: report.SchemaVersion, ToolVersion: version.String(),
				StartedAt: start.UTC().Format(time.RFC3339), Model: mref, Data: dref, BatchSize: batch}
			n := d.Len()
			logits := make([]float32, n*k)
			sz := d.Shape[0] * d.Shape[1] * d.Shape[2]
			x := make([]float32, batch*sz)
			idx := make([]int, 0, batch)
			bar := progress.New("eval", n)
			var compute time.Duration
			for i := 0; i < n; i += batch {
				j := min(n, i+batch)
				idx = idx[:0]
				for t := i; t < j; t++ {
					idx = append(idx, t)
				}
				xb := x[:(j-i)*sz]
				d.Batch(idx, xb)
				t0 := time.Now()
				if err := m.Logits(logits[i*k:j*k], xb); err != nil {
					return fmt.Errorf("images %d-%d: %w", i, j-1, err)
				}
				compute += time.Since(t0)
				res.ForwardCalls++
				bar.Add(j - i)
			}
			bar.Done()
			res.Classification = metrics.Classify(metrics.Argmax(logits, k), d.Labels, k, d.ClassNames)
			res.ComputeSeconds = compute.Seconds()
			res.ImagesPerSecond = float64(n) / max(compute.Seconds(), 1e-9)
			if saveLogits != "" {
				if err := npy.WriteFile(saveLogits, npy.NewFloat32([]int{n, k}, logits)); err != nil {
					return err
				}
			}
			res.WallSeconds = time.Since(start).Seconds()
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			return printEval(cmd, &res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelSpec, "model", "zoo:"+zoo.Default, "model: an .onnx file or zoo:NAME")
	f.StringVar(&dataSpec, "data", "mnist:test", "data spec (see advmatrix --help)")
	f.IntVar(&limit, "limit", 0, "use at most N images (0: all)")
	f.BoolVar(&shuffle, "shuffle", false, "take a seeded random sample instead of the first N images")
	f.Uint64Var(&seed, "seed", 0, "seed for --shuffle")
	f.IntVar(&batch, "batch", 128, "images per forward pass")
	f.BoolVar(&asJSON, "json", false, "print JSON (schema "+report.SchemaVersion+")")
	f.StringVar(&saveLogits, "save-logits", "", "write the logits to this .npy file")
	return cmd
}

func printEval(cmd *cobra.Command, r *report.EvalResult) error {
	w := cmd.OutOrStdout()
	a := r.Accuracy
	fmt.Fprintf(w, "model     %s (opset %d, %d parameters)\n", r.Model.Path, r.Model.Opset, r.Model.Parameters)
	fmt.Fprintf(w, "data      %s (%d images of %s)\n", r.Data.Spec, r.Data.N, shapeString(r.Data.Shape[:]))
	fmt.Fprintf(w, "accuracy  %s (%d/%d, 95%% CI %s–%s)\n", pct(a.Value), a.Num, a.Den, pct(a.Lo95), pct(a.Hi95))
	fmt.Fprintf(w, "time      %.2f s compute, %.2f s wall, %.0f images/s\n\n", r.ComputeSeconds, r.WallSeconds, r.ImagesPerSecond)
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header("class", "images", "correct", "accuracy", "95% CI")
	for _, c := range r.PerClass {
		name := fmt.Sprint(c.Class)
		if c.Name != "" {
			name += " " + c.Name
		}
		if err := t.Append(name, fmt.Sprint(c.Den), fmt.Sprint(c.Num), pct(c.Value), pct(c.Lo95)+"–"+pct(c.Hi95)); err != nil {
			return err
		}
	}
	return t.Render()
}
