package attacks

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models"
)

// meanModel is a 2-class classifier on 1×8×8 images: class 1 when the
// mean pixel exceeds 0.5.
type meanModel struct{}

func (meanModel) InputShape() []int { return []int{1, 8, 8} }
func (meanModel) NumClasses() int   { return 2 }
func (meanModel) Logits(dst, x []float32) error {
	for i := 0; i < len(x)/64; i++ {
		var s float32
		for _, v := range x[i*64 : (i+1)*64] {
			s += v
		}
		dst[2*i], dst[2*i+1] = 0, s/64-0.5
	}
	return nil
}
func (meanModel) Grad(dx, x []float32, seed func(z, dz []float32)) error { panic("not needed") }

// brighten adds its strength to every pixel.
type brighten float64

func (b brighten) Craft(_ context.Context, _ []models.Classifier, bt Batch) ([]float32, error) {
	out := make([]float32, len(bt.X))
	for i, v := range bt.X {
		out[i] = min(v+float32(b), 1)
	}
	return out, nil
}

func TestSelectStrengthRule(t *testing.T) {
	// Three images near 0.3 (class 0, correct) and one at 0.8 labelled 0
	// (wrong when clean: excluded from the ASR's denominator).
	const n = 4
	x := make([]float32, n*64)
	for i := range x {
		x[i] = 0.3 + 0.01*float32(i%7)
	}
	for i := 3 * 64; i < 4*64; i++ {
		x[i] = 0.8
	}
	y := []int{0, 0, 0, 0}
	mk := func(s float64) (Attack, error) { return brighten(s), nil }
	grid := []float64{0.1, 0.25, 0.3, 0.6}
	for _, tc := range []struct {
		ssimMin float64
		want    float64
		err     bool
	}{
		{0.7, 0.25, false}, // 0.25 and 0.3 both fool everything: tie → smaller
		{-1, 0.25, false},  // everything qualifies, 0.6 does not beat 0.25
		{0.95, 0.1, false}, // only the weakest stays similar enough (ASR 0)
		{0.999, 0, true},   // nothing qualifies
	} {
		best, table, err := SelectStrength(t.Context(), mk, grid, meanModel{}, Batch{X: x, Labels: y, Seed: 1}, 64, tc.ssimMin)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "SSIM") {
				t.Fatalf("threshold %v: err = %v", tc.ssimMin, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if best != tc.want {
			t.Errorf("threshold %v: best %v, want %v; table %+v", tc.ssimMin, best, tc.want, table)
		}
		if len(table) != len(grid) {
			t.Fatalf("table has %d rows", len(table))
		}
		for i, r := range table {
			if r.Strength != grid[i] || r.Correct != 3 {
				t.Fatalf("row %d: %+v", i, r)
			}
			wantFooled := 3
			if r.Strength == 0.1 {
				wantFooled = 0
			}
			if r.Fooled != wantFooled || r.ASR != float64(wantFooled)/3 {
				t.Fatalf("row %d: fooled %d, ASR %v", i, r.Fooled, r.ASR)
			}
			if r.Qualifies != (r.SSIM > tc.ssimMin) {
				t.Fatalf("row %d: qualifies %v with SSIM %v", i, r.Qualifies, r.SSIM)
			}
			if i > 0 && r.SSIM >= table[i-1].SSIM {
				t.Fatalf("SSIM should fall with the strength: %+v", table)
			}
		}
	}
	// No correctly classified image: an error, not a NaN choice.
	if _, _, err := SelectStrength(t.Context(), mk, grid, meanModel{}, Batch{X: x[3*64:], Labels: y[3:], Seed: 1}, 64, 0.4); err == nil {
		t.Fatal("no correct image: no error")
	}
	if _, _, err := SelectStrength(t.Context(), mk, nil, meanModel{}, Batch{X: x, Labels: y, Seed: 1}, 64, 0.4); err == nil {
		t.Fatal("empty grid: no error")
	}
}

func TestSelectStrengthLeNet(t *testing.T) {
	x, y := mnistBatch(t, 16)
	m := lenet(t)
	for _, tc := range []struct {
		name string
		grid []float64
		want float64
	}{
		{"fgsm", []float64{0.02, 0.1, 0.3}, 0.3},
		{"boxblur", []float64{0.5, 2, 6}, 2},  // radius 6 blurs the digits away: SSIM < 0.4
		{"blackbox", BlackBoxGrid(28)[:4], 1}, // no box fools LeNet: the tie goes to the smallest
	} {
		mk, err := StrengthMaker(tc.name, Params{}, m.InputShape())
		if err != nil {
			t.Fatal(err)
		}
		best, table, err := SelectStrength(t.Context(), mk, tc.grid, m, Batch{X: x, Labels: y, Seed: 1}, 64, DefaultSSIMMin)
		if err != nil {
			t.Fatalf("%s: %v (%+v)", tc.name, err, table)
		}
		for _, r := range table {
			t.Logf("%s %v: ASR %.3f (%d/%d) SSIM %.3f qualifies %v", tc.name, r.Strength, r.ASR, r.Fooled, r.Correct, r.SSIM, r.Qualifies)
			if r.Qualifies && (r.ASR > tableASR(table, best) || (r.ASR == tableASR(table, best) && r.Strength < best)) {
				t.Fatalf("%s: %v beats the chosen %v", tc.name, r.Strength, best)
			}
		}
		if best != tc.want {
			t.Fatalf("%s: best %v, want %v", tc.name, best, tc.want)
		}
	}
}

func tableASR(table []StrengthResult, s float64) float64 {
	for _, r := range table {
		if r.Strength == s {
			return r.ASR
		}
	}
	return math.NaN()
}

func TestGrids(t *testing.T) {
	check := func(name string, g []float64, n int, first, last float64) {
		t.Helper()
		if len(g) != n || g[0] != first || g[len(g)-1] != last {
			t.Errorf("%s: %d values %v … %v, want %d values %v … %v", name, len(g), g[0], g[len(g)-1], n, first, last)
		}
		for i := 1; i < len(g); i++ {
			if g[i] <= g[i-1] {
				t.Errorf("%s: not increasing at %d", name, i)
			}
		}
	}
	check("eps", EpsGrid(), 30, 0.01, 0.3)
	check("square", SquareEpsGrid(), 5, 0.1, 0.3)
	check("blur", BoxBlurGrid(), 20, 0.5, 10)
	check("noise", GaussNoiseGrid(), 20, 0.005, 0.1)
	check("s&p", SaltPepperGrid(), 20, 0.005, 0.1)
	check("box 300", BlackBoxGrid(300), 20, 10, 200)
	check("box 28", BlackBoxGrid(28), 19, 1, 19)
	check("box 224", BlackBoxGrid(224), 20, 7, 149)
	if g := EpsGrid(); g[6] != 0.07 || g[28] != 0.29 {
		t.Errorf("eps grid not rounded: %v", g)
	}
	if g := SquareEpsGrid(); !slices.Equal(g, []float64{0.1, 0.15, 0.2, 0.25, 0.3}) {
		t.Errorf("square grid %v", g)
	}
}

func TestStrengthMakerKeys(t *testing.T) {
	shape := []int{3, 32, 32}
	for name, check := range map[string]func(Attack) bool{
		"pgd":        func(a Attack) bool { return a.(*Config).Eps == 0.2 },
		"square":     func(a Attack) bool { return a.(*Square).Eps == 0.2 },
		"boxblur":    func(a Attack) bool { return a.(*Corruption).Strength == 0.2 },
		"gaussnoise": func(a Attack) bool { return a.(*Corruption).Strength == 0.2 },
		"blackbox":   func(a Attack) bool { return a.(*Corruption).Strength == 0.2 },
		"saltpepper": func(a Attack) bool { return a.(*Corruption).Strength == 0.2 },
	} {
		mk, err := StrengthMaker(name, Params{}, shape)
		if err != nil {
			t.Fatal(err)
		}
		a, err := mk(0.2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !check(a) {
			t.Errorf("%s: strength not applied: %+v", name, a)
		}
	}
	if _, err := StrengthMaker("nope", Params{}, shape); err == nil {
		t.Error("unknown attack: no error")
	}
}
