package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/report"
)

// StrengthPlan is DUMB's strength selection for one cell: before crafting,
// the attack is crafted on the first surrogate alone at every strength of
// Grid (on the cell's images, batches and seeds) and the cell then crafts
// with the strongest one whose mean SSIM stays above SSIMMin
// (attacks.SelectStrength).
type StrengthPlan struct {
	// Key is the setting the strength sets: "eps", or a corruption's
	// "radius", "sigma", "size" or "amount" (attacks.StrengthKey).
	Key string
	// Grid are the strengths to try; nil takes DUMB's grid for the attack
	// and image shape (attacks.StrengthGrid). GridGiven records that the
	// user chose them.
	Grid      []float64
	GridGiven bool
	SSIMMin   float64
}

// NoStrengthError says that no strength of the grid kept the mean SSIM
// above the threshold, and which came closest.
type NoStrengthError struct {
	SSIMMin  float64
	Key      string
	BestSSIM float64 // the highest mean SSIM seen
	At       float64 // the strength it was seen at
}

func (e *NoStrengthError) Error() string {
	return fmt.Sprintf("no strength keeps the mean SSIM on surrogate 0 above %g; the best SSIM seen is %.4f (%s=%g)", e.SSIMMin, e.BestSSIM, e.Key, e.At)
}

// selection are the settings a selection crafts with: the user's, with
// the strength marked as given (so that defaults derived from ε, such as
// CWA's step sizes, follow it as they will in the run).
func (p *StrengthPlan) selection(user attacks.Params) attacks.Params {
	sel := user
	sel.Set = map[string]bool{p.Key: true}
	for k, v := range user.Set {
		sel.Set[k] = v
	}
	return sel
}

// prepare fills in DUMB's grid for the image shape and checks that the
// attack can be made at every strength, before any data is read.
func (p *StrengthPlan) prepare(spec attacks.Spec, user attacks.Params, shape []int) error {
	if p.Grid == nil {
		p.Grid = attacks.StrengthGrid(spec, shape)
	}
	mk, err := attacks.StrengthMaker(spec.Name, p.selection(user), shape)
	if err != nil {
		return err
	}
	for _, s := range p.Grid {
		if _, err := mk(s); err != nil {
			return fmt.Errorf("%s=%v: %w", p.Key, s, err)
		}
	}
	return nil
}

// run is the selection on the first surrogate, counted apart from the
// cell's own evaluations.
func (p *StrengthPlan) run(ctx context.Context, spec attacks.Spec, user attacks.Params, surr Model, b attacks.Batch, batch int) (float64, *report.StrengthSelection, error) {
	t0 := time.Now()
	mk, err := attacks.StrengthMaker(spec.Name, p.selection(user), surr.InputShape())
	if err != nil {
		return 0, nil, err
	}
	counted := attacks.Count(surr.Classifier)
	best, table, err := attacks.SelectStrength(ctx, mk, p.Grid, counted.Classifier(), b, batch, p.SSIMMin)
	if err != nil {
		qualifies := false
		for _, r := range table {
			qualifies = qualifies || r.Qualifies
		}
		if len(table) == len(p.Grid) && len(table) > 0 && !qualifies {
			top := table[0]
			for _, r := range table[1:] {
				if r.SSIM > top.SSIM {
					top = r
				}
			}
			return 0, nil, &NoStrengthError{SSIMMin: p.SSIMMin, Key: p.Key, BestSSIM: top.SSIM, At: top.Strength}
		}
		return 0, nil, fmt.Errorf("strength selection on surrogate 0 (%s): %w", surr.Ref.Path, err)
	}
	rec := &report.StrengthSelection{
		Surrogate: surr.Ref, Param: p.Key, SSIMMin: p.SSIMMin, Grid: p.Grid, GridGiven: p.GridGiven, Chosen: best,
		SurrogateForwardEvals: counted.Forwards(), SurrogateGradEvals: counted.Grads(),
	}
	for _, r := range table {
		rec.Table = append(rec.Table, report.StrengthRow{Strength: r.Strength, ASR: r.ASR, Fooled: r.Fooled,
			Correct: r.Correct, SSIM: r.SSIM, Qualifies: r.Qualifies})
	}
	rec.Seconds = time.Since(t0).Seconds()
	return best, rec, nil
}
