package attacks

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models"
)

// TestTransferStudy measures transfer on the MNIST fixtures: single
// surrogates versus their ensemble, against a held-out architecture. It
// is a measurement, not a check: run it with ADVMATRIX_STUDY=1 and -v.
func TestTransferStudy(t *testing.T) {
	if os.Getenv("ADVMATRIX_STUDY") == "" {
		t.Skip("set ADVMATRIX_STUDY=1 to run the transfer study")
	}
	load := func(name string) models.Classifier {
		m, err := models.LoadFile("../testdata/torch/" + name + "_op13.onnx")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	names := []string{"mlp", "lenet", "mobilenet_v2"}
	var sur []models.Classifier
	for _, n := range names {
		sur = append(sur, load(n))
	}
	victim := load("resnet18")
	x, y := mnistBatch(t, 500)
	clean := errorRate(t, victim, x, y)
	var lines []string
	lines = append(lines, fmt.Sprintf("victim resnet18, 500 MNIST test images, clean error %.1f%%", 100*clean))
	for _, eps := range []float64{0.1, 0.2} {
		atk := func() []Attack {
			out := []Attack{IFGSM(eps, eps/10, 20)}
			if extra := os.Getenv("ADVMATRIX_STUDY_ATTACKS"); extra != "" {
				for _, name := range strings.Split(extra, ",") {
					s, err := Lookup(name)
					if err != nil {
						t.Fatal(err)
					}
					p := Params{Eps: eps, Alpha: eps / 10, Steps: 20, Set: map[string]bool{"eps": true, "alpha": true, "steps": true}}
					a, err := s.New(p.Merge(s.Defaults([]int{1, 28, 28})))
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, a)
				}
			}
			return out
		}()
		for ai, a := range atk {
			label := "ifgsm"
			if ai > 0 {
				label = strings.Split(os.Getenv("ADVMATRIX_STUDY_ATTACKS"), ",")[ai-1]
			}
			var single float64
			if ai == 0 {
				for i, s := range sur {
					adv, err := a.Craft([]models.Classifier{s}, x, y)
					if err != nil {
						t.Fatal(err)
					}
					e := errorRate(t, victim, adv, y)
					single += e / float64(len(sur))
					lines = append(lines, fmt.Sprintf("eps %.2f %-8s from %-12s → resnet18 error %.1f%%", eps, label, names[i], 100*e))
				}
				lines = append(lines, fmt.Sprintf("eps %.2f %-8s mean single surrogate → %.1f%%", eps, label, 100*single))
			}
			adv, err := a.Craft(sur, x, y)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("eps %.2f %-8s ensemble of 3 → resnet18 error %.1f%%", eps, label, 100*errorRate(t, victim, adv, y)))
		}
	}
	t.Log("\n" + strings.Join(lines, "\n"))
}
