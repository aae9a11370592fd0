package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/internal/progress"
	"github.com/advmatrix/advmatrix/internal/safeio"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
)

type runFlags struct {
	out, format, cache, shard string
	gate, junit               string
	limit                     int
	seed                      uint64
	noCache, printDefault     bool
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [SCENARIO.yaml]",
		Short: "Run a scenario matrix: every attacker against every victim, scored by DUMB case",
		Long: `run reads a scenario file — data sources, a pool of models with their source,
architecture and class balance, attackers (models, ensembles, surrogate sets),
attacks and how attackers and victims pair — and runs every cell: it crafts
adversarial examples once per attacker and attack setting, evaluates every
victim on them and on seeded random noise of the same size (the control), and
labels each pair with its DUMB case (C1 same data, balance and architecture …
C8 all differ). Without a file it runs the embedded default scenario: the
embedded digits zoo, I-FGSM and Gaussian noise with DUMB's strength selection.

It prints the per-case table and writes DIR/results.json (schema advmatrix/v1:
provenance, every cell with its victims, the per-case summary, the transfer
matrices), DIR/report.md (for a pull request) and DIR/report.html (one
self-contained page with heat maps, curves and provenance; advmatrix report
renders any results.json again). docs/scenarios.md describes the file format.

Finished work is kept in a content-addressed cache (--cache, default the user
cache folder), so an interrupted run resumes where it stopped and a repeated
run is nearly free. --shard I/N runs every N-th cell (auto/N takes I from a
Kubernetes Indexed Job's JOB_COMPLETION_INDEX); advmatrix merge-results joins
the shards' results.json into what one run writes.`,
		Example: `  advmatrix run                                  # the embedded digits scenario
  advmatrix run my-scenario.yaml --out results/
  advmatrix run --print-default > my-scenario.yaml
  advmatrix run my-scenario.yaml --shard auto/4 --out /results/shard-$JOB_COMPLETION_INDEX`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runScenario(cmd, args, &f) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.out, "out", "o", "advmatrix-results", "folder for results.json and report.md")
	fl.StringVar(&f.format, "format", "table", "what to print: table, markdown or json")
	fl.IntVar(&f.limit, "limit", 0, "images attacked per source (overrides the scenario's limit)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed (overrides the scenario's seed)")
	fl.StringVar(&f.cache, "cache", "", "cache folder (default: advmatrix under the user cache folder)")
	fl.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the cache")
	fl.StringVar(&f.shard, "shard", "", "run shard I of N (I/N, from 0) or auto/N (I from JOB_COMPLETION_INDEX)")
	fl.BoolVar(&f.printDefault, "print-default", false, "print the embedded default scenario and exit")
	fl.StringVar(&f.gate, "gate", "", "judge the results by this policy (as advmatrix gate does; exit 1 when a rule fails)")
	fl.StringVar(&f.junit, "junit", "", "with --gate, also write the verdict as JUnit XML")
	return cmd
}

