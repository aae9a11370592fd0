package metrics

import (
	"math"
	"testing"
)

// onehot returns logits (n×k) whose argmax is pred[i].
func onehot(pred []int, k int) []float32 {
	z := make([]float32, len(pred)*k)
	for i, p := range pred {
		z[i*k+p] = 1
	}
	return z
}

func rateIs(t *testing.T, name string, r Rate, num, den int) {
	t.Helper()
	if r.Num != num || r.Den != den {
		t.Errorf("%s = %d/%d, want %d/%d", name, r.Num, r.Den, num, den)
		return
	}
	want := NewRate(num, den)
	if r != want {
		t.Errorf("%s = %+v, want %+v", name, r, want)
	}
}

func TestScoreVictim(t *testing.T) {
	// Five images, three classes, worked by hand:
	//   label  0 1 2 0 1
	//   clean  0 1 0 0 2   → correct: images 0, 1, 3 (C = 3)
	//   adv    1 1 2 0 0   → correct: images 1, 2, 3 (A = 3; image 2 was
	//                         wrong clean and is right under attack)
	//   target 1 2 2 1 0   → hit: images 0, 2, 4
	// asr_all = 2/5; asr_on_correct = 1/3 (image 0 flipped, 1 and 3 held);
	// asr_ratio = (C − A)/C = 0/3 = 0.
	labels := []int{0, 1, 2, 0, 1}
	s, err := ScoreVictim(onehot([]int{0, 1, 0, 0, 2}, 3), onehot([]int{1, 1, 2, 0, 0}, 3), labels, []int{1, 2, 2, 1, 0}, 3)
	if err != nil {
		t.Fatal(err)
	}
	rateIs(t, "clean", s.CleanAccuracy, 3, 5)
	rateIs(t, "adv", s.AdvAccuracy, 3, 5)
	rateIs(t, "asr_all", s.ASRAll, 2, 5)
	rateIs(t, "asr_on_correct", s.ASROnCorrect, 1, 3)
	if s.TargetedSuccess == nil {
		t.Fatal("no targeted success")
	}
	rateIs(t, "targeted", *s.TargetedSuccess, 3, 5)
	r := s.ASRRatio
	// Interval values from the closed form in Python (z = 2.2414027); the
	// lower bound, −3.51 there, is clipped to the ratio's least possible
	// value 1 − n/C = 1 − 5/3.
	if !r.Defined || r.Num != 0 || r.Den != 3 || r.Value != 0 ||
		math.Abs(r.Lo95-(1-5.0/3)) > 1e-9 || math.Abs(r.Hi95-0.7784580592663279) > 1e-9 {
		t.Errorf("asr_ratio %+v", r)
	}
	if len(s.FlipsOnCorrect) != 3 {
		t.Fatalf("flips %+v", s.FlipsOnCorrect)
	}
	rateIs(t, "flips class 0", s.FlipsOnCorrect[0].Rate, 1, 2)
	rateIs(t, "flips class 1", s.FlipsOnCorrect[1].Rate, 0, 1)
	rateIs(t, "flips class 2", s.FlipsOnCorrect[2].Rate, 0, 0)

	// Untargeted: no targeted success.
	s, err = ScoreVictim(onehot([]int{0, 1, 0, 0, 2}, 3), onehot([]int{1, 1, 2, 0, 0}, 3), labels, nil, 3)
	if err != nil || s.TargetedSuccess != nil {
		t.Errorf("untargeted: %v %+v", err, s.TargetedSuccess)
	}
}

