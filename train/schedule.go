package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate for a step (counted from 0 over the
// whole run).
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant float64

func (c Constant) LR(int) float64 { return float64(c) }

// StepDecay multiplies the rate by Gamma every Every steps.
type StepDecay struct {
	Base, Gamma float64
	Every       int
}

func (s StepDecay) LR(step int) float64 {
	return s.Base * math.Pow(s.Gamma, float64(step/max(1, s.Every)))
}

// Cosine anneals from Base to Min over Total steps (no restarts).
type Cosine struct {
	Base, Min float64
	Total     int
}

func (c Cosine) LR(step int) float64 {
	f := min(1, float64(step)/float64(max(1, c.Total)))
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*f))/2
}

// Cyclical is cSGLD's cyclical cosine schedule (Zhang et al. 2020): the
// rate restarts at Base every Cycle steps and decays to 0 within each
// cycle: Base/2·(cos(π·(step mod Cycle)/Cycle) + 1).
type Cyclical struct {
	Base  float64
	Cycle int
}

func (c Cyclical) LR(step int) float64 {
	r := float64(step%max(1, c.Cycle)) / float64(max(1, c.Cycle))
	return c.Base / 2 * (math.Cos(math.Pi*r) + 1)
}

// ParseSchedule makes a schedule by name for a run of total steps.
func ParseSchedule(name string, base float64, total, stepsPerEpoch int) (Schedule, error) {
	switch name {
	case "constant", "":
		return Constant(base), nil
	case "step":
		// ×0.1 every third of the run.
		return StepDecay{Base: base, Gamma: 0.1, Every: max(1, total/3)}, nil
	case "cosine":
		return Cosine{Base: base, Total: total}, nil
	case "cyclical":
		return Cyclical{Base: base, Cycle: max(1, stepsPerEpoch)}, nil
	}
	return nil, fmt.Errorf("unknown schedule %q (want constant, step, cosine or cyclical)", name)
}
