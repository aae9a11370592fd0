package attacks

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/models"
)

// Square is the L∞ Square attack of Andriushchenko et al. (ECCV 2020), a
// score-based black-box attack: it queries only the logits of the first
// surrogate (never gradients) and does random search over square-shaped
// updates at the corners of the ε-ball.
//
//	x_best = clip(x + ε·v, 0, 1), v ∈ {−1,+1}^{C×1×W}   (vertical stripes)
//	for each query i while the image is not yet fooled:
//	    p = schedule(i); s = clamp(round(√(p·H·W)), 1, min(H,W)−1)
//	    draw a window position (r, c) and a sign per channel;
//	    x_new = x_best with the s×s window set to clip(x ± ε, 0, 1)
//	    keep x_new if its margin loss is lower
//
// The margin is z_y − max_{j≠y} z_j untargeted (success when ≤ 0) and
// max_{j≠t} z_j − z_t targeted; the loss is the margin, torchattacks'
// default loss="margin". The schedule halves p = PInit at iterations 10,
// 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of a 10000-iteration run,
// rescaled to Queries (i → ⌊i/Queries·10000⌋), as both the authors' code
// and torchattacks do. Each image stops as soon as it is fooled; images the
// model already misclassifies are not attacked (torchattacks' perturb).
//
// Differences from torchattacks, which DUMB used: the window position and
// the channel signs are drawn per image (the authors' code; torchattacks
// draws one for the whole batch), and, as in the authors' code, a draw
// that would leave the window unchanged is redrawn (up to 10 times).
// Window corners are drawn from [0, H−s) × [0, W−s) as in both references,
// so the last row and column are reached only by the initial stripes.
// By default images that are not fooled are returned clean, as
// torchattacks' perturb does; ReturnBest returns the lowest-loss image
// found instead (the authors' code).
type Square struct {
	Eps        float64 // L∞ radius
	Queries    int     // iterations (queries after the initial one), default 5000
	PInit      float64 // initial fraction of pixels in the window, default 0.8
	ReturnBest bool
}

// NewSquare returns the attack with torchattacks' defaults (5000 queries,
// p_init 0.8).
func NewSquare(eps float64) *Square { return &Square{Eps: eps, Queries: 5000, PInit: 0.8} }

// SquareResult is what one run of Square found.
type SquareResult struct {
	Adv     []float32
	Queries []int  // model evaluations per image: the clean check, the initial stripes, one per iteration
	Success []bool // fooled (or, targeted, hit the target) on the model
}

// Validate reports the first problem with the settings.
func (s *Square) Validate() error {
	switch {
	case math.IsNaN(s.Eps) || s.Eps < 0 || math.IsInf(s.Eps, 0):
		return fmt.Errorf("square: eps %v must be >= 0", s.Eps)
	case s.Queries < 0:
		return fmt.Errorf("square: queries %d must be >= 0", s.Queries)
	case !(s.PInit > 0 && s.PInit <= 1):
		return fmt.Errorf("square: p_init %v must be in (0,1]", s.PInit)
	}
	return nil
}

// Craft runs the attack on the one surrogate. It implements Attack.
func (s *Square) Craft(ctx context.Context, surrogates []models.Classifier, b Batch) ([]float32, error) {
	if len(surrogates) != 1 {
		return nil, fmt.Errorf("square: queries one model, got %d surrogates", len(surrogates))
	}
	r, err := s.Run(ctx, surrogates[0], b)
	if err != nil {
		return nil, err
	}
	return r.Adv, nil
}

// pSelection is the authors' piecewise-constant schedule of the window
// fraction.
func (s *Square) pSelection(it int) float64 {
	if s.Queries > 0 {
		it = int(float64(it) / float64(s.Queries) * 10000)
	}
	switch {
	case it <= 10:
		return s.PInit
	case it <= 50:
		return s.PInit / 2
	case it <= 200:
		return s.PInit / 4
	case it <= 500:
		return s.PInit / 8
	case it <= 1000:
		return s.PInit / 16
	case it <= 2000:
		return s.PInit / 32
	case it <= 4000:
		return s.PInit / 64
	case it <= 6000:
		return s.PInit / 128
	case it <= 8000:
		return s.PInit / 256
	}
	return s.PInit / 512
}

// margins writes each image's margin (≤ 0: goal reached) from logits z.
func squareMargins(dst []float64, z []float32, labels []int, k int, targeted bool) {
	for i, l := range labels {
		row := z[i*k : (i+1)*k]
		other := math.Inf(-1)
		for j, v := range row {
			if j != l {
				other = math.Max(other, float64(v))
			}
		}
		if targeted {
			dst[i] = other - float64(row[l])
		} else {
			dst[i] = float64(row[l]) - other
		}
	}
}

