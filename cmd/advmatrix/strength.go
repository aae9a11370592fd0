package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/report"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
)

// strengthPlan is what --select-strength will do.
type strengthPlan struct {
	spec    attacks.Spec
	key     string // "eps" or the corruption's Extra key
	grid    []float64
	given   bool // grid from --strengths
	ssimMin float64
	// sel are the settings the selection crafts with: the user's, with the
	// strength marked as given (so that defaults derived from ε, such as
	// CWA's step sizes, follow it as they will in the run).
	sel attacks.Params
}

// strengthKey is the setting an attack's strength sets, or "" when the
// attack has none. It follows attacks.StrengthMaker.
func strengthKey(spec attacks.Spec) string {
	for _, e := range spec.Extras {
		switch e {
		case "radius", "sigma", "size", "amount":
			return e
		}
	}
	if spec.Gradient || spec.Name == "square" {
		return "eps"
	}
	return ""
}

// dumbGrid is DUMB's strength grid for an attack and image shape.
func dumbGrid(spec attacks.Spec, key string, shape []int) []float64 {
	switch key {
	case "radius":
		return attacks.BoxBlurGrid()
	case "sigma":
		return attacks.GaussNoiseGrid()
	case "amount":
		return attacks.SaltPepperGrid()
	case "size":
		return attacks.BlackBoxGrid(min(shape[len(shape)-2], shape[len(shape)-1]))
	}
	if spec.Name == "square" {
		return attacks.SquareEpsGrid()
	}
	return attacks.EpsGrid()
}

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

// planStrength checks the --select-strength flags before anything is
// loaded; it returns nil when no selection was asked for.
func planStrength(cmd *cobra.Command, f *attackFlags, spec attacks.Spec, user attacks.Params, mode string) (*strengthPlan, error) {
	fl := cmd.Flags()
	if !f.selectStrength {
		for _, name := range []string{"strengths", "ssim-min"} {
			if fl.Changed(name) {
				return nil, fmt.Errorf("--%s goes with --select-strength", name)
			}
		}
		return nil, nil
	}
	key := strengthKey(spec)
	if key == "" {
		return nil, fmt.Errorf("--select-strength: attack %s has no strength to select", spec.Name)
	}
	if user.Has(key) {
		if key == "eps" {
			return nil, fmt.Errorf("--select-strength chooses eps: do not give --eps as well")
		}
		return nil, fmt.Errorf("--select-strength chooses %s: do not give --param %s as well", key, key)
	}
	if mode != "none" {
		return nil, fmt.Errorf("--select-strength measures the untargeted ASR (DUMB's); it does not go with --targeted %s", mode)
	}
	if math.IsNaN(f.ssimMin) || f.ssimMin < -1 || f.ssimMin >= 1 {
		return nil, fmt.Errorf("--ssim-min %v must be in [-1, 1)", f.ssimMin)
	}
	p := &strengthPlan{spec: spec, key: key, ssimMin: f.ssimMin}
	if fl.Changed("strengths") {
		g, err := parseStrengths(f.strengths)
		if err != nil {
			return nil, err
		}
		p.grid, p.given = g, true
	}
	p.sel = user
	p.sel.Set = map[string]bool{key: true}
	for k, v := range user.Set {
		p.sel.Set[k] = v
	}
	return p, nil
}

// prepare fills in DUMB's grid for the image shape and checks that the
// attack can be made at every strength, before any data is read.
func (p *strengthPlan) prepare(spec attacks.Spec, shape []int) error {
	if p.grid == nil {
		p.grid = dumbGrid(spec, p.key, shape)
	}
	mk, err := attacks.StrengthMaker(spec.Name, p.sel, shape)
	if err != nil {
		return err
	}
	for _, s := range p.grid {
		if _, err := mk(s); err != nil {
			if p.given {
				return fmt.Errorf("--strengths: %s=%v: %w", p.key, s, err)
			}
			return fmt.Errorf("--select-strength: %s=%v: %w", p.key, s, err)
		}
	}
	return nil
}

