package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
)

// Config is a training run.
type Config struct {
	Epochs    int
	Batch     int
	LR        float64
	Schedule  Schedule  // nil: Constant(LR)
	Optimizer Optimizer // nil: SGD with momentum 0.9
	Seed      uint64

	// Augmentation, per image: a random crop after zero-padding by CropPad
	// pixels (a translation), and a random rotation within ±RotateDeg and
	// scaling within 1±Scale (bilinear, zero fill).
	CropPad   int
	RotateDeg float64
	Scale     float64

	// ValFraction of the training images (a seeded draw) is held out;
	// training stops after Patience epochs without a better validation
	// accuracy, restoring the best weights (Patience 0: never stop early).
	ValFraction float64
	Patience    int

	// CheckpointDir, when set, receives the model after every epoch as
	// epoch_NNN.onnx (written atomically).
	CheckpointDir string

	// OnEpoch, when set, is called after every epoch. Progress, when set,
	// is called after every batch with images done and total this epoch.
	OnEpoch  func(EpochStats)
	Progress func(done, total int)

	// OnStep, when set, is called after every optimizer step with the
	// step number, the learning rate used and the new weights, before they
	// reach the model: cSGLD adds noise here, pruning re-applies its mask.
	OnStep func(step int, lr float64, params [][]float32)

	// Inputs, when set, replaces each batch's images (after augmentation)
	// before the step: adversarial fine-tuning crafts examples here,
	// DVERGE distils features. It must return as many values as x has.
	Inputs func(step int, x []float32, y []int) ([]float32, error)
	// Loss, when set, replaces the batch-mean cross-entropy: it fills dz
	// with ∂L/∂z for the logits z and returns the loss and the number of
	// images classified correctly.
	Loss func(dz, z []float32, y []int) (loss float64, correct int)
}

// Trainable is what Fit needs of a model: a classifier whose weights it
// can read, differentiate in training mode and replace. *models.Model is
// one; a model that can also SaveFile can be checkpointed.
type Trainable interface {
	models.Classifier
	Params() []models.Param
	ParamValues(name string) ([]float32, error)
	SetParams(values [][]float32) error
	TrainGrads(x []float32, rngSeed uint64, cotangent func(z, dz []float32)) ([][]float32, error)
}

// saver is a Trainable that can be checkpointed.
type saver interface {
	SaveFile(path string) error
}

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch         int     `json:"epoch"`
	TrainLoss     float64 `json:"train_loss"`
	TrainAccuracy float64 `json:"train_accuracy"`
	ValAccuracy   float64 `json:"val_accuracy,omitempty"`
	LR            float64 `json:"lr"`
	Seconds       float64 `json:"seconds"`
	ImagesPerSec  float64 `json:"images_per_second"`
	BestSoFar     bool    `json:"best_so_far,omitempty"`
	StoppedEarly  bool    `json:"stopped_early,omitempty"`
}

// Result is what Fit reports.
type Result struct {
	Epochs    []EpochStats `json:"epochs"`
	Steps     int          `json:"steps"`
	BestEpoch int          `json:"best_epoch"`
	TrainN    int          `json:"train_images"`
	ValN      int          `json:"val_images"`
}

func (c *Config) validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs %d must be >= 1", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("batch %d must be >= 1", c.Batch)
	case !(c.LR > 0) && c.Schedule == nil:
		return fmt.Errorf("learning rate %v must be > 0", c.LR)
	case c.ValFraction < 0 || c.ValFraction >= 1:
		return fmt.Errorf("validation fraction %v must be in [0, 1)", c.ValFraction)
	case c.CropPad < 0 || c.RotateDeg < 0 || c.Scale < 0 || c.Scale >= 1:
		return fmt.Errorf("augmentation settings must be non-negative (scale < 1)")
	}
	return nil
}

// Fit trains m on d.
func Fit(m Trainable, d *datasets.Dataset, cfg Config) (*Result, error) {
	return FitContext(context.Background(), m, d, cfg)
}

