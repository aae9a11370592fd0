package attacks

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models"
)

// TestTransferStudy measures transfer on the MNIST fixtures: single
// surrogates versus their ensemble, and ensemble methods against plain
// logit averaging, on a held-out architecture (ResNet-18). It is a
// measurement, not a check: run it with ADVMATRIX_STUDY=1 -v (and
// ADVMATRIX_STUDY_N=images, default 300).
func TestTransferStudy(t *testing.T) {
	if os.Getenv("ADVMATRIX_STUDY") == "" {
		t.Skip("set ADVMATRIX_STUDY=1 to run the transfer study")
	}
	n := 300
	if v, err := strconv.Atoi(os.Getenv("ADVMATRIX_STUDY_N")); err == nil {
		n = v
	}
	load := func(name string) models.Classifier {
		m, err := models.LoadFile("../testdata/torch/" + name + "_op13.onnx")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	names := []string{"mlp", "lenet", "mobilenet_v2"}
	if v := os.Getenv("ADVMATRIX_STUDY_SURROGATES"); v != "" {
		names = strings.Split(v, ",")
	}
	var sur []models.Classifier
	for _, n := range names {
		sur = append(sur, load(n))
	}
	victim := load("resnet18")
	x, y := mnistBatch(t, n)
	var lines []string
	lines = append(lines, fmt.Sprintf("victim resnet18 (held-out architecture), %d MNIST test images, clean error %.1f%%", n, 100*errorRate(t, victim, x, y)))
	const eps, steps = 0.2, 10
	mk := func(name string, extra map[string]float64) Attack {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		p := Params{Eps: eps, Steps: steps, Set: map[string]bool{"eps": true, "steps": true}, Extra: extra}
		full := s.Complete(p, []int{1, 28, 28})
		if name == "ifgsm" || name == "mifgsm" {
			full.Alpha = eps / steps
		}
		a, err := s.New(full)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	var single float64
	for i, s := range sur {
		adv, err := mk("ifgsm", nil).Craft(t.Context(), []models.Classifier{s}, Batch{X: x, Labels: y})
		if err != nil {
			t.Fatal(err)
		}
		e := errorRate(t, victim, adv, y)
		single += e / float64(len(sur))
		lines = append(lines, fmt.Sprintf("ε=%.2f T=%d  ifgsm from %-12s → error %.1f%%", eps, steps, names[i], 100*e))
	}
	lines = append(lines, fmt.Sprintf("ε=%.2f T=%d  ifgsm, mean of the single surrogates → %.1f%%", eps, steps, 100*single))
	for _, a := range []struct {
		label string
		atk   Attack
	}{
		{"ifgsm, logit-averaged ensemble", mk("ifgsm", nil)},
		{"ifgsm, loss-averaged ensemble", func() Attack { c := mk("ifgsm", nil).(*Config); c.Fusion = FuseLoss; return c }()},
		{"mifgsm, logit-averaged ensemble", mk("mifgsm", nil)},
		{"adaea-mi", mk("adaea-mi", nil)},
		{"mi-cwa", mk("mi-cwa", nil)},
	} {
		adv, err := a.atk.Craft(t.Context(), sur, Batch{X: x, Labels: y})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("ε=%.2f T=%d  %-34s (%s) → error %.1f%%", eps, steps, a.label, strings.Join(names, "+"), 100*errorRate(t, victim, adv, y)))
	}
	t.Log("\n" + strings.Join(lines, "\n"))
}
