package main

import (
	"fmt"
	"math"
	"time"

	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
	"github.com/spf13/cobra"
)

// gradResult is what `advmatrix grad --json` prints.
type gradResult struct {
	Schema         string          `json:"schema"`
	ToolVersion    string          `json:"tool_version"`
	Model          report.ModelRef `json:"model"`
	Input          provenance.File `json:"input"`
	Shape          []int           `json:"shape"`
	Mode           string          `json:"mode"` // "cross_entropy_sum" or "vjp"
	Loss           *float64        `json:"loss,omitempty"`
	Out            string          `json:"out"`
	GradLinf       float64         `json:"grad_linf"`
	GradL2         float64         `json:"grad_l2"`
	ComputeSeconds float64         `json:"compute_seconds"`
	WallSeconds    float64         `json:"wall_seconds"`
}

func newGradCmd() *cobra.Command {
	var modelSpec, input, labels, cotangent, out string
	var asJSON bool
	var batch int
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
			if (labels == "") == (cotangent == "") {
				return fmt.Errorf("give exactly one of --labels and --cotangent")
			}
			if input == "" || out == "" {
				return fmt.Errorf("--input and --out are required")
			}
			if batch <= 0 {
				return fmt.Errorf("--batch %d must be positive", batch)
			}
			m, mref, err := scenarios.LoadModel(modelSpec)
			if err != nil {
				return err
			}
			xa, err := npy.ReadFile(input)
			if err != nil {
				return err
			}
			x, shape, err := imagesFrom(xa, m, input)
			if err != nil {
				return err
			}
			_, inRef, err := readModelFile(input)
			if err != nil {
				return err
			}
			n, k := shape[0], m.NumClasses()
			res := gradResult{Schema: report.SchemaVersion, ToolVersion: version.String(), Model: mref, Input: inRef, Shape: shape, Out: out}
			var g []float32
			t0 := time.Now()
			if labels != "" {
				ya, err := npy.ReadFile(labels)
				if err != nil {
					return err
				}
				y, err := ya.Ints()
				if err != nil {
					return fmt.Errorf("%s: %w", labels, err)
				}
				if len(y) != n || len(ya.Shape) != 1 {
					return fmt.Errorf("%s has shape %v; %s holds %d images, so labels must have shape [%d]", labels, ya.Shape, input, n, n)
				}
				// Chunks of --batch images: memory does not grow with N, and
				// each image's gradient is the same whatever the chunking.
				sz := len(x) / n
				g = make([]float32, len(x))
				z := make([]float32, n*k)
				for i := 0; i < n; i += batch {
					j := min(n, i+batch)
					gc, zc, err := m.CrossEntropyGrad(x[i*sz:j*sz], y[i:j])
					if err != nil {
						return err
					}
					copy(g[i*sz:], gc)
					copy(z[i*k:], zc)
				}
				loss, err := sumCrossEntropy(z, y, k)
				if err != nil {
					return err
				}
				res.Mode, res.Loss = "cross_entropy_sum", &loss
			} else {
				va, err := npy.ReadFile(cotangent)
				if err != nil {
					return err
				}
				if len(va.Shape) != 2 || va.Shape[0] != n || va.Shape[1] != k {
					return fmt.Errorf("%s has shape %v; the cotangent must be [%d %d] (images × classes)", cotangent, va.Shape, n, k)
				}
				v, err := va.Float32()
				if err != nil {
					return fmt.Errorf("%s: %w", cotangent, err)
				}
				for i, e := range v {
					if math.IsNaN(float64(e)) || math.IsInf(float64(e), 0) {
						return fmt.Errorf("%s: value %d is %v", cotangent, i, e)
					}
				}
				sz := len(x) / n
				g = make([]float32, len(x))
				for i := 0; i < n; i += batch {
					j := min(n, i+batch)
					gc, err := m.VJP(x[i*sz:j*sz], v[i*k:j*k])
					if err != nil {
						return err
					}
					copy(g[i*sz:], gc)
				}
				res.Mode = "vjp"
			}
			res.ComputeSeconds = time.Since(t0).Seconds()
			for _, v := range g {
				res.GradLinf = max(res.GradLinf, math.Abs(float64(v)))
				res.GradL2 += float64(v) * float64(v)
			}
			res.GradL2 = math.Sqrt(res.GradL2)
			if err := npy.WriteFile(out, npy.NewFloat32(shape, g)); err != nil {
				return err
			}
			res.WallSeconds = time.Since(start).Seconds()
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: %s gradient of %d images (%s)\n", out, res.Mode, n, shapeString(shape))
			if res.Loss != nil {
				fmt.Fprintf(w, "loss (sum CE) %.6g\n", *res.Loss)
			}
			fmt.Fprintf(w, "‖g‖∞ %.6g  ‖g‖₂ %.6g  compute %.3f s\n", res.GradLinf, res.GradL2, res.ComputeSeconds)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelSpec, "model", "", "model: an .onnx file or zoo:NAME (required)")
	f.StringVar(&input, "input", "", "images, float32 .npy of shape N×C×H×W in [0,1] (required)")
	f.StringVar(&labels, "labels", "", "integer labels .npy of shape N: gradient of the sum cross-entropy")
	f.StringVar(&cotangent, "cotangent", "", "float32 .npy of shape N×classes: vector–Jacobian product")
	f.StringVar(&out, "out", "", "output .npy (required)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.IntVar(&batch, "batch", 128, "images per forward and backward pass")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

func readModelFile(path string) ([]byte, provenance.File, error) { return scenarios.ReadModel(path) }

// imagesFrom checks that an array holds float images the model takes.
func imagesFrom(a *npy.Array, m *models.Model, name string) ([]float32, []int, error) {
	if a.DType != npy.Float32 && a.DType != npy.Float64 {
		return nil, nil, fmt.Errorf("%s has dtype %v; images must be float32 (or float64) in [0,1]", name, a.DType)
	}
	want := m.InputShape()
	if len(a.Shape) != len(want)+1 || a.Shape[0] == 0 {
		return nil, nil, fmt.Errorf("%s has shape %v; the model takes N×%s", name, a.Shape, shapeString(want))
	}
	for i, d := range want {
		if a.Shape[i+1] != d {
			return nil, nil, fmt.Errorf("%s has shape %v; the model takes N×%s", name, a.Shape, shapeString(want))
		}
	}
	x, err := a.Float32()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || v < 0 || v > 1 {
			return nil, nil, fmt.Errorf("%s: value %d is %v, outside [0,1]", name, i, v)
		}
	}
	return x, append([]int(nil), a.Shape...), nil
}

func sumCrossEntropy(z []float32, y []int, k int) (float64, error) {
	ce := make([]float64, len(y))
	if err := models.SoftmaxCrossEntropy(nil, z, y, k, 1, ce); err != nil {
		return 0, err
	}
	s := 0.0
	for _, v := range ce {
		s += v
	}
	return s, nil
}
