package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/scenarios"
	"github.com/spf13/cobra"
)

// parseStrengths reads --strengths a,b,c.
func parseStrengths(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--strengths is empty: give comma-separated numbers such as 0.05,0.1,0.3")
	}
	var out []float64
	seen := map[float64]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		v, err := strconv.ParseFloat(part, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--strengths %q: %q is not a finite number", s, part)
		}
		if v < 0 {
			return nil, fmt.Errorf("--strengths %q: %v is negative", s, v)
		}
		if seen[v] {
			return nil, fmt.Errorf("--strengths %q: %v is given twice", s, v)
		}
		seen[v] = true
		out = append(out, v)
	}
	return out, nil
}

// strengthPlan checks the --select-strength flags before anything is
// loaded; it returns nil when no selection was asked for.
func strengthPlan(cmd *cobra.Command, f *attackFlags, spec attacks.Spec, user attacks.Params, mode attacks.TargetMode) (*scenarios.StrengthPlan, error) {
	fl := cmd.Flags()
	if !f.selectStrength {
		for _, name := range []string{"strengths", "ssim-min"} {
			if fl.Changed(name) {
				return nil, fmt.Errorf("--%s goes with --select-strength", name)
			}
		}
		return nil, nil
	}
	if spec.Strength == nil {
		return nil, fmt.Errorf("--select-strength: attack %s has no strength to select", spec.Name)
	}
	if err := spec.CheckSurrogates(1); err != nil {
		return nil, fmt.Errorf("--select-strength crafts on the first surrogate alone: %w", err)
	}
	key := spec.Strength.Key
	if user.Has(key) {
		if key == "eps" {
			return nil, fmt.Errorf("--select-strength chooses eps: do not give --eps as well")
		}
		return nil, fmt.Errorf("--select-strength chooses %s: do not give --param %s as well", key, key)
	}
	if mode != attacks.Untargeted {
		return nil, fmt.Errorf("--select-strength measures the untargeted ASR (DUMB's); it does not go with --targeted %s", mode)
	}
	if math.IsNaN(f.ssimMin) || f.ssimMin < -1 || f.ssimMin >= 1 {
		return nil, fmt.Errorf("--ssim-min %v must be in [-1, 1)", f.ssimMin)
	}
	p := &scenarios.StrengthPlan{Key: key, SSIMMin: f.ssimMin}
	if fl.Changed("strengths") {
		g, err := parseStrengths(f.strengths)
		if err != nil {
			return nil, err
		}
		p.Grid, p.GridGiven = g, true
	}
	return p, nil
}

// strengthFlag is the flag a bad strength came from.
func strengthFlag(p *scenarios.StrengthPlan) string {
	if p.GridGiven {
		return "--strengths"
	}
	return "--select-strength"
}
