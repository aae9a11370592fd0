package metrics

import (
	"fmt"
	"math"
)

// L0Threshold is the |δ| above which a value counts as changed in L0.
const L0Threshold = 1e-8

// Perturbation summarises δ = adv − clean image by image.
type Perturbation struct {
	// Linf is max |δ| per image, L2 is √Σδ² per image, both in pixel units
	// of [0,1]; L0 counts the values (pixels × channels) with
	// |δ| > L0Threshold per image. Mean and max are over images.
	Linf Stat `json:"linf"`
	L2   Stat `json:"l2"`
	L0   Stat `json:"l0"`
	// Values is the number of values per image (C·H·W), L0's maximum.
	Values int `json:"values"`
}

// Stat is a mean and a maximum over images.
type Stat struct {
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// PerturbationOf computes the perturbation statistics of n images of size
// values each. δ is computed in float64 from the float32 values.
func PerturbationOf(clean, adv []float32, n int) (Perturbation, error) {
	if n <= 0 {
		return Perturbation{}, nil
	}
	if len(clean) != len(adv) || len(clean)%n != 0 {
		return Perturbation{}, fmt.Errorf("%d clean and %d adversarial values for %d images", len(clean), len(adv), n)
	}
	size := len(clean) / n
	p := Perturbation{Values: size}
	for i := 0; i < n; i++ {
		var linf, l2, l0 float64
		for j := i * size; j < (i+1)*size; j++ {
			d := math.Abs(float64(adv[j]) - float64(clean[j]))
			linf = max(linf, d)
			l2 += d * d
			if d > L0Threshold {
				l0++
			}
		}
		l2 = math.Sqrt(l2)
		p.Linf.Mean += linf
		p.L2.Mean += l2
		p.L0.Mean += l0
		p.Linf.Max = max(p.Linf.Max, linf)
		p.L2.Max = max(p.L2.Max, l2)
		p.L0.Max = max(p.L0.Max, l0)
	}
	p.Linf.Mean /= float64(n)
	p.L2.Mean /= float64(n)
	p.L0.Mean /= float64(n)
	return p, nil
}

// Quantize8 returns round(x·255)/255 of every value, clamped to [0,1]:
// what the images become when saved as 8-bit PNG. Ties round away from
// zero (math.Round).
func Quantize8(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		q := math.Round(float64(v) * 255)
		out[i] = float32(min(max(q, 0), 255)) / 255 // as datasets scale bytes
	}
	return out
}