// run is the selection on one surrogate: every strength crafted in the
// run's batches with the run's seeds (batch b gets seed + b).
func (p *strengthPlan) run(surr loaded, x []float32, labels []int, batch int, seed uint64) (float64, *report.StrengthSelection, error) {
	t0 := time.Now()
	shape := surr.m.InputShape()
	n := len(labels)
	size := len(x) / max(n, 1)
	makers := make([]func(float64) (attacks.Attack, error), (n+batch-1)/batch)
	for b := range makers {
		q := p.sel
		q.Seed = seed + uint64(b)
		mk, err := attacks.StrengthMaker(p.spec.Name, q, shape)
		if err != nil {
			return 0, nil, err
		}
		makers[b] = mk
	}
	counted := attacks.Count(surr.m)
	cls := counted.Classifier()
	mk := func(s float64) (attacks.Attack, error) {
		ba := &batchedAttack{cls: cls, batch: batch, size: size}
		for _, m := range makers {
			a, err := m(s)
			if err != nil {
				return nil, err
			}
			ba.atks = append(ba.atks, a)
		}
		return ba, nil
	}
	surrogate := chunkedLogits{Classifier: cls, batch: batch, size: size}
	best, table, err := attacks.SelectStrength(mk, p.grid, surrogate, x, labels, p.ssimMin)
	if err != nil {
		qualifies := false
		for _, r := range table {
			qualifies = qualifies || r.Qualifies
		}
		if len(table) == len(p.grid) && len(table) > 0 && !qualifies {
			top := table[0]
			for _, r := range table[1:] {
				if r.SSIM > top.SSIM {
					top = r
				}
			}
			return 0, nil, fmt.Errorf("--select-strength: no strength keeps the mean SSIM on surrogate 0 above --ssim-min %g; the best SSIM seen is %.4f (%s=%g); try smaller --strengths or a lower --ssim-min",
				p.ssimMin, top.SSIM, p.key, top.Strength)
		}
		return 0, nil, fmt.Errorf("--select-strength on surrogate 0 (%s): %w", surr.ref.Path, err)
	}
	rec := &report.StrengthSelection{
		Surrogate: surr.ref, Param: p.key, SSIMMin: p.ssimMin, Grid: p.grid, GridGiven: p.given, Chosen: best,
		SurrogateForwardEvals: counted.Forwards(), SurrogateGradEvals: counted.Grads(),
	}
	for _, r := range table {
		rec.Table = append(rec.Table, report.StrengthRow{Strength: r.Strength, ASR: r.ASR, Fooled: r.Fooled,
			Correct: r.Correct, SSIM: r.SSIM, Qualifies: r.Qualifies})
	}
	rec.Seconds = time.Since(t0).Seconds()
	return best, rec, nil
}

// batchedAttack crafts the images in the run's batches, batch b with its
// own attack (made with seed + b), on the selection's surrogate: the one
// SelectStrength hands over is the chunkedLogits view of it.
type batchedAttack struct {
	atks        []attacks.Attack
	cls         models.Classifier
	batch, size int
}

func (a *batchedAttack) Craft(_ []models.Classifier, x []float32, y []int) ([]float32, error) {
	n := len(y)
	if len(x) != n*a.size || (n+a.batch-1)/a.batch != len(a.atks) {
		return nil, fmt.Errorf("internal error: %d values for %d images in %d batches", len(x), n, len(a.atks))
	}
	adv := make([]float32, len(x))
	ms := []models.Classifier{a.cls}
	for b, i := 0, 0; i < n; b, i = b+1, i+a.batch {
		j := min(n, i+a.batch)
		out, err := a.atks[b].Craft(ms, x[i*a.size:j*a.size], y[i:j])
		if err != nil {
			return nil, fmt.Errorf("images %d-%d: %w", i, j-1, err)
		}
		if len(out) != (j-i)*a.size {
			return nil, fmt.Errorf("internal error: %d values for %d images", len(out), j-i)
		}
		copy(adv[i*a.size:], out)
	}
	return adv, nil
}

// chunkedLogits evaluates Logits in batches, so that SelectStrength's
// passes over all the images stay within --batch.
type chunkedLogits struct {
	models.Classifier
	batch, size int
}

func (c chunkedLogits) Logits(dst, x []float32) error {
	n, k := len(x)/c.size, c.NumClasses()
	for i := 0; i < n; i += c.batch {
		j := min(n, i+c.batch)
		if err := c.Classifier.Logits(dst[i*k:j*k], x[i*c.size:j*c.size]); err != nil {
			return err
		}
	}
	return nil
}

// printSelection prints the strength table of --select-strength.
func printSelection(w io.Writer, s *report.StrengthSelection) error {
	source := fmt.Sprintf("DUMB's grid of %d", len(s.Grid))
	if s.GridGiven {
		source = fmt.Sprintf("--strengths, %d", len(s.Grid))
	}
	fmt.Fprintf(w, "strength    %s=%g chosen by --select-strength on %s (%s): highest ASR with mean SSIM > %g\n",
		s.Param, s.Chosen, s.Surrogate.Path, source, s.SSIMMin)
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header(s.Param, "ASR", "fooled", "SSIM", "> "+strconv.FormatFloat(s.SSIMMin, 'g', -1, 64), "")
	for _, r := range s.Table {
		q, mark := "no", ""
		if r.Qualifies {
			q = "yes"
		}
		if r.Strength == s.Chosen {
			mark = "chosen"
		}
		if err := t.Append(strconv.FormatFloat(r.Strength, 'g', -1, 64), pct(r.ASR), fmt.Sprintf("%d/%d", r.Fooled, r.Correct),
			fmt.Sprintf("%.4f", r.SSIM), q, mark); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintf(w, "            selection: %d forward, %d gradient evaluations (images), %.2f s, not counted below\n",
		s.SurrogateForwardEvals, s.SurrogateGradEvals, s.Seconds)
	return nil
}
