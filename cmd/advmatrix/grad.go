package main

import (
	"fmt"
	"time"

	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
	"github.com/spf13/cobra"
)

// gradResult is what `advmatrix grad --json` prints.
type gradResult = report.GradResult

func newGradCmd() *cobra.Command {
	var req scenarios.GradRequest
	var modelSpec, out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "grad",
		Short: "Write the input gradient of a loss, or a vector–Jacobian product",
		Long: `grad computes, for the images in --input (float32 N×C×H×W in [0,1]):

  with --labels Y.npy:     ∂/∂x Σᵢ CE(f(xᵢ), yᵢ), the gradient of the SUM-reduced
                           softmax cross-entropy (divide by N for PyTorch's mean);
  with --cotangent V.npy:  (∂f(x)/∂x)ᵀ V for V of shape N×classes;

and writes it to --out as float32 .npy of the input's shape.`,
		Example: `  advmatrix grad --model model.onnx --input x.npy --labels y.npy --out g.npy
  advmatrix grad --model model.onnx --input x.npy --cotangent v.npy --out g.npy --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if (req.Labels == "") == (req.Cotangent == "") {
				return fmt.Errorf("give exactly one of --labels and --cotangent")
			}
			if req.Input == "" || out == "" {
				return fmt.Errorf("--input and --out are required")
			}
			if req.Batch <= 0 {
				return fmt.Errorf("--batch %d must be positive", req.Batch)
			}
			m, err := scenarios.OpenModel(modelSpec)
			if err != nil {
				return err
			}
			g, err := scenarios.Gradient(cmd.Context(), m, req)
			if err != nil {
				return err
			}
			if err := npy.WriteFile(out, npy.NewFloat32(g.Shape, g.Grad)); err != nil {
				return err
			}
			res := &g.Result
			res.Out, res.WallSeconds = out, time.Since(start).Seconds()
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			return report.WriteGradText(cmd.OutOrStdout(), res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelSpec, "model", "", "model: an .onnx file or zoo:NAME (required)")
	f.StringVar(&req.Input, "input", "", "images, float32 .npy of shape N×C×H×W in [0,1] (required)")
	f.StringVar(&req.Labels, "labels", "", "integer labels .npy of shape N: gradient of the sum cross-entropy")
	f.StringVar(&req.Cotangent, "cotangent", "", "float32 .npy of shape N×classes: vector–Jacobian product")
	f.StringVar(&out, "out", "", "output .npy (required)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.IntVar(&req.Batch, "batch", scenarios.DefaultGradBatch, "images per forward and backward pass")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}
