package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/advmatrix/advmatrix/report"
)

type gateFlags struct {
	policy, baseline, junit string
	asJSON                  bool
}

func newGateCmd() *cobra.Command {
	var f gateFlags
	cmd := &cobra.Command{
		Use:   "gate RESULTS.json --policy POLICY.yaml",
		Short: "Judge a scenario run's results by a policy: exit 1 when a rule fails",
		Long: `gate checks the results of advmatrix run against the rules of a policy file
and exits 0 when every rule holds, 1 when one fails, 2 when the policy or the
results are unusable. A rule names a metric (asr_all, asr_on_correct,
asr_ratio, clean_accuracy, adv_accuracy, excess), which pairs it covers
(where: case, attack, victim, surrogate, eps, tag, white_box), a max or a min,
and whether the limit holds per pair, per case, per victim or over all pairs
pooled. By default a limit is judged on the 95% interval: a max rule fails only
when even the interval's lower bound is above it, so that sampling noise
neither fails a good model nor lets a clear violation through
(judge: estimate compares the rate itself).

With --baseline, regression rules compare each victim with the baseline's on
the same adversarial examples, image by image, with an exact McNemar test;
the results must come from the same attackers, data, settings and advmatrix
version (checked by the examples' sha256), or the comparison is refused.

--junit writes JUnit XML (one test case per rule and group). Under GitHub
Actions (GITHUB_ACTIONS=true) failing rules are also printed as ::error::
annotations and a Markdown summary is appended to $GITHUB_STEP_SUMMARY.
docs/gate.md explains the statistics.`,
		Example: `  advmatrix gate results/results.json --policy examples/gate.yaml
  advmatrix gate new/results.json --policy gate.yaml --baseline old/results.json --junit gate.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.policy == "" {
				return fmt.Errorf("--policy POLICY.yaml is required")
			}
			if err := checkOutputDir(f.junit); err != nil {
				return err
			}
			policy, err := report.ReadPolicy(f.policy)
			if err != nil {
				return err
			}
			res, err := readScenarioResult(args[0])
			if err != nil {
				return err
			}
			var base *report.ScenarioResult
			if f.baseline != "" {
				if base, err = readScenarioResult(f.baseline); err != nil {
					return fmt.Errorf("--baseline: %w", err)
				}
			}
			g, err := report.Gate(policy, res, base)
			if err != nil {
				return err
			}
			g.Policy, g.Results, g.Baseline = f.policy, args[0], f.baseline
			return gateOutputs(cmd, g, f.junit, f.asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "policy", "", "the policy file (rules; see docs/gate.md)")
	fl.StringVar(&f.baseline, "baseline", "", "an earlier results.json for regression rules")
	fl.StringVar(&f.junit, "junit", "", "also write the verdict as JUnit XML to this file")
	fl.BoolVar(&f.asJSON, "json", false, "print the verdict as JSON")
	return cmd
}

// gateOutputs prints a verdict, writes JUnit and GitHub's summary, and
// turns a failed gate into exit code 1.
func gateOutputs(cmd *cobra.Command, g *report.GateResult, junit string, asJSON bool) error {
	w := cmd.OutOrStdout()
	if junit != "" {
		var buf bytes.Buffer
		if err := report.WriteJUnit(&buf, g); err != nil {
			return err
		}
		if err := writeFilesAtomic([]pendingFile{{junit, buf.Bytes()}}); err != nil {
			return err
		}
	}
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		report.WriteGitHubAnnotations(w, g)
		if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
			if err := appendGitHubSummary(path, g); err != nil {
				return err
			}
		}
	}
	if asJSON {
		if err := writeJSON(w, g); err != nil {
			return err
		}
	} else if err := report.WriteGateText(w, g); err != nil {
		return err
	}
	if !g.Passed {
		return &exitError{code: exitGate, err: fmt.Errorf("gate failed: %d of %d rules", failedRules(g), len(g.Rules))}
	}
	return nil
}

func failedRules(g *report.GateResult) int {
	n := 0
	for _, r := range g.Rules {
		if !r.Passed {
			n++
		}
	}
	return n
}

// appendGitHubSummary adds the verdict in Markdown to the job's summary
// file, which GitHub appends to, not replaces.
func appendGitHubSummary(path string, g *report.GateResult) error {
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
	}
	if err := report.WriteGateMarkdown(fh, g); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
