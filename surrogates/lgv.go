package surrogates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/train"
)

// LGV collects a Large Geometric Vicinity set (Gubri et al., ECCV 2022):
// starting from a trained model, SGD at a constant high learning rate for
// Epochs epochs, saving a copy PerEpoch times per epoch — after the steps
// that end each of PerEpoch near-equal parts of the epoch — for
// Epochs×PerEpoch files. Use DefaultLGV for the paper's settings.
type LGV struct {
	Epochs      int     // reference: 10
	PerEpoch    int     // copies per epoch; reference: 4
	LR          float64 // constant learning rate; reference: 0.05
	Momentum    float64 // reference: 0.9
	WeightDecay float64 // reference: 1e-4
	Batch       int
	Seed        uint64
}

// DefaultLGV has the reference settings: 10 epochs, 4 copies per epoch
// (40 models), learning rate 0.05, momentum 0.9, weight decay 1e-4,
// batch 64 (the reference's ImageNet batch is 256).
func DefaultLGV() LGV {
	return LGV{Epochs: 10, PerEpoch: 4, LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, Batch: 64}
}

// LGVSchedule is the schedule as the manifest records it.
type LGVSchedule struct {
	Epochs          int     `json:"epochs"`
	PerEpoch        int     `json:"per_epoch"`
	LR              float64 `json:"lr"`
	Momentum        float64 `json:"momentum"`
	WeightDecay     float64 `json:"weight_decay"`
	Batch           int     `json:"batch"`
	BatchesPerEpoch int     `json:"batches_per_epoch"`
}

// Validate reports the first problem with the parameters.
func (l *LGV) Validate() error {
	switch {
	case l.Epochs < 1:
		return fmt.Errorf("lgv: epochs %d must be >= 1", l.Epochs)
	case l.PerEpoch < 1:
		return fmt.Errorf("lgv: copies per epoch %d must be >= 1", l.PerEpoch)
	case !(l.LR > 0) || math.IsInf(l.LR, 0):
		return fmt.Errorf("lgv: learning rate %v must be > 0", l.LR)
	case !(l.Momentum >= 0 && l.Momentum < 1):
		return fmt.Errorf("lgv: momentum %v must be in [0, 1)", l.Momentum)
	case !(l.WeightDecay >= 0) || math.IsInf(l.WeightDecay, 0):
		return fmt.Errorf("lgv: weight decay %v must be >= 0", l.WeightDecay)
	case l.Batch < 1:
		return fmt.Errorf("lgv: batch %d must be >= 1", l.Batch)
	}
	return nil
}

// Samples is the number of files a run writes: Epochs×PerEpoch.
func (l *LGV) Samples() int { return l.Epochs * l.PerEpoch }

// Run continues training m (in place; it should be a trained model) on d
// and writes Epochs×PerEpoch copies, sample_XX.onnx, and set.json into
// dir. It returns the copies' paths in order. onEpoch, when set, is called
// after every epoch.
func (l LGV) Run(m *models.Model, d *datasets.Dataset, dir string, onEpoch func(EpochInfo)) ([]string, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if d == nil || d.Len() == 0 {
		return nil, errors.New("lgv: no training images")
	}
	nb := (d.Len() + l.Batch - 1) / l.Batch
	if nb < l.PerEpoch {
		return nil, fmt.Errorf("lgv: %d copies per epoch need at least as many batches per epoch, have %d (%d images, batch %d)", l.PerEpoch, nb, d.Len(), l.Batch)
	}
	base, err := prepare(m, dir)
	if err != nil {
		return nil, fmt.Errorf("lgv: %w", err)
	}
	// Fit calls OnStep before the step's weights reach m, so copies are
	// saved from a second model holding the stepped weights (and m's
	// BatchNorm statistics, which the step's forward pass has updated).
	var b bytes.Buffer
	if err := m.WriteONNX(&b); err != nil {
		return nil, fmt.Errorf("lgv: %w", err)
	}
	cp, err := models.Load(b.Bytes(), models.WithMaxTensorElements(math.MaxInt64))
	if err != nil {
		return nil, fmt.Errorf("lgv: copy the model: %w", err)
	}
	params := m.Params()
	full := make([][]float32, len(params))
	w := newWriter(dir, l.Samples())
	cfg := train.Config{
		Epochs:    l.Epochs,
		Batch:     l.Batch,
		LR:        l.LR,
		Optimizer: &train.SGD{Momentum: l.Momentum, WeightDecay: l.WeightDecay},
		Seed:      l.Seed,
		OnStep: func(step int, lr float64, values [][]float32) {
			k := step % nb
			if (k+1)*l.PerEpoch/nb == k*l.PerEpoch/nb || w.err != nil {
				return
			}
			for i, p := range params {
				full[i] = values[i]
				if p.Buffer || values[i] == nil {
					full[i], _ = m.ParamValues(p.Name)
				}
			}
			if err := cp.SetParams(full); err != nil {
				w.err = err
				return
			}
			w.save(cp, Sample{Epoch: float64(step+1) / float64(nb), Step: step + 1, LR: lr})
		},
		OnEpoch: func(st train.EpochStats) {
			if onEpoch == nil {
				return
			}
			info := EpochInfo{EpochStats: st}
			if len(w.paths) > 0 {
				info.Saved = w.paths[len(w.paths)-1]
			}
			onEpoch(info)
		},
	}
	if _, err := train.Fit(m, d, cfg); err != nil {
		return nil, fmt.Errorf("lgv: %w", err)
	}
	if w.err != nil {
		return nil, fmt.Errorf("lgv: %w", w.err)
	}
	sb, _ := json.Marshal(LGVSchedule{Epochs: l.Epochs, PerEpoch: l.PerEpoch, LR: l.LR, Momentum: l.Momentum,
		WeightDecay: l.WeightDecay, Batch: l.Batch, BatchesPerEpoch: nb})
	man := &Manifest{Method: "lgv", Mode: OnePerStep, Seed: l.Seed, BaseSHA256: base, Data: dataInfo(d), Schedule: sb}
	return w.finish(man)
}
