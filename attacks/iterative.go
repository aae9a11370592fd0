package attacks

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
)

// Config is the gradient family: FGSM, I-FGSM/BIM, PGD, MI-FGSM, DI, TI,
// R-FGSM and their combinations are settings of it.
type Config struct {
	Name  string
	Norm  Norm
	Eps   float64 // radius of the threat model
	Alpha float64 // step size
	Steps int

	RandomStart bool    // PGD: start uniformly in the ε-ball
	Restarts    int     // PGD: extra random restarts; a successful one is kept per image
	RandStep    float64 // R-FGSM: first move α·sign(N(0,I)), then Steps steps of size Alpha
	Momentum    float64 // MI-FGSM μ; the gradient is normalised by its mean |g| when set
	Normalize   bool    // normalise the gradient even with μ = 0 (MI family)
	L1Norm      bool    // normalise by the per-image L1 norm (the paper) instead of mean |g| (torchattacks); same signs
	DI          Diversity
	TIKernel    int // TI-FGSM kernel size (0 or 1: off)
	TINSig      float64

	Fusion Fusion
	// OnePerStep draws one surrogate per iteration, in an order shuffled
	// once (seeded) and then cycled — how Bayesian surrogate sets (cSGLD
	// samples, LGV trajectories) are attacked; otherwise every surrogate
	// contributes to every step.
	OnePerStep bool
}

// Validate reports the first problem with a configuration.
func (c *Config) Validate() error {
	switch {
	case math.IsNaN(c.Eps) || c.Eps < 0:
		return fmt.Errorf("eps %v must be >= 0", c.Eps)
	case math.IsNaN(c.Alpha) || c.Alpha < 0:
		return fmt.Errorf("alpha %v must be >= 0", c.Alpha)
	case c.Steps < 1:
		return fmt.Errorf("steps %d must be >= 1", c.Steps)
	case c.Restarts < 0:
		return fmt.Errorf("restarts %d must be >= 0", c.Restarts)
	case c.Momentum < 0:
		return fmt.Errorf("momentum %v must be >= 0", c.Momentum)
	case c.DI.P < 0 || c.DI.P > 1:
		return fmt.Errorf("DI probability %v must be in [0,1]", c.DI.P)
	case c.DI.P > 0 && (c.DI.Rate <= 0 || c.DI.Rate == 1):
		return fmt.Errorf("DI resize rate %v must be positive and not 1", c.DI.Rate)
	case c.TIKernel < 0 || (c.TIKernel > 1 && c.TIKernel%2 == 0):
		return fmt.Errorf("TI kernel size %d must be odd", c.TIKernel)
	case c.RandStep < 0:
		return fmt.Errorf("random step %v must be >= 0", c.RandStep)
	case c.Norm != Linf && c.Norm != L2:
		return fmt.Errorf("unknown norm %v", c.Norm)
	}
	return nil
}

// FGSM is Goodfellow et al.'s one step of size ε.
func FGSM(eps float64) *Config {
	return &Config{Name: "fgsm", Eps: eps, Alpha: eps, Steps: 1}
}

// IFGSM is the basic iterative method (Kurakin et al.).
func IFGSM(eps, alpha float64, steps int) *Config {
	return &Config{Name: "ifgsm", Eps: eps, Alpha: alpha, Steps: steps}
}

// PGD is Madry et al.'s projected gradient descent with a random start.
func PGD(eps, alpha float64, steps int) *Config {
	return &Config{Name: "pgd", Eps: eps, Alpha: alpha, Steps: steps, RandomStart: true}
}

// MIFGSM adds momentum μ over L1-normalised gradients (Dong et al. 2018).
func MIFGSM(eps, alpha float64, steps int, mu float64) *Config {
	return &Config{Name: "mifgsm", Eps: eps, Alpha: alpha, Steps: steps, Momentum: mu, Normalize: true}
}

// DIFGSM is MI-FGSM on randomly resized and padded inputs (Xie et al. 2019).
func DIFGSM(eps, alpha float64, steps int, mu float64) *Config {
	c := MIFGSM(eps, alpha, steps, mu)
	c.Name, c.DI = "difgsm", Diversity{P: 0.5, Rate: 0.9}
	return c
}

// TIFGSM smooths the gradient with a Gaussian kernel (Dong et al. 2019),
// with DI as in torchattacks.
func TIFGSM(eps, alpha float64, steps int, mu float64) *Config {
	c := DIFGSM(eps, alpha, steps, mu)
	c.Name, c.TIKernel, c.TINSig = "tifgsm", 15, 3
	return c
}

// RFGSM starts with a random sign step of size α and then takes steps of
// ε−α (Tramèr et al. 2018; torchattacks generalises it to several steps).
func RFGSM(eps, alpha float64, steps int) *Config {
	return &Config{Name: "rfgsm", Eps: eps, Alpha: eps - alpha, Steps: steps, RandStep: alpha}
}

// Craft runs the attack. It implements Attack.
func (c *Config) Craft(ctx context.Context, surrogates []models.Classifier, b Batch) ([]float32, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	bi, err := b.check(surrogates, c.DI.P > 0)
	if err != nil {
		return nil, err
	}
	x, n, size := b.X, bi.n, bi.size
	rng := rand.New(rand.NewPCG(b.Seed, 0x61647661))
	g, err := newGradient(surrogates, c.Fusion, bi.targets)
	if err != nil {
		return nil, err
	}
	var order []int
	if c.OnePerStep && len(surrogates) > 1 {
		order = rng.Perm(len(surrogates))
	}
	best := make([]float32, len(x))
	done := make([]bool, n)
	for r := 0; r <= c.Restarts; r++ {
		adv, err := c.run(ctx, g, order, bi.shape, x, bi.goal, rng)
		if err != nil {
			return nil, err
		}
		if c.Restarts == 0 {
			return adv, nil
		}
		succ, err := success(surrogates, adv, b.Labels, bi.goal, bi.targets, bi.k)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if !done[i] {
				copy(best[i*size:(i+1)*size], adv[i*size:(i+1)*size])
				done[i] = succ[i]
			}
		}
	}
	return best, nil
}

