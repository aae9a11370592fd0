package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/defenses"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/models/onnxgraph"
	"github.com/advmatrix/advmatrix/provenance"
)

func newEnsembleCmd() *cobra.Command {
	var (
		members       []string
		aggregate, to string
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "ensemble --model A.onnx --model B.onnx … --aggregate KIND -o E.onnx",
		Short: "Write several models and an aggregation head as one ONNX model",
		Long: `ensemble writes one ONNX file holding the --model members, which share one
input, and an aggregation of their logits as ordinary ONNX ops, so that the
ensemble is a model like any other: a victim for attack and run, and
deployable in any ONNX runtime. Aggregations:

  mean-logits        the mean of the members' logits
  mean-softmax       the mean of their softmax probabilities
  log-mean-softmax   log(mean softmax), clamped at 1e-40: DVERGE's ensemble
  crossmax[:k=K]     CrossMax (Fort & Lakshminarayanan 2024): subtract each
                     member's max over classes, then each class's max over
                     members, then take the K-th largest per class (default
                     K=3, 2 ≤ K ≤ members)
  crossmax-median    CrossMax with the median over members

Members must take the same images, output the same classes and use one
opset.`,
		Example: `  advmatrix ensemble --model zoo:digits/mnist_lenet_b50 --model zoo:digits/mnist_mlp_b50 \
      --model zoo:digits/mnist_mobilenet_b50 --aggregate crossmax:k=2 -o crossmax3.onnx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return fmt.Errorf("-o E.onnx is required")
			}
			agg, err := onnxgraph.ParseAggregation(aggregate)
			if err != nil {
				return fmt.Errorf("--aggregate: %w", err)
			}
			if err := atomicfile.CheckOutputs([]string{to}, members); err != nil {
				return err
			}
			e, err := defenses.NewEnsemble(members, agg)
			if err != nil {
				return err
			}
			if err := atomicfile.Write(to, e.ONNX); err != nil {
				return err
			}
			out := struct {
				Output      provenance.File   `json:"output"`
				Members     []provenance.File `json:"members"`
				Aggregation string            `json:"aggregation"`
				Parameters  int               `json:"parameters"`
			}{provenance.Of(to, e.ONNX), e.Members, agg.String(), e.Model.NumParams()}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			for i, m := range e.Members {
				fmt.Fprintf(w, "member %d   %s (sha256 %.12s)\n", i, m.Path, m.SHA256)
			}
			fmt.Fprintf(w, "aggregate  %s\nwrote      %s (%d bytes, %d parameters, sha256 %.12s)\n", agg, to, len(e.ONNX), out.Parameters, out.Output.SHA256)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&members, "model", nil, "a member: an .onnx file or zoo:NAME (repeat)")
	fl.StringVar(&aggregate, "aggregate", "mean-logits", "mean-logits, mean-softmax, log-mean-softmax, crossmax[:k=K] or crossmax-median")
	fl.StringVarP(&to, "output", "o", "", "the ensemble's ONNX file")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