func runScenario(cmd *cobra.Command, args []string, f *runFlags) error {
	if f.printDefault {
		b, _ := scenarios.Default()
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	if err := checkRunFlags(cmd, f); err != nil {
		return err
	}
	var policy *report.Policy
	if f.gate != "" {
		p, err := report.ReadPolicy(f.gate)
		if err != nil {
			return fmt.Errorf("--gate: %w", err)
		}
		policy = p
	}
	runner, err := scenarioRunner(cmd, args, f)
	if err != nil {
		return err
	}
	if err := runner.Prepare(); err != nil {
		return err
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	runner.Progress = cellProgress(len(runner.Plan.Cells), runner.Shard)
	res, err := runner.Run(cmd.Context())
	if errors.Is(err, scenarios.ErrInterrupted) {
		path := filepath.Join(f.out, "results.partial.json")
		if werr := writeJSONFile(path, res); werr != nil {
			return werr
		}
		return fmt.Errorf("%v; the finished cells are cached and in %s: run the same command again to resume", err, path)
	}
	if err != nil {
		return err
	}
	var verdict *report.GateResult
	if policy != nil {
		if verdict, err = report.Gate(policy, res, nil); err != nil {
			return fmt.Errorf("--gate: %w", err)
		}
		verdict.Policy, verdict.Results = f.gate, filepath.Join(f.out, "results.json")
	}
	if err := writeRunOutputs(cmd, res, verdict, f); err != nil {
		return err
	}
	if verdict != nil {
		return gateOutputs(cmd, verdict, f.junit, false)
	}
	return nil
}

// checkRunFlags checks what needs nothing loaded.
func checkRunFlags(cmd *cobra.Command, f *runFlags) error {
	switch f.format {
	case "table", "markdown", "json":
	default:
		return fmt.Errorf("--format %q: want table, markdown or json", f.format)
	}
	if f.limit < 0 {
		return fmt.Errorf("--limit %d is negative", f.limit)
	}
	if f.junit != "" && f.gate == "" {
		return fmt.Errorf("--junit goes with --gate")
	}
	if err := checkOutputDir(f.junit); err != nil {
		return err
	}
	if f.noCache && cmd.Flags().Changed("cache") {
		return fmt.Errorf("--cache and --no-cache contradict each other")
	}
	if st, err := os.Stat(f.out); err == nil && !st.IsDir() {
		return fmt.Errorf("--out %s is a file, not a folder", f.out)
	}
	return nil
}

// scenarioRunner reads the scenario, applies the flags' overrides and
// plans the run.
func scenarioRunner(cmd *cobra.Command, args []string, f *runFlags) (*scenarios.Runner, error) {
	data, name := scenarios.Default()
	if len(args) == 1 {
		b, err := safeio.ReadFile(args[0], scenarios.MaxFileBytes)
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		data, name = b, args[0]
	}
	file, err := scenarios.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if cmd.Flags().Changed("limit") {
		file.Limit = f.limit
	}
	if cmd.Flags().Changed("seed") {
		file.Seed = f.seed
	}
	plan, err := scenarios.NewPlan(file, name, data)
	if err != nil {
		return nil, err
	}
	r := &scenarios.Runner{Plan: plan}
	if r.Shard, err = parseShard(f.shard); err != nil {
		return nil, err
	}
	if !f.noCache {
		dir := f.cache
		if dir == "" {
			if dir, err = scenarios.DefaultCacheDir(); err != nil {
				return nil, err
			}
		}
		if r.Cache, err = scenarios.OpenCache(dir); err != nil {
			return nil, fmt.Errorf("--cache: %w", err)
		}
	}
	return r, nil
}

// parseShard reads --shard I/N or auto/N.
func parseShard(s string) (report.Shard, error) {
	if s == "" {
		return report.Shard{}, nil
	}
	i, n, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 || count > 100000 {
		return report.Shard{}, fmt.Errorf("--shard %q: want I/N with 1 ≤ N, such as 0/4, or auto/N", s)
	}
	if i == "auto" {
		i = os.Getenv("JOB_COMPLETION_INDEX")
		if i == "" {
			return report.Shard{}, fmt.Errorf("--shard auto/%d: JOB_COMPLETION_INDEX is not set (it is in a Kubernetes Indexed Job)", count)
		}
	}
	index, err := strconv.Atoi(i)
	if err != nil || index < 0 || index >= count {
		return report.Shard{}, fmt.Errorf("--shard %q: the index must be a whole number from 0 to %d", s, count-1)
	}
	return report.Shard{Index: index, Count: count}, nil
}

// cellProgress draws a bar with an ETA on a terminal, and nothing
// otherwise (logs and CI stay clean).
func cellProgress(total int, shard report.Shard) func(done, n int, cell string, cached bool) {
	if !progress.Enabled() {
		return nil
	}
	var bar *progress.Bar
	return func(done, n int, cell string, cached bool) {
		if bar == nil {
			bar = progress.New("cells", n)
		}
		bar.Set(done)
		if done == n {
			bar.Done()
		}
	}
}

// writeRunOutputs writes results.json and report.md, then prints.
func writeRunOutputs(cmd *cobra.Command, res *report.ScenarioResult, verdict *report.GateResult, f *runFlags) error {
	var md bytes.Buffer
	if err := report.WriteScenarioMarkdown(&md, res); err != nil {
		return err
	}
	if verdict != nil {
		md.WriteString("\n")
		if err := report.WriteGateMarkdown(&md, verdict); err != nil {
			return err
		}
	}
	var page bytes.Buffer
	if err := report.WriteScenarioHTML(&page, res); err != nil {
		return err
	}
	var js bytes.Buffer
	if err := writeJSONPlain(&js, res); err != nil {
		return err
	}
	if err := writeFilesAtomic([]pendingFile{{filepath.Join(f.out, "results.json"), js.Bytes()},
		{filepath.Join(f.out, "report.md"), md.Bytes()}, {filepath.Join(f.out, "report.html"), page.Bytes()}}); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	switch f.format {
	case "json":
		return writeJSON(w, res)
	case "markdown":
		_, err := w.Write(md.Bytes())
		return err
	}
	if err := report.WriteScenarioText(w, res); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote      %s, report.md and report.html\n", filepath.Join(f.out, "results.json"))
	return nil
}

// writeJSONFile writes v as indented JSON, atomically.
func writeJSONFile(path string, v any) error {
	var buf bytes.Buffer
	if err := writeJSONPlain(&buf, v); err != nil {
		return err
	}
	return writeFilesAtomic([]pendingFile{{path, buf.Bytes()}})
}