// FitContext is Fit that stops with ctx's error, checked before every
// batch, when ctx is done (the model then holds the last step's weights).
func FitContext(ctx context.Context, m Trainable, d *datasets.Dataset, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sv, canSave := m.(saver)
	if cfg.CheckpointDir != "" && !canSave {
		return nil, fmt.Errorf("checkpoints: %T cannot be saved", m)
	}
	loss := cfg.Loss
	if loss == nil {
		loss = func(dz, z []float32, y []int) (float64, int) { return meanCrossEntropy(dz, z, y, m.NumClasses()) }
	}
	shape := m.InputShape()
	if len(shape) != 3 || [3]int{shape[0], shape[1], shape[2]} != d.Shape {
		return nil, fmt.Errorf("the model takes %v images, the data has %v", shape, d.Shape)
	}
	if d.Labels == nil {
		return nil, errors.New("training data has no labels")
	}
	// Labels index the logits: every one must be a class of the model.
	k := m.NumClasses()
	if err := d.CheckClasses(k); err != nil {
		return nil, fmt.Errorf("the model outputs %d classes: %w", k, err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x747261696e))
	trainIdx, valIdx := split(d.Len(), cfg.ValFraction, rng)
	if len(trainIdx) == 0 {
		return nil, errors.New("no training images")
	}
	opt := cfg.Optimizer
	if opt == nil {
		opt = &SGD{Momentum: 0.9}
	}
	sched := cfg.Schedule
	if sched == nil {
		sched = Constant(cfg.LR)
	}
	params := m.Params()
	values := make([][]float32, len(params))
	for i, p := range params {
		if !p.Buffer {
			values[i], _ = m.ParamValues(p.Name)
		}
	}
	res := &Result{TrainN: len(trainIdx), ValN: len(valIdx), BestEpoch: -1}
	size := d.Shape[0] * d.Shape[1] * d.Shape[2]
	x := make([]float32, cfg.Batch*size)
	aug := make([]float32, size)
	y := make([]int, cfg.Batch)
	bestAcc := -1.0
	var best [][]float32
	sinceBest := 0
	step := 0
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		start := time.Now()
		perm := make([]int, len(trainIdx))
		for i, j := range rng.Perm(len(trainIdx)) {
			perm[i] = trainIdx[j]
		}
		var lossSum float64
		correct, seen := 0, 0
		lr := 0.0
		for b := 0; b < len(perm); b += cfg.Batch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			e := min(len(perm), b+cfg.Batch)
			nb := e - b
			xb, yb := x[:nb*size], y[:nb]
			for i := 0; i < nb; i++ {
				img := xb[i*size : (i+1)*size]
				d.Image(perm[b+i], img)
				if cfg.CropPad > 0 || cfg.RotateDeg > 0 || cfg.Scale > 0 {
					augment(aug, img, d.Shape, cfg, rng)
					copy(img, aug)
				}
				yb[i] = d.Labels[perm[b+i]]
			}
			lr = sched.LR(step)
			in := xb
			if cfg.Inputs != nil {
				var err error
				if in, err = cfg.Inputs(step, xb, yb); err != nil {
					return nil, fmt.Errorf("epoch %d, batch %d: %w", epoch+1, b/cfg.Batch, err)
				}
				if len(in) != len(xb) {
					return nil, fmt.Errorf("epoch %d, batch %d: Inputs returned %d values for %d", epoch+1, b/cfg.Batch, len(in), len(xb))
				}
			}
			grads, err := m.TrainGrads(in, rng.Uint64(), func(z, dz []float32) {
				l, c := loss(dz, z, yb)
				lossSum += l * float64(nb)
				correct += c
			})
			if err != nil {
				return nil, fmt.Errorf("epoch %d, batch %d: %w", epoch+1, b/cfg.Batch, err)
			}
			for i, p := range params {
				if p.Buffer {
					grads[i] = nil
				}
			}
			opt.Step(values, grads, lr)
			if cfg.OnStep != nil {
				cfg.OnStep(step, lr, values)
			}
			if err := m.SetParams(values); err != nil {
				return nil, err
			}
			for _, v := range values {
				for _, f := range v {
					if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
						return nil, fmt.Errorf("epoch %d: training diverged (a weight became %v); lower the learning rate", epoch+1, f)
					}
				}
			}
			seen += nb
			step++
			if cfg.Progress != nil {
				cfg.Progress(seen, len(perm))
			}
		}
		st := EpochStats{Epoch: epoch + 1, TrainLoss: lossSum / float64(seen), TrainAccuracy: float64(correct) / float64(seen), LR: lr}
		st.Seconds = time.Since(start).Seconds()
		st.ImagesPerSec = float64(seen) / st.Seconds
		if len(valIdx) > 0 {
			acc, err := Accuracy(m, d, valIdx, 256)
			if err != nil {
				return nil, err
			}
			st.ValAccuracy = acc
			if acc > bestAcc {
				bestAcc, st.BestSoFar, res.BestEpoch, sinceBest = acc, true, epoch+1, 0
				if cfg.Patience > 0 {
					best = snapshot(m)
				}
			} else {
				sinceBest++
			}
		} else {
			res.BestEpoch = epoch + 1
		}
		res.Steps = step
		stop := cfg.Patience > 0 && sinceBest >= cfg.Patience
		st.StoppedEarly = stop
		res.Epochs = append(res.Epochs, st)
		if cfg.CheckpointDir != "" {
			if err := sv.SaveFile(filepath.Join(cfg.CheckpointDir, fmt.Sprintf("epoch_%03d.onnx", epoch+1))); err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
		}
		if cfg.OnEpoch != nil {
			cfg.OnEpoch(st)
		}
		if stop {
			break
		}
	}
	if best != nil && res.BestEpoch != len(res.Epochs) {
		if err := m.SetParams(best); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// snapshot copies every parameter, buffers included.
func snapshot(m Trainable) [][]float32 {
	ps := m.Params()
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i], _ = m.ParamValues(p.Name)
	}
	return out
}