func TestScoreVictimEdges(t *testing.T) {
	// The attack makes the victim better: labels 0 0 0, clean 0 1 1 (C = 1),
	// adv 0 0 0 (A = 3): asr_ratio = (1 − 3)/1 = −2, asr_on_correct 0/1,
	// asr_all 0/3.
	s, err := ScoreVictim(onehot([]int{0, 1, 1}, 2), onehot([]int{0, 0, 0}, 2), []int{0, 0, 0}, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	rateIs(t, "asr_on_correct", s.ASROnCorrect, 0, 1)
	rateIs(t, "asr_all", s.ASRAll, 0, 3)
	if r := s.ASRRatio; !r.Defined || r.Num != -2 || r.Den != 1 || r.Value != -2 ||
		math.Abs(r.Lo95-(-2)) > 1e-9 || math.Abs(r.Hi95-0.5468178589660503) > 1e-9 { // −18.86 clipped to 1 − 3/1
		t.Errorf("asr_ratio %+v", r)
	}

	// Clean accuracy zero: asr_on_correct has no denominator, the ratio is
	// undefined, asr_all still counts.
	s, err = ScoreVictim(onehot([]int{1, 1}, 2), onehot([]int{0, 1}, 2), []int{0, 0}, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	rateIs(t, "clean", s.CleanAccuracy, 0, 2)
	rateIs(t, "asr_on_correct", s.ASROnCorrect, 0, 0)
	rateIs(t, "asr_all", s.ASRAll, 1, 2)
	if r := s.ASRRatio; r.Defined || r.Value != 0 || r.Lo95 != 0 || r.Hi95 != 0 || r.Den != 0 {
		t.Errorf("undefined ratio %+v", r)
	}

	// No images at all.
	s, err = ScoreVictim(nil, nil, nil, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	rateIs(t, "clean", s.CleanAccuracy, 0, 0)
	rateIs(t, "asr_all", s.ASRAll, 0, 0)
	if s.ASRRatio.Defined {
		t.Error("ratio of nothing defined")
	}

	// Ties go to the first class, as Argmax.
	s, _ = ScoreVictim([]float32{1, 1}, []float32{0, 0}, []int{0}, nil, 2)
	rateIs(t, "tie clean", s.CleanAccuracy, 1, 1)
	rateIs(t, "tie adv", s.AdvAccuracy, 1, 1)

	// Bad input.
	for name, f := range map[string]func() error{
		"short logits": func() error {
			_, err := ScoreVictim(make([]float32, 3), make([]float32, 4), []int{0, 1}, nil, 2)
			return err
		},
		"label range": func() error {
			_, err := ScoreVictim(make([]float32, 4), make([]float32, 4), []int{0, 2}, nil, 2)
			return err
		},
		"targets": func() error {
			_, err := ScoreVictim(make([]float32, 4), make([]float32, 4), []int{0, 1}, []int{1}, 2)
			return err
		},
		"classes": func() error { _, err := ScoreVictim(nil, nil, nil, nil, 0); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNewRatio(t *testing.T) {
	// A typical transfer result: 90 of 100 right clean, 40 under attack.
	r := NewRatio(40, 90, 100)
	if math.Abs(r.Value-50.0/90) > 1e-12 || math.Abs(r.Lo95-0.3698142535815607) > 1e-9 || math.Abs(r.Hi95-0.6865513615308403) > 1e-9 {
		t.Errorf("%+v", r)
	}
	// The interval always holds the value and stays at or below 1.
	for n := 1; n <= 12; n++ {
		for c := 0; c <= n; c++ {
			for a := 0; a <= n; a++ {
				r := NewRatio(a, c, n)
				if c == 0 {
					if r.Defined {
						t.Fatalf("NewRatio(%d,%d,%d) defined", a, c, n)
					}
					continue
				}
				if !(r.Lo95 <= r.Value && r.Value <= r.Hi95 && r.Hi95 <= 1) {
					t.Fatalf("NewRatio(%d,%d,%d) = %+v", a, c, n, r)
				}
			}
		}
	}
}

func TestPerturbationOf(t *testing.T) {
	// Image 0 moves two values by 0.1 and 0.2: L∞ 0.2, L2 √0.05, L0 2.
	// Image 1 is unchanged. Means: 0.1, √0.05/2, 1.
	clean := []float32{0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5}
	adv := []float32{0.1, 0, 0, 0.2, 0.5, 0.5, 0.5, 0.5}
	p, err := PerturbationOf(clean, adv, 2)
	if err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 1e-7 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("linf max", p.Linf.Max, 0.2)
	near("linf mean", p.Linf.Mean, 0.1)
	near("l2 max", p.L2.Max, math.Sqrt(0.05))
	near("l2 mean", p.L2.Mean, math.Sqrt(0.05)/2)
	near("l0 max", p.L0.Max, 2)
	near("l0 mean", p.L0.Mean, 1)
	if p.Values != 4 {
		t.Errorf("values %d", p.Values)
	}
	// A change below the threshold does not count in L0.
	p, _ = PerturbationOf([]float32{0}, []float32{1e-9}, 1)
	if p.L0.Max != 0 || p.Linf.Max == 0 {
		t.Errorf("tiny change %+v", p)
	}
	if p, err := PerturbationOf(nil, nil, 0); err != nil || p.L2.Max != 0 {
		t.Errorf("empty: %+v %v", p, err)
	}
	if _, err := PerturbationOf(clean, adv[:7], 2); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

func TestQuantize8(t *testing.T) {
	got := Quantize8([]float32{0, 1, 0.5, 0.3, -0.1, 1.2, 3.0 / 255, 127.5 / 255})
	want := []float32{0, 1, 128.0 / 255, 77.0 / 255, 0, 1, 3.0 / 255, 128.0 / 255}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Quantize8[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	// Bytes scaled as the datasets scale them are fixed points.
	for b := 0; b < 256; b++ {
		v := float32(b) / 255
		if q := Quantize8([]float32{v})[0]; q != v {
			t.Fatalf("byte %d: %v → %v", b, v, q)
		}
	}
}