// summedLogits adds the surrogates' logits for the n images of x.
func summedLogits(ms []models.Classifier, x []float32, n, k int) ([]float32, error) {
	sum := make([]float32, n*k)
	z := make([]float32, n*k)
	for _, m := range ms {
		if err := m.Logits(z, x); err != nil {
			return nil, err
		}
		for i, v := range z {
			sum[i] += v
		}
	}
	return sum, nil
}

// success reports per image whether the averaged surrogate logits are fooled
// (or, targeted, hit the target).
func success(ms []models.Classifier, adv []float32, y, labels []int, targeted bool, k int) ([]bool, error) {
	sum, err := summedLogits(ms, adv, len(y), k)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(y))
	for i, p := range metrics.Argmax(sum, k) {
		if targeted {
			out[i] = p == labels[i]
		} else {
			out[i] = p != y[i]
		}
	}
	return out, nil
}

// run is one attempt of the iterative attack.
func (c *Config) run(ctx context.Context, full *gradient, order []int, shape []int, x []float32, labels []int, rng *rand.Rand) ([]float32, error) {
	n := len(labels)
	size := len(x) / n
	eps, alpha := float32(c.Eps), float32(c.Alpha)
	adv := append([]float32(nil), x...)
	switch {
	case c.RandomStart && c.Norm == Linf:
		for i := range adv {
			adv[i] += float32(rng.Float64()*2-1) * eps
		}
		project(c.Norm, eps, x, adv, size)
	case c.RandomStart && c.Norm == L2:
		// A uniform direction at a uniform fraction of ε (torchattacks' PGDL2).
		for off := 0; off < len(adv); off += size {
			d := make([]float64, size)
			var s float64
			for j := range d {
				d[j] = rng.NormFloat64()
				s += d[j] * d[j]
			}
			r := rng.Float64() * c.Eps / math.Sqrt(s)
			for j := range d {
				adv[off+j] += float32(d[j] * r)
			}
		}
		project(c.Norm, eps, x, adv, size)
	}
	if c.RandStep > 0 {
		for i := range adv {
			adv[i] += float32(c.RandStep) * signf(float32(rng.NormFloat64()))
		}
		project(c.Norm, eps, x, adv, size)
	}
	g := full
	var singles []*gradient
	if order != nil {
		// One gradient per surrogate, used in turn.
		for _, m := range full.models {
			sg, err := newGradient([]models.Classifier{m}, c.Fusion, full.targeted)
			if err != nil {
				return nil, err
			}
			singles = append(singles, sg)
		}
		g = singles[order[0]]
	}
	K := len(g.models)
	xs := make([][]float32, K)
	gs := make([][]float32, K)
	draws := make([]*diversity, K)
	for i := range xs {
		xs[i] = make([]float32, len(x))
		gs[i] = make([]float32, len(x))
	}
	grad := make([]float32, len(x))
	tmp := make([]float32, len(x))
	mom := make([]float32, len(x))
	var kern []float32
	if c.TIKernel > 1 {
		kern = gaussianKernel(c.TIKernel, c.TINSig)
	}
	C, H, W := shapeCHW(shape)
	for t := 0; t < c.Steps; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if order != nil {
			g = singles[order[t%len(order)]]
		}
		for i := range xs {
			// An independent input-diversity draw per surrogate.
			draws[i] = c.DI.redraw(draws[i], C, H, W, rng)
			draws[i].apply(xs[i], adv, n)
		}
		if err := g.compute(xs, gs, labels); err != nil {
			return nil, err
		}
		clear(grad)
		for i := range gs {
			draws[i].adjoint(tmp, gs[i], n)
			for j, v := range tmp {
				grad[j] += v
			}
		}
		if kern != nil {
			smooth(tmp, grad, kern, c.TIKernel, n*C, H, W)
			grad, tmp = tmp, grad
		}
		dir := grad
		if c.Momentum > 0 || c.Normalize {
			// g / mean|g| per image: the same signs as the paper's g/‖g‖₁.
			for off := 0; off < len(grad); off += size {
				gi := grad[off : off+size]
				var s float64
				for _, v := range gi {
					s += math.Abs(float64(v))
				}
				f := float32(0)
				if s > 0 {
					f = float32(float64(size) / s)
					if c.L1Norm {
						f = float32(1 / s)
					}
				}
				mi := mom[off : off+size]
				for j, v := range gi {
					mi[j] = float32(c.Momentum)*mi[j] + v*f
				}
			}
			dir = mom
		}
		switch c.Norm {
		case Linf:
			for i, v := range dir {
				adv[i] += alpha * signf(v)
			}
		case L2:
			for off := 0; off < len(dir); off += size {
				di := dir[off : off+size]
				var s float64
				for _, v := range di {
					s += float64(v) * float64(v)
				}
				if s > 0 {
					f := alpha / float32(math.Sqrt(s))
					for j, v := range di {
						adv[off+j] += f * v
					}
				}
			}
		}
		project(c.Norm, eps, x, adv, size)
	}
	return adv, nil
}

func signf(v float32) float32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func shapeCHW(s []int) (int, int, int) {
	switch len(s) {
	case 3:
		return s[0], s[1], s[2]
	case 2:
		return 1, s[0], s[1]
	}
	n := 1
	for _, d := range s {
		n *= d
	}
	return 1, 1, n
}
