package build

import (
	"math"
	"slices"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
)

func TestParseBalance(t *testing.T) {
	b, err := ParseBalance("20/80", 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range b.Ratios {
		want := 0.04
		if i >= 5 {
			want = 0.16
		}
		if math.Abs(r-want) > 1e-12 {
			t.Errorf("class %d: ratio %v, want %v", i, r, want)
		}
	}
	if b.Level != 20 {
		t.Errorf("level %v", b.Level)
	}
	// Binary: DUMB's definition, class 0 is P%.
	if b, err := ParseBalance("30/70", 2); err != nil || !slices.Equal(b.Ratios, []float64{0.3, 0.7}) {
		t.Errorf("binary 30/70: %v %v", b, err)
	}
	// Odd: the first ⌊k/2⌋ classes share P.
	if b, err := ParseBalance("40/60", 3); err != nil || math.Abs(b.Ratios[0]-0.4) > 1e-12 || math.Abs(b.Ratios[1]-0.3) > 1e-12 {
		t.Errorf("3 classes 40/60: %v %v", b, err)
	}
	if b, err := ParseBalance("1, 3", 2); err != nil || !slices.Equal(b.Ratios, []float64{1, 3}) || b.Level != 0 {
		t.Errorf("vector: %v %v", b, err)
	}
	for _, bad := range []string{"20/70", "0/100", "100/0", "a/b", "20/80/0", "1,2,3", "1,-1", "0,0", "1,NaN", "", "20"} {
		if _, err := ParseBalance(bad, 2); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseBalance("50/50", 1); err == nil {
		t.Error("one class accepted")
	}
}

// A level keeps the majority half whole and subsamples the minority half,
// as DUMB subsamples class 0.
func TestLevelOnMNIST(t *testing.T) {
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	counts := d.ClassCounts()
	for _, level := range Levels {
		b, _ := ParseBalance(level, 10)
		bd, err := d.Balance(b.Ratios, 1)
		if err != nil {
			t.Fatal(err)
		}
		got := bd.ClassCounts()
		lo := 0
		for c := 0; c < 5; c++ {
			lo += got[c]
		}
		if math.Abs(float64(lo)/float64(bd.Len())-b.Level/100) > 0.002 {
			t.Errorf("%s: digits 0-4 make %d of %d", level, lo, bd.Len())
		}
		// The smallest of the majority classes keeps all its images.
		small := slices.Min(counts[5:])
		if slices.Min(got[5:]) != small {
			t.Errorf("%s: class counts %v (had %v)", level, got, counts)
		}
	}
}

func TestDefaultTestSpec(t *testing.T) {
	for in, want := range map[string]string{
		"mnist:train":                  "mnist:test",
		"mnist":                        "",
		"mnist:test":                   "",
		"fashion-mnist:train":          "fashion-mnist:test",
		"fashion-mnist:train@/data/fm": "fashion-mnist:test@/data/fm",
		"syndigits:train":              "syndigits:test",
		"syndigits:train:500":          "syndigits:test",
		"syndigits:train:500:9":        "syndigits:test:10000:9",
		"npy:x.npy,y.npy":              "",
		"folder:/d":                    "",
	} {
		if got := DefaultTestSpec(in); got != want {
			t.Errorf("DefaultTestSpec(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeriveSeed(t *testing.T) {
	a := DeriveSeed(1, "model", "mnist", "lenet", "20/80")
	if a != DeriveSeed(1, "model", "mnist", "lenet", "20/80") || a >= 1<<53 {
		t.Errorf("seed %d", a)
	}
	for _, b := range []uint64{DeriveSeed(2, "model", "mnist", "lenet", "20/80"), DeriveSeed(1, "model", "mnist", "mlp", "20/80"),
		DeriveSeed(1, "model", "mnistlenet", "", "20/80")} {
		if a == b {
			t.Error("different parts gave the same seed")
		}
	}
	if ModelName("mnist", "lenet", "20/80") != "mnist_lenet_b20" {
		t.Error(ModelName("mnist", "lenet", "20/80"))
	}
}
