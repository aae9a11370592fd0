package scenarios

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/attacks"
)

// controlSeed separates the noise control's random stream from the
// attack's.
const controlSeed = 0x636f6e74726f6c // "control"

// controlImages perturbs x with seeded random noise as large as the
// attack's perturbation, the baseline an attack's transfer rate must beat
// to mean something: for an attack with an ε, every value moves ±ε with a
// fair coin (L∞) or the image moves ε along a uniformly random direction
// (L2); for the others (DUMB's corruptions) each image moves along a
// uniformly random direction by the L2 norm of its own perturbation.
// Values are clipped to [0,1]. It returns the images and a description
// for results.
func controlImages(x, adv []float32, n int, norm attacks.Norm, eps float64, hasEps bool, seed uint64) ([]float32, string) {
	rng := rand.New(rand.NewPCG(seed, controlSeed))
	out := make([]float32, len(x))
	size := len(x) / max(n, 1)
	switch {
	case hasEps && norm == attacks.Linf:
		for i, v := range x {
			d := float32(eps)
			if rng.IntN(2) == 0 {
				d = -d
			}
			out[i] = min(max(v+d, 0), 1)
		}
		return out, fmt.Sprintf("random sign noise: every value ±%g (L∞), clipped to [0,1]", eps)
	case hasEps:
		for off := 0; off < len(x); off += size {
			randomDirection(out[off:off+size], x[off:off+size], eps, rng)
		}
		return out, fmt.Sprintf("random direction at L2 = %g, clipped to [0,1]", eps)
	}
	for off := 0; off < len(x); off += size {
		var s float64
		for j := off; j < off+size; j++ {
			d := float64(adv[j]) - float64(x[j])
			s += d * d
		}
		randomDirection(out[off:off+size], x[off:off+size], math.Sqrt(s), rng)
	}
	return out, "random direction at each image's own perturbation's L2 norm, clipped to [0,1]"
}

// randomDirection writes x + r·u into dst, u a uniform unit vector.
func randomDirection(dst, x []float32, r float64, rng *rand.Rand) {
	var s float64
	for j := range dst {
		g := rng.NormFloat64()
		dst[j] = float32(g)
		s += g * g
	}
	f := 0.0
	if s > 0 {
		f = r / math.Sqrt(s)
	}
	for j, v := range x {
		dst[j] = float32(min(max(float64(v)+f*float64(dst[j]), 0), 1))
	}
}