// split draws a validation subset.
func split(n int, frac float64, rng *rand.Rand) (train, val []int) {
	perm := rng.Perm(n)
	nv := int(frac * float64(n))
	val = append(val, perm[:nv]...)
	train = append(train, perm[nv:]...)
	return train, val
}

// meanCrossEntropy writes the gradient of the batch-mean cross-entropy
// (PyTorch's default reduction) and returns the mean loss and the number
// of correct predictions.
func meanCrossEntropy(dz, z []float32, y []int, k int) (float64, int) {
	n := len(y)
	ce := make([]float64, n)
	if err := models.SoftmaxCrossEntropy(dz, z, y, k, 1/float64(n), ce); err != nil {
		panic(err) // labels were checked against the classes before training
	}
	var loss float64
	correct := 0
	for i, p := range metrics.Argmax(z[:n*k], k) {
		loss += ce[i]
		if p == y[i] {
			correct++
		}
	}
	return loss / float64(n), correct
}

// Accuracy evaluates m on the given images of d.
func Accuracy(m models.Classifier, d *datasets.Dataset, idx []int, batch int) (float64, error) {
	if len(idx) == 0 {
		return 0, errors.New("no images to evaluate")
	}
	k := m.NumClasses()
	size := d.Shape[0] * d.Shape[1] * d.Shape[2]
	x := make([]float32, batch*size)
	z := make([]float32, batch*k)
	correct := 0
	for b := 0; b < len(idx); b += batch {
		e := min(len(idx), b+batch)
		xb, zb := x[:(e-b)*size], z[:(e-b)*k]
		d.Batch(idx[b:e], xb)
		if err := m.Logits(zb, xb); err != nil {
			return 0, err
		}
		for i := 0; i < e-b; i++ {
			row := zb[i*k : (i+1)*k]
			p := 0
			for j := range row {
				if row[j] > row[p] {
					p = j
				}
			}
			if p == d.Labels[idx[b+i]] {
				correct++
			}
		}
	}
	return float64(correct) / float64(len(idx)), nil
}

// augment writes a randomly translated, rotated and scaled copy of one
// C×H×W image into dst (bilinear sampling, zero outside the image).
func augment(dst, src []float32, shape [3]int, cfg Config, rng *rand.Rand) {
	c, h, w := shape[0], shape[1], shape[2]
	tx := float64(rng.IntN(2*cfg.CropPad+1) - cfg.CropPad)
	ty := float64(rng.IntN(2*cfg.CropPad+1) - cfg.CropPad)
	th := (rng.Float64()*2 - 1) * cfg.RotateDeg * math.Pi / 180
	sc := 1 + (rng.Float64()*2-1)*cfg.Scale
	cos, sin := math.Cos(th)/sc, math.Sin(th)/sc
	cy, cx := float64(h-1)/2, float64(w-1)/2
	for yy := 0; yy < h; yy++ {
		for xx := 0; xx < w; xx++ {
			// Inverse map: output pixel → source coordinates.
			dy, dx := float64(yy)-cy-ty, float64(xx)-cx-tx
			sy := cos*dy - sin*dx + cy
			sx := sin*dy + cos*dx + cx
			y0, x0 := int(math.Floor(sy)), int(math.Floor(sx))
			fy, fx := float32(sy-float64(y0)), float32(sx-float64(x0))
			for ch := 0; ch < c; ch++ {
				plane := src[ch*h*w : (ch+1)*h*w]
				at := func(y, x int) float32 {
					if y < 0 || y >= h || x < 0 || x >= w {
						return 0
					}
					return plane[y*w+x]
				}
				v := (1-fy)*((1-fx)*at(y0, x0)+fx*at(y0, x0+1)) + fy*((1-fx)*at(y0+1, x0)+fx*at(y0+1, x0+1))
				dst[ch*h*w+yy*w+xx] = v
			}
		}
	}
}
