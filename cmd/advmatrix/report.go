package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/internal/safeio"
	"github.com/advmatrix/advmatrix/report"
)

func newReportCmd() *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "report RESULTS.json",
		Short: "Render a run's results: a table, Markdown, a self-contained HTML page, or JSON",
		Long: `report renders the results.json of advmatrix run:

  table     the per-case table for a terminal
  markdown  the per-case table and the pairs that transfer best, for a pull
            request comment or a CI summary
  html      one self-contained page (no network when viewed): transfer-matrix
            heat maps per attack and ε with each pair's DUMB case, ASR-vs-ε
            curves with 95% bands when the scenario has an ε grid, per-case
            bars with intervals beside the noise control, and the provenance
            (tool version, model and data sha256s, seeds, parameters)
  json      the results as read, re-indented

It also renders the JSON of advmatrix attack as a table (or JSON).
With -o the rendering goes to a file, written atomically; otherwise to stdout.`,
		Example: `  advmatrix report results/results.json
  advmatrix report results/results.json --format html -o report.html`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "table", "markdown", "html", "json":
			default:
				return fmt.Errorf("--format %q: want table, markdown, html or json", format)
			}
			if err := checkOutputDir(out); err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := renderResults(&buf, args[0], format); err != nil {
				return err
			}
			if out != "" {
				return writeFilesAtomic([]pendingFile{{out, buf.Bytes()}})
			}
			_, err := cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table, markdown, html or json")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// renderResults reads a results file — a scenario run's or an attack's —
// and renders it.
func renderResults(buf *bytes.Buffer, path, format string) error {
	b, err := safeio.ReadFile(path, 1<<30)
	if err != nil {
		return err
	}
	var head struct {
		Schema string `json:"schema"`
		Kind   string `json:"kind"`
		Attack string `json:"attack"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("%s is not JSON: %v", path, err)
	}
	if head.Schema != report.SchemaVersion {
		return fmt.Errorf("%s has schema %q; this advmatrix reads %s", path, head.Schema, report.SchemaVersion)
	}
	if head.Kind != "scenario" {
		if head.Attack == "" {
			return fmt.Errorf("%s is neither the results of advmatrix run nor of advmatrix attack", path)
		}
		var r report.AttackResult
		if err := strictJSON(b, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch format {
		case "json":
			return writeJSON(buf, &r)
		case "table":
			return report.WriteAttackText(buf, &r)
		}
		return fmt.Errorf("--format %s renders the results of advmatrix run; %s holds one attack (use table or json)", format, path)
	}
	r, err := readScenarioResult(path)
	if err != nil {
		return err
	}
	switch format {
	case "json":
		return writeJSON(buf, r)
	case "markdown":
		return report.WriteScenarioMarkdown(buf, r)
	case "html":
		return report.WriteScenarioHTML(buf, r)
	}
	return report.WriteScenarioText(buf, r)
}

// strictJSON decodes b into v refusing unknown fields.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
