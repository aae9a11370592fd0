package main

import (
	"fmt"
	"strings"

	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/scenarios"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
)

func newInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Describe an ONNX model and whether advmatrix can run it",
		Long: `inspect prints a model's opset, inputs and outputs, op types with counts and
whether advmatrix implements each, and its parameter count. MODEL is a path to an
.onnx file or zoo:NAME. It exits with code 2 when the model cannot be run, after
saying why.`,
		Example: `  advmatrix inspect model.onnx
  advmatrix inspect --json zoo:lenet-mnist`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in *models.Inspection
			if strings.HasPrefix(args[0], "zoo:") {
				b, _, err := scenarios.ReadModel(args[0])
				if err != nil {
					return err
				}
				if in, err = models.Inspect(b); err != nil {
					return fmt.Errorf("inspect %s: %w", args[0], err)
				}
			} else {
				// From the file, so that external data beside it is read.
				var err error
				if in, err = models.InspectFile(args[0]); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := writeJSON(out, in); err != nil {
					return err
				}
			} else if err := printInspection(cmd, args[0], in); err != nil {
				return err
			}
			if !in.Runnable {
				return &exitError{code: exitInput, err: fmt.Errorf("%s cannot be run: %s", args[0], in.Problem)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printInspection(cmd *cobra.Command, name string, in *models.Inspection) error {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "model      %s\n", name)
	fmt.Fprintf(w, "ir         %d\n", in.IRVersion)
	fmt.Fprintf(w, "opsets     %s\n", strings.Join(in.Opsets, ", "))
	if in.Producer != "" {
		fmt.Fprintf(w, "producer   %s\n", in.Producer)
	}
	for _, t := range in.Inputs {
		fmt.Fprintf(w, "input      %s %s [%s]\n", t.Name, t.Type, strings.Join(t.Shape, " "))
	}
	for _, t := range in.Outputs {
		fmt.Fprintf(w, "output     %s %s [%s]\n", t.Name, t.Type, strings.Join(t.Shape, " "))
	}
	fmt.Fprintf(w, "nodes      %d\n", in.Nodes)
	if in.Runnable {
		fmt.Fprintf(w, "parameters %d in %d initializers\n", in.Parameters, in.Initializers)
		fmt.Fprintf(w, "classes    %d\n", in.Classes)
		fmt.Fprintf(w, "status     runnable\n")
	} else {
		fmt.Fprintf(w, "status     NOT runnable: %s\n", in.Problem)
	}
	fmt.Fprintln(w)
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignLeft))
	t.Header("op", "count", "supported")
	for _, op := range in.Ops {
		s := "yes"
		if !op.Supported {
			s = "NO"
		}
		if err := t.Append(op.Op, fmt.Sprint(op.Count), s); err != nil {
			return err
		}
	}
	return t.Render()
}
