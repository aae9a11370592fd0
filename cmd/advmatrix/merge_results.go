package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/internal/safeio"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
)

func newMergeResultsCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "merge-results --out MERGED.json SHARD.json...",
		Short: "Join the results of a sharded run (run --shard I/N) into one results.json",
		Long: `merge-results reads the results.json of every shard of one scenario run (the
same scenario file, settings and build, run with --shard 0/N … N-1/N) and
writes what one unsharded run would have written: every cell once, the
per-case summary and the transfer matrices recomputed. It refuses parts of
other scenarios or settings, a shard given twice or missing, and a shard
whose run was interrupted.`,
		Example: `  advmatrix merge-results --out merged.json shard-*/results.json`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out MERGED.json is required")
			}
			if err := checkOutputDir(out); err != nil {
				return err
			}
			var parts []*report.ScenarioResult
			for _, p := range args {
				r, err := readScenarioResult(p)
				if err != nil {
					return err
				}
				parts = append(parts, r)
			}
			merged, err := scenarios.Merge(parts)
			if err != nil {
				return err
			}
			if err := writeJSONFile(out, merged); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %d parts, %d cells, into %s\n", len(parts), len(merged.Cells), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "the merged results file")
	return cmd
}

// readScenarioResult reads a results.json written by advmatrix run.
func readScenarioResult(path string) (*report.ScenarioResult, error) {
	b, err := safeio.ReadFile(path, 1<<30)
	if err != nil {
		return nil, err
	}
	var r report.ScenarioResult
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s is not a results file of advmatrix run: %v", path, err)
	}
	if r.Schema != report.SchemaVersion || r.Kind != "scenario" {
		return nil, fmt.Errorf("%s has schema %q and kind %q; want %s scenario results", path, r.Schema, r.Kind, report.SchemaVersion)
	}
	return &r, nil
}
