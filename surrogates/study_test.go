package surrogates

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/train"
)

// TestCSGLDTransferStudy is a measurement, not a check: LeNet cSGLD
// samples against one LeNet trained as long, as I-FGSM surrogates for
// independent victims (a ResNet-8 trained here, and the PyTorch
// ResNet-18 fixture), on MNIST test images. Run it with
//
//	ADVMATRIX_STUDY=1 go test -run TransferStudy -v -timeout 40m ./surrogates
//
// Knobs: ADVMATRIX_STUDY_N (images, default 500), ADVMATRIX_STUDY_LR0
// (cSGLD η₀, default 0.2), ADVMATRIX_STUDY_DIR (keep the trained models
// there and reuse them on the next run).
func TestCSGLDTransferStudy(t *testing.T) {
	if os.Getenv("ADVMATRIX_STUDY") == "" {
		t.Skip("set ADVMATRIX_STUDY=1 to run the cSGLD transfer study")
	}
	n := envInt("ADVMATRIX_STUDY_N", 500)
	lr0 := 0.2
	if v, err := strconv.ParseFloat(os.Getenv("ADVMATRIX_STUDY_LR0"), 64); err == nil {
		lr0 = v
	}
	dir := os.Getenv("ADVMATRIX_STUDY_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	tr, err := datasets.MNIST("train")
	if err != nil {
		t.Fatal(err)
	}
	te, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int, te.Len())
	for i := range all {
		all[i] = i
	}
	acc := func(m models.Classifier) float64 {
		a, err := train.Accuracy(m, te, all, 500)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	var lines []string
	logf := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		t.Log(s)
		lines = append(lines, s)
	}
	progress := func(label string) func(EpochInfo) {
		return func(e EpochInfo) {
			t.Logf("%s epoch %d: loss %.4f, train acc %.2f%%, lr %.4f, %.0f s, saved %q", label, e.Epoch, e.TrainLoss, 100*e.TrainAccuracy, e.LR, e.Seconds, filepath.Base(e.Saved))
		}
	}

	// 1. cSGLD: 3 cycles × 2 epochs, noise in the last epoch, 2 saves per
	// cycle → 6 samples.
	cs := CSGLD{Cycles: 3, CycleEpochs: 2, Saves: 2, NoiseEpochs: 1, LR0: lr0, WeightDecay: 5e-4, Batch: 64, Seed: 1}
	setDir := filepath.Join(dir, "csgld")
	if _, err := os.Stat(filepath.Join(setDir, ManifestName)); err != nil {
		start := time.Now()
		m, err := arch.Build("lenet", []int{1, 28, 28}, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.Run(m, tr, setDir, progress("csgld")); err != nil {
			t.Fatal(err)
		}
		t.Logf("cSGLD: %.0f s", time.Since(start).Seconds())
	}
	_, samples, err := LoadSet(setDir)
	if err != nil {
		t.Fatal(err)
	}
	// 2. One LeNet, as many epochs, SGD μ 0.9 with a cosine schedule.
	epochs := cs.Cycles * cs.CycleEpochs
	plain := trained(t, filepath.Join(dir, "lenet.onnx"), "lenet", 2, tr, train.Config{Epochs: epochs, Batch: 64, LR: 0.05,
		Schedule: train.Cosine{Base: 0.05, Total: epochs * 938}, Optimizer: &train.SGD{Momentum: 0.9, WeightDecay: 5e-4}, Seed: 2})
	// 3. Victims: an independently trained ResNet-8 and the PyTorch
	// ResNet-18 fixture.
	resnet8 := trained(t, filepath.Join(dir, "resnet8.onnx"), "resnet", 3, tr, train.Config{Epochs: 1, Batch: 64, LR: 0.05,
		Optimizer: &train.SGD{Momentum: 0.9, WeightDecay: 5e-4}, Seed: 3})
	resnet18, err := models.LoadFile("../testdata/torch/resnet18_op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	logf("cSGLD %d cycles × %d epochs, η₀ %g, batch 64, wd 5e-4, noise in the last %d epoch, %d saves/cycle → %d samples",
		cs.Cycles, cs.CycleEpochs, lr0, cs.NoiseEpochs, cs.Saves, len(samples))
	var accs []string
	for _, s := range samples {
		accs = append(accs, fmt.Sprintf("%.2f", 100*acc(s)))
	}
	logf("MNIST test accuracy (10k): cSGLD samples %s%%; plain LeNet (%d epochs) %.2f%%; victims ResNet-8 %.2f%%, ResNet-18 fixture %.2f%%",
		strings.Join(accs, " "), epochs, 100*acc(plain), 100*acc(resnet8), 100*acc(resnet18))

	idx := all[:n]
	x := make([]float32, n*784)
	te.Batch(idx, x)
	y := te.Labels[:n]
	victims := []struct {
		name string
		m    models.Classifier
	}{{"ResNet-8", resnet8}, {"ResNet-18", resnet18}}
	correct := make([][]bool, len(victims))
	for v, vic := range victims {
		correct[v] = predictCorrect(t, vic.m, x, y)
	}
	logf("%d test images; success = 1 − victim accuracy on x_adv over the images the victim classifies correctly (%d and %d)",
		n, count(correct[0]), count(correct[1]))
	logf("%-30s %5s %10s %10s %8s", "surrogate (I-FGSM α=ε/10, T=50)", "ε", "ResNet-8", "ResNet-18", "seconds")
	for _, eps := range []float64{0.1, 0.2} {
		for _, s := range []struct {
			name string
			ms   []models.Classifier
			mode Mode
		}{
			{"1 LeNet", []models.Classifier{plain}, OnePerStep},
			{"1 cSGLD sample (last)", samples[len(samples)-1:], OnePerStep},
			{fmt.Sprintf("%d cSGLD samples, one-per-step", len(samples)), samples, OnePerStep},
			{fmt.Sprintf("%d cSGLD samples, all-at-once", len(samples)), samples, AllAtOnce},
		} {
			start := time.Now()
			c := attacks.IFGSM(eps, eps/10, 50)
			(&Set{Mode: s.mode}).Apply(c)
			adv, err := c.Craft(t.Context(), s.ms, attacks.Batch{X: x, Labels: y, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			var rates []string
			for v, vic := range victims {
				after := predictCorrect(t, vic.m, adv, y)
				fooled := 0
				for i := range after {
					if correct[v][i] && !after[i] {
						fooled++
					}
				}
				rates = append(rates, fmt.Sprintf("%.1f%%", 100*float64(fooled)/float64(count(correct[v]))))
			}
			logf("%-30s %5.2f %10s %10s %8.0f", s.name, eps, rates[0], rates[1], time.Since(start).Seconds())
		}
	}
	t.Log("\n" + strings.Join(lines, "\n"))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// trained loads path, or builds arch, trains it and saves it there.
func trained(t *testing.T, path, archName string, seed uint64, d *datasets.Dataset, cfg train.Config) *models.Model {
	t.Helper()
	if m, err := models.LoadFile(path); err == nil {
		return m
	}
	m, err := arch.Build(archName, []int{1, 28, 28}, 10, seed)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cfg.OnEpoch = func(e train.EpochStats) {
		t.Logf("%s epoch %d: loss %.4f, train acc %.2f%%, %.0f s", archName, e.Epoch, e.TrainLoss, 100*e.TrainAccuracy, e.Seconds)
	}
	if _, err := train.Fit(m, d, cfg); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: trained in %.0f s", archName, time.Since(start).Seconds())
	if err := m.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	return m
}

func predictCorrect(t *testing.T, m models.Classifier, x []float32, y []int) []bool {
	t.Helper()
	k := m.NumClasses()
	out := make([]bool, len(y))
	const b = 250
	z := make([]float32, b*k)
	for s := 0; s < len(y); s += b {
		e := min(len(y), s+b)
		if err := m.Logits(z[:(e-s)*k], x[s*784:e*784]); err != nil {
			t.Fatal(err)
		}
		for i := s; i < e; i++ {
			row := z[(i-s)*k : (i-s+1)*k]
			p := 0
			for j := range row {
				if row[j] > row[p] {
					p = j
				}
			}
			out[i] = p == y[i]
		}
	}
	return out
}

func count(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}
