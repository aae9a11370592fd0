package surrogates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/train"
)

// CSGLD collects posterior samples with cyclical stochastic-gradient
// Langevin dynamics as the reference code does (Gubri et al. 2022,
// sse_mcmc_train.py):
//
//	nb = batches per epoch, Kc = CycleEpochs·nb steps per cycle
//	η_k = (LR0/2)·(cos(π·(k mod Kc)/Kc) + 1)
//	θ ← SGD(θ, lr η_k, momentum 1−Alpha, weight decay WeightDecay)
//	in the last NoiseEpochs epochs of a cycle: θ += N(0, 2·Alpha·η_k)/nb
//	after each of the last Saves epochs of a cycle: save θ
//
// The noise is the reference's −η·ε/nb with ε ~ N(0, 2a/η), added to the
// trainable weights after each optimizer step (BatchNorm running
// statistics get none). With the default Alpha = 1 (momentum 0) this is
// exactly the reference's update; with Alpha < 1 the reference passes the
// noise through the momentum buffer, which this does not.
type CSGLD struct {
	Cycles      int // number of cycles (reference: 5)
	CycleEpochs int // epochs per cycle (reference: 50)
	Saves       int // samples per cycle, after its last Saves epochs (reference: 3)
	NoiseEpochs int // epochs with Langevin noise at the end of each cycle (reference: 3)

	LR0         float64 // initial learning rate η₀ of every cycle (reference: 0.5)
	WeightDecay float64 // L2 weight decay, the Gaussian prior (reference: 5e-4)
	Alpha       float64 // a: momentum is 1−a, noise variance 2a·η; 0 means 1
	Batch       int     // mini-batch size (reference: 64)
	Seed        uint64

	// OnStep, when set, is called after every step (and its noise).
	OnStep func(StepInfo)
}

// StepInfo describes one cSGLD step.
type StepInfo struct {
	Step  int // from 0 over the whole run
	Epoch int // from 0
	Cycle int // from 0
	LR    float64
	// NoiseStd is the standard deviation of the noise added to each
	// weight, 0 outside the sampling phase.
	NoiseStd float64
}

// EpochInfo describes one finished epoch of a builder.
type EpochInfo struct {
	train.EpochStats
	Cycle int  `json:"cycle"`
	Noise bool `json:"noise"`
	// Saved is the sample file written after this epoch, if any.
	Saved string `json:"saved,omitempty"`
}

// CSGLDSchedule is the schedule as the manifest records it.
type CSGLDSchedule struct {
	Cycles          int     `json:"cycles"`
	CycleEpochs     int     `json:"cycle_epochs"`
	Saves           int     `json:"saves_per_cycle"`
	NoiseEpochs     int     `json:"noise_epochs"`
	LR0             float64 `json:"lr0"`
	WeightDecay     float64 `json:"weight_decay"`
	Alpha           float64 `json:"alpha"`
	Momentum        float64 `json:"momentum"`
	Batch           int     `json:"batch"`
	BatchesPerEpoch int     `json:"batches_per_epoch"`
	CycleSteps      int     `json:"cycle_steps"`
	NoiseScale      string  `json:"noise_scale"`
}

func (c *CSGLD) alpha() float64 {
	if c.Alpha == 0 {
		return 1
	}
	return c.Alpha
}

// Validate reports the first problem with the parameters.
func (c *CSGLD) Validate() error {
	a := c.alpha()
	switch {
	case c.Cycles < 1:
		return fmt.Errorf("csgld: cycles %d must be >= 1", c.Cycles)
	case c.CycleEpochs < 1:
		return fmt.Errorf("csgld: cycle epochs %d must be >= 1", c.CycleEpochs)
	case c.Saves < 1 || c.Saves > c.CycleEpochs:
		return fmt.Errorf("csgld: saves per cycle %d must be in [1, cycle epochs %d]", c.Saves, c.CycleEpochs)
	case c.NoiseEpochs < 0 || c.NoiseEpochs > c.CycleEpochs:
		return fmt.Errorf("csgld: noise epochs %d must be in [0, cycle epochs %d]", c.NoiseEpochs, c.CycleEpochs)
	case !(c.LR0 > 0) || math.IsInf(c.LR0, 0):
		return fmt.Errorf("csgld: initial learning rate %v must be > 0", c.LR0)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("csgld: weight decay %v must be >= 0", c.WeightDecay)
	case !(a > 0 && a <= 1):
		return fmt.Errorf("csgld: alpha %v must be in (0, 1] (momentum is 1−alpha)", c.Alpha)
	case c.Batch < 1:
		return fmt.Errorf("csgld: batch %d must be >= 1", c.Batch)
	}
	return nil
}

// Samples is the number of files a run writes: Cycles×Saves.
func (c *CSGLD) Samples() int { return c.Cycles * c.Saves }