// Run attacks m and reports per-image query counts and success.
func (s *Square) Run(ctx context.Context, m models.Classifier, bt Batch) (*SquareResult, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	info, err := bt.check([]models.Classifier{m}, false)
	if err != nil {
		return nil, fmt.Errorf("square: %w", err)
	}
	x, n, k, labels, targeted := bt.X, info.n, info.k, info.goal, info.targets
	c, h, w := shapeCHW(info.shape)
	size := c * h * w
	if k < 2 {
		return nil, fmt.Errorf("square: the margin loss needs at least 2 classes, model has %d", k)
	}
	rng := rand.New(rand.NewPCG(bt.Seed, 0x73717561)) // "squa"
	res := &SquareResult{Adv: make([]float32, len(x)), Queries: make([]int, n), Success: make([]bool, n)}
	copy(res.Adv, x)
	eps := float32(s.Eps)

	// Clean check: only images not yet at the goal are attacked.
	z := make([]float32, n*k)
	if err := m.Logits(z, x); err != nil {
		return nil, err
	}
	margin := make([]float64, n)
	squareMargins(margin, z, labels, k, targeted)
	var active []int
	for i := range res.Queries {
		res.Queries[i] = 1
		if margin[i] <= 0 {
			res.Success[i] = true
		} else {
			active = append(active, i)
		}
	}
	if len(active) == 0 || s.Eps == 0 {
		return res, nil
	}

	// Vertical-stripe initialisation.
	na := len(active)
	best := make([]float32, na*size)
	for a, i := range active {
		xi, bi := x[i*size:(i+1)*size], best[a*size:(a+1)*size]
		for ch := 0; ch < c; ch++ {
			for col := 0; col < w; col++ {
				d := eps
				if rng.IntN(2) == 0 {
					d = -eps
				}
				for row := 0; row < h; row++ {
					j := ch*h*w + row*w + col
					bi[j] = min(max(xi[j]+d, 0), 1)
				}
			}
		}
	}
	lossMin := make([]float64, na)
	if err := squareEval(m, best, labels, active, k, targeted, lossMin); err != nil {
		return nil, err
	}
	for _, i := range active {
		res.Queries[i]++
	}

	// Random search. todo holds the positions (in active) still running.
	var todo []int
	for a := range active {
		if lossMin[a] > 0 {
			todo = append(todo, a)
		}
	}
	cand := make([]float32, 0, na*size)
	candLoss := make([]float64, na)
	sub := make([]int, 0, na)
	signs := make([]float32, c)
	for it := 0; it < s.Queries && len(todo) > 0; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := s.pSelection(it)
		side := int(math.RoundToEven(math.Sqrt(p * float64(h*w)))) // Python's round
		side = max(min(side, min(h, w)-1), 1)
		cand = cand[:len(todo)*size]
		sub = sub[:0]
		for t, a := range todo {
			i := active[a]
			xi, bi, ci := x[i*size:(i+1)*size], best[a*size:(a+1)*size], cand[t*size:(t+1)*size]
			copy(ci, bi)
			r0, c0 := rng.IntN(max(h-side, 1)), rng.IntN(max(w-side, 1))
			for try := 0; try < 10; try++ {
				for ch := range signs {
					signs[ch] = eps
					if rng.IntN(2) == 0 {
						signs[ch] = -eps
					}
				}
				changed := false
				for ch := 0; ch < c; ch++ {
					for row := r0; row < r0+side; row++ {
						for col := c0; col < c0+side; col++ {
							j := ch*h*w + row*w + col
							v := min(max(xi[j]+signs[ch], 0), 1)
							if v != bi[j] {
								changed = true
							}
							ci[j] = v
						}
					}
				}
				if changed {
					break
				}
			}
			sub = append(sub, i)
		}
		if err := squareEval(m, cand, labels, sub, k, targeted, candLoss[:len(todo)]); err != nil {
			return nil, err
		}
		next := todo[:0]
		for t, a := range todo {
			res.Queries[active[a]]++
			if candLoss[t] < lossMin[a] {
				lossMin[a] = candLoss[t]
				copy(best[a*size:(a+1)*size], cand[t*size:(t+1)*size])
			}
			if lossMin[a] > 0 {
				next = append(next, a)
			}
		}
		todo = next
	}
	for a, i := range active {
		if lossMin[a] <= 0 {
			res.Success[i] = true
		}
		if lossMin[a] <= 0 || s.ReturnBest {
			copy(res.Adv[i*size:(i+1)*size], best[a*size:(a+1)*size])
		}
	}
	return res, nil
}

// squareEval writes the margin losses of the images xs (one per entry of
// idx, in order; idx indexes labels).
func squareEval(m models.Classifier, xs []float32, labels, idx []int, k int, targeted bool, loss []float64) error {
	z := make([]float32, len(idx)*k)
	if err := m.Logits(z, xs); err != nil {
		return err
	}
	lab := make([]int, len(idx))
	for t, i := range idx {
		lab[t] = labels[i]
	}
	squareMargins(loss, z, lab, k, targeted)
	return nil
}

func init() {
	Register(Spec{
		Name:          "square",
		Strength:      &Strength{Key: "eps", Grid: func([]int) []float64 { return SquareEpsGrid() }},
		Summary:       "L∞ Square attack: query-only random search on one surrogate's logits, window and sign drawn per image as in the authors' code, redrawing no-op proposals (torchattacks draws one per batch) (Andriushchenko et al. 2020)",
		MaxSurrogates: 1,
		Extras: []Param{
			{Name: "queries", Kind: Int, Min: 0, Max: 1e6, Default: fixed(5000), Help: "query budget (iterations after the first query)"},
			{Name: "p_init", Kind: Float, Min: 1e-6, Max: 1, Default: fixed(0.8), Help: "initial fraction of pixels in the window"},
		},
		Defaults: func(shape []int) Params {
			eps := 8.0 / 255
			if mnistScale(shape) {
				eps = 0.3
			}
			return Params{Eps: eps, Norm: Linf}
		},
		New: func(p Params) (Attack, error) {
			if p.Norm != Linf {
				return nil, fmt.Errorf("square: only the L∞ variant is implemented")
			}
			q := p.ExtraOr("queries", 5000)
			if q != math.Trunc(q) || q < 0 || q > 1e9 {
				return nil, fmt.Errorf("square: queries %v must be a whole number >= 0", q)
			}
			s := &Square{Eps: p.Eps, Queries: int(q), PInit: p.ExtraOr("p_init", 0.8)}
			if err := s.Validate(); err != nil {
				return nil, err
			}
			return s, nil
		},
	})
}