// Run trains m (in place, from its current weights) on d and writes
// Cycles×Saves samples, sample_XX.onnx, and set.json into dir (created if
// needed). It returns the sample paths in order. onEpoch, when set, is
// called after every epoch.
func (c CSGLD) Run(m *models.Model, d *datasets.Dataset, dir string, onEpoch func(EpochInfo)) ([]string, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if d == nil || d.Len() == 0 {
		return nil, errors.New("csgld: no training images")
	}
	base, err := prepare(m, dir)
	if err != nil {
		return nil, fmt.Errorf("csgld: %w", err)
	}
	a := c.alpha()
	nb := (d.Len() + c.Batch - 1) / c.Batch
	kc := c.CycleEpochs * nb
	sched := CSGLDSchedule{
		Cycles: c.Cycles, CycleEpochs: c.CycleEpochs, Saves: c.Saves, NoiseEpochs: c.NoiseEpochs,
		LR0: c.LR0, WeightDecay: c.WeightDecay, Alpha: a, Momentum: 1 - a, Batch: c.Batch,
		BatchesPerEpoch: nb, CycleSteps: kc, NoiseScale: "sqrt(2*alpha*lr)/batches_per_epoch",
	}
	params := m.Params()
	noise := rand.New(rand.NewPCG(c.Seed, 0x6373676c64)) // "csgld"
	inNoise := func(epoch int) bool { return epoch%c.CycleEpochs >= c.CycleEpochs-c.NoiseEpochs }
	lastLR, steps := 0.0, 0
	w := newWriter(dir, c.Samples())
	cfg := train.Config{
		Epochs:    c.Cycles * c.CycleEpochs,
		Batch:     c.Batch,
		LR:        c.LR0,
		Schedule:  train.Cyclical{Base: c.LR0, Cycle: kc},
		Optimizer: &train.SGD{Momentum: 1 - a, WeightDecay: c.WeightDecay},
		Seed:      c.Seed,
		OnStep: func(step int, lr float64, values [][]float32) {
			epoch := step / nb
			std := 0.0
			if inNoise(epoch) {
				std = math.Sqrt(2*a*lr) / float64(nb)
				for i, p := range params {
					if p.Buffer || values[i] == nil {
						continue
					}
					for j := range values[i] {
						values[i][j] += float32(noise.NormFloat64() * std)
					}
				}
			}
			lastLR, steps = lr, step+1
			if c.OnStep != nil {
				c.OnStep(StepInfo{Step: step, Epoch: epoch, Cycle: epoch / c.CycleEpochs, LR: lr, NoiseStd: std})
			}
		},
		OnEpoch: func(st train.EpochStats) {
			e := st.Epoch - 1
			info := EpochInfo{EpochStats: st, Cycle: e / c.CycleEpochs, Noise: inNoise(e)}
			if e%c.CycleEpochs >= c.CycleEpochs-c.Saves {
				info.Saved = w.save(m, Sample{Epoch: float64(st.Epoch), Step: steps, Cycle: info.Cycle, LR: lastLR})
			}
			if onEpoch != nil {
				onEpoch(info)
			}
		},
	}
	if _, err := train.Fit(m, d, cfg); err != nil {
		return nil, fmt.Errorf("csgld: %w", err)
	}
	if w.err != nil {
		return nil, fmt.Errorf("csgld: %w", w.err)
	}
	sb, _ := json.Marshal(sched)
	man := &Manifest{Method: "csgld", Mode: OnePerStep, Seed: c.Seed, BaseSHA256: base, Data: dataInfo(d), Schedule: sb}
	return w.finish(man)
}

// prepare creates dir and hashes the starting model.
func prepare(m *models.Model, dir string) (string, error) {
	if m == nil {
		return "", errors.New("no model")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := m.WriteONNX(&b); err != nil {
		return "", err
	}
	return sha256Hex(b.Bytes()), nil
}

func dataInfo(d *datasets.Dataset) *DataInfo {
	di := &DataInfo{Name: d.Name, Images: d.Len()}
	for _, s := range d.Sources {
		di.Sources = append(di.Sources, s)
	}
	return di
}

// writer saves numbered samples and keeps the first error (the training
// hooks cannot return one).
type writer struct {
	dir     string
	width   int
	samples []Sample
	paths   []string
	err     error
}

func newWriter(dir string, total int) *writer {
	return &writer{dir: dir, width: max(2, len(fmt.Sprint(total-1)))}
}

// save writes m as the next sample and returns its path ("" after an
// error).
func (w *writer) save(m *models.Model, s Sample) string {
	if w.err != nil {
		return ""
	}
	s.File = fmt.Sprintf("sample_%0*d.onnx", w.width, len(w.samples))
	var b bytes.Buffer
	if err := m.WriteONNX(&b); err != nil {
		w.err = err
		return ""
	}
	path := filepath.Join(w.dir, s.File)
	if err := atomicfile.Write(path, b.Bytes()); err != nil {
		w.err = err
		return ""
	}
	s.SHA256 = sha256Hex(b.Bytes())
	w.samples = append(w.samples, s)
	w.paths = append(w.paths, path)
	return path
}

func (w *writer) finish(man *Manifest) ([]string, error) {
	if w.err != nil {
		return nil, w.err
	}
	man.Samples = w.samples
	if err := WriteManifest(w.dir, man); err != nil {
		return nil, err
	}
	return w.paths, nil
}
