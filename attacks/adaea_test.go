package attacks

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
)

// zeroGradModel is a stub classifier whose logits are zero whatever the
// input: every input gradient is exactly zero.
type zeroGradModel struct {
	shape []int
	k     int
}

func (c zeroGradModel) InputShape() []int { return c.shape }
func (c zeroGradModel) NumClasses() int   { return c.k }
func (c zeroGradModel) Logits(dst, x []float32) error {
	clear(dst)
	return nil
}
func (c zeroGradModel) Grad(dx, x []float32, seed func(z, dz []float32)) error {
	z := make([]float32, len(x)/c.size()*c.k)
	dz := make([]float32, len(z))
	seed(z, dz)
	clear(dx)
	return nil
}
func (c zeroGradModel) size() int {
	s := 1
	for _, d := range c.shape {
		s *= d
	}
	return s
}

// linSurrogate is a random softmax regression z = Wx + b on d = C·H·W inputs,
// with its weights for analytic checks.
type linSurrogate struct {
	m    *models.Model
	w, b []float32
	k, d int
}

func randLinear(t *testing.T, r *rand.Rand, shape []int, k int, scale float64) linSurrogate {
	t.Helper()
	d := 1
	for _, s := range shape {
		d *= s
	}
	w := make([]float32, k*d)
	b := make([]float32, k)
	for i := range w {
		w[i] = float32(r.NormFloat64() * scale)
	}
	for i := range b {
		b[i] = float32(r.NormFloat64() * 0.1)
	}
	m, err := arch.SoftmaxRegression(shape, k, w, b)
	if err != nil {
		t.Fatal(err)
	}
	return linSurrogate{m, w, b, k, d}
}

// probs is softmax(Wx+b) for one image, in float64.
func (l linSurrogate) probs(x []float32) []float64 {
	z := make([]float64, l.k)
	mx := math.Inf(-1)
	for c := range z {
		s := float64(l.b[c])
		for j, v := range x {
			s += float64(l.w[c*l.d+j]) * float64(v)
		}
		z[c] = s
		mx = math.Max(mx, s)
	}
	var e float64
	for c := range z {
		z[c] = math.Exp(z[c] - mx)
		e += z[c]
	}
	for c := range z {
		z[c] /= e
	}
	return z
}

// ce is the cross-entropy of one image.
func (l linSurrogate) ce(x []float32, y int) float64 { return -math.Log(l.probs(x)[y]) }

// grad is ∇ₓ CE for one image: Wᵀ(softmax − e_y).
func (l linSurrogate) grad(x []float32, y int) []float64 {
	p := l.probs(x)
	p[y]--
	g := make([]float64, l.d)
	for c, pc := range p {
		for j := range g {
			g[j] += float64(l.w[c*l.d+j]) * pc
		}
	}
	return g
}

func uniformImages(r *rand.Rand, n, d int, lo, hi float64) []float32 {
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return x
}

// checkEpsBall fails when x leaves [0,1] or the ε-ball around x0.
func checkEpsBall(t *testing.T, what string, eps float64, x0, x []float32) {
	t.Helper()
	for i, v := range x {
		if math.IsNaN(float64(v)) || v < 0 || v > 1 {
			t.Fatalf("%s: value %d = %v outside [0,1]", what, i, v)
		}
		if math.Abs(float64(v-x0[i])) > eps+1e-7 {
			t.Fatalf("%s: value %d moved %v > ε = %v", what, i, v-x0[i], eps)
		}
	}
}

// Acceptance test 1: with K copies of one network every ratio is 1, so
// w = 1/K, every cosine is 1, so M ≡ 1, and AdaEA is the plain
// logit-averaging ensemble (from the same start, with the same RNG).
func TestAdaEAIdenticalMembers(t *testing.T) {
	x, y := mnistBatch(t, 8)
	net := lenet(t)
	const K = 3
	ms := []models.Classifier{net, net, net}
	ti := AdaEATI(0.2, 0.03, 4, 0.9)
	ti.DI.P, ti.TIKernel = 0, 5
	tiRef := TIFGSM(0.2, 0.03, 4, 0.9)
	tiRef.DI.P, tiRef.TIKernel = 0, 5
	for _, tc := range []struct {
		name string
		a    *AdaEA
		ref  *Config
	}{
		{"ifgsm", NewAdaEA(0.2, 0.03, 5), IFGSM(0.2, 0.03, 5)},
		{"mi", AdaEAMI(0.2, 0.03, 5, 0.9), MIFGSM(0.2, 0.03, 5, 0.9)},
		{"mi-agm-t0", func() *AdaEA { a := AdaEAMI(0.2, 0.03, 5, 1); a.AGMEveryStep = false; return a }(), MIFGSM(0.2, 0.03, 5, 1)},
		{"ti", ti, tiRef},
		{"fgsm", AdaEAFGSM(0.2, 0.03), FGSM(0.2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.ref.Craft(t.Context(), ms, Batch{X: x, Labels: y})
			if err != nil {
				t.Fatal(err)
			}
			g, err := newGradient(ms, FuseLogits, false)
			if err != nil {
				t.Fatal(err)
			}
			// The same start (x) and the same RNG stream as Config.Craft.
			rng := rand.New(rand.NewPCG(0, 0x61647661))
			var st AdaEAStats
			got, err := tc.a.run(t.Context(), g, net.InputShape(), x, append([]float32(nil), x...), y, rng, &st)
			if err != nil {
				t.Fatal(err)
			}
			if i := equalBits(got, want); i >= 0 {
				t.Fatalf("AdaEA differs from the averaged ensemble at %d: %v vs %v", i, got[i], want[i])
			}
			for _, w := range st.Weights {
				for _, v := range w {
					if float32(v) != 1/float32(K) || math.Abs(v-1.0/K) > 1e-15 {
						t.Fatalf("weights %v, want 1/%d", w, K)
					}
				}
			}
			for _, m := range st.Masked {
				if m != 0 {
					t.Fatalf("DRF masked %v of the pixels of identical members", m)
				}
			}
			// The public path with no Gaussian start is the same.
			noStart := *tc.a
			noStart.StartStd = 0
			pub, err := noStart.Craft(t.Context(), ms, Batch{X: x, Labels: y})
			if err != nil {
				t.Fatal(err)
			}
			if i := equalBits(pub, want); i >= 0 {
				t.Fatalf("Craft (no start) differs at %d", i)
			}
		})
	}
}

// Acceptance test 2: the DRF average with the reference quirk and without.
func TestAdaEADRFScore(t *testing.T) {
	const K = 4
	cos := make([][]float64, K)
	for i := range cos {
		cos[i] = make([]float64, K)
		for j := range cos[i] {
			if i != j {
				cos[i][j] = -0.35
			}
		}
	}
	if s := drfScore(cos, true); math.Abs(s-(-0.2625)) > 1e-12 {
		t.Errorf("quirk: s = %v, want -0.2625", s)
	}
	if s := drfScore(cos, false); math.Abs(s-(-0.35)) > 1e-12 {
		t.Errorf("intended: s = %v, want -0.35", s)
	}
	if !(drfScore(cos, true) >= -0.3) || drfScore(cos, false) >= -0.3 {
		t.Error("mask: want M=1 with the quirk, M=0 without")
	}
	// The quirk is s* − a_K/K for arbitrary cosines.
	r := rand.New(rand.NewPCG(3, 4))
	for rep := 0; rep < 20; rep++ {
		k := 2 + r.IntN(5)
		c := make([][]float64, k)
		for i := range c {
			c[i] = make([]float64, k)
		}
		var star float64
		for i := 0; i < k; i++ {
			for j := i + 1; j < k; j++ {
				v := 2*r.Float64() - 1
				c[i][j], c[j][i] = v, v
				star += v
			}
		}
		star *= 2 / float64(k*(k-1))
		var aK float64
		for j := 0; j < k-1; j++ {
			aK += c[k-1][j]
		}
		aK /= float64(k - 1)
		if s := drfScore(c, false); math.Abs(s-star) > 1e-12 {
			t.Errorf("K=%d: intended s = %v, want %v", k, s, star)
		}
		if s := drfScore(c, true); math.Abs(s-(star-aK/float64(k))) > 1e-12 {
			t.Errorf("K=%d: quirk s = %v, want s*−a_K/K = %v", k, s, star-aK/float64(k))
		}
	}
}

// The per-pixel cosine of drfMask: channel-wise, normalised first.
func TestAdaEADRFMask(t *testing.T) {
	// C=1, K=2, one image of 4 pixels: sign(g1·g2), 0 when a gradient is 0
	// or below 1e-20 (F.normalize then cosine_similarity's eps).
	g1 := []float32{1, -2, 3, 1e-25}
	g2 := []float32{5, 1e-3, 0, 1}
	mask := make([]float32, 4)
	frac := drfMask(mask, [][]float32{g1, g2}, 1, 1, 4, false, -0.3)
	// s = cos: +1, −1, 0, 1e-25/1e-8·… ≈ 0 → masks 1, 0, 1, 1.
	want := []float32{1, 0, 1, 1}
	for i := range want {
		if mask[i] != want[i] {
			t.Fatalf("C=1 mask %v, want %v", mask, want)
		}
	}
	if frac != 0.25 {
		t.Errorf("masked fraction %v, want 0.25", frac)
	}
	// The quirk with K=2 halves the cosine: −1 → −0.5 < −0.3 still masked,
	// and with threshold −0.6 it is kept.
	drfMask(mask, [][]float32{g1, g2}, 1, 1, 4, true, -0.6)
	if mask[1] != 1 {
		t.Errorf("quirk K=2: s = −0.5 should pass threshold −0.6")
	}
	// C=3, K=3, one pixel per image, two images: known cosines.
	// Image 0: a=(1,0,0), b=(0,1,0), c=(−1,0,0): cosines 0, −1, 0 → s* = −1/3.
	// Image 1: all equal → s* = 1.
	// Layout n×C×hw with hw = 1.
	a := []float32{1, 0, 0, 2, 2, 2}
	b := []float32{0, 1, 0, 1, 1, 1}
	c := []float32{-3, 0, 0, 5, 5, 5}
	m2 := make([]float32, 2)
	drfMask(m2, [][]float32{a, b, c}, 2, 3, 1, false, -0.3)
	if m2[0] != 0 || m2[1] != 1 {
		t.Errorf("C=3 intended mask %v, want [0 1]", m2)
	}
	// Quirk: rows a, b only: a_a = (0 − 1)/2, a_b = 0 → s = −0.5/3 ≥ −0.3.
	drfMask(m2, [][]float32{a, b, c}, 2, 3, 1, true, -0.3)
	if m2[0] != 1 || m2[1] != 1 {
		t.Errorf("C=3 quirk mask %v, want [1 1]", m2)
	}
}

// Acceptance test 3: the AGM weights in closed form.
func TestAdaEAAGMClosedForm(t *testing.T) {
	// loss[i][j] = L_i(x̂_j).
	L := [][]float64{{0.8, 1.3}, {2.1, 0.6}}
	const beta = 10.0
	e1 := math.Exp(beta * L[1][0] / L[1][1]) // w_1 ∝ exp(β·L_2(x̂_1)/L_2(x̂_2))
	e2 := math.Exp(beta * L[0][1] / L[0][0]) // w_2 ∝ exp(β·L_1(x̂_2)/L_1(x̂_1))
	w := agmWeights(L, beta, false)
	if math.Abs(w[0]-e1/(e1+e2)) > 1e-12 || math.Abs(w[1]-e2/(e1+e2)) > 1e-12 {
		t.Errorf("w = %v, want [%v %v]", w, e1/(e1+e2), e2/(e1+e2))
	}
	// Targeted: the inverse ratios.
	t1, t2 := math.Exp(beta*L[1][1]/L[1][0]), math.Exp(beta*L[0][0]/L[0][1])
	if wt := agmWeights(L, beta, true); math.Abs(wt[0]-t1/(t1+t2)) > 1e-12 {
		t.Errorf("targeted w = %v, want [%v …]", wt, t1/(t1+t2))
	}
	// Invariants: β = 0 is uniform; weights sum to 1; permuting the members
	// permutes the weights; a zero own-loss does not give NaN.
	if w0 := agmWeights(L, 0, false); w0[0] != 0.5 || w0[1] != 0.5 {
		t.Errorf("β=0: %v", w0)
	}
	L3 := [][]float64{{0.5, 1, 2}, {3, 0.7, 1.1}, {0.9, 2.2, 0.4}}
	w3 := agmWeights(L3, 2, false)
	perm := []int{2, 0, 1}
	P := make([][]float64, 3)
	for i := range P {
		P[i] = make([]float64, 3)
		for j := range P[i] {
			P[i][j] = L3[perm[i]][perm[j]]
		}
	}
	wp := agmWeights(P, 2, false)
	var s float64
	for i := range wp {
		s += w3[i]
		if math.Abs(wp[i]-w3[perm[i]]) > 1e-12 {
			t.Errorf("permuted weights %v, want %v permuted by %v", wp, w3, perm)
		}
	}
	if math.Abs(s-1) > 1e-12 {
		t.Errorf("weights sum to %v", s)
	}
	for _, v := range agmWeights([][]float64{{0, 1}, {0, 0}}, 10, false) {
		if math.IsNaN(v) || v < 0 || v > 1 {
			t.Errorf("zero losses: weight %v", v)
		}
	}
}

// AGM end to end on two linear models: the weights AdaEA records at t=0
// match the closed form computed here from the analytic gradients and
// losses; swapping the members swaps the weights.
func TestAdaEAAGMLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	shape := []int{1, 4, 4}
	const n, k = 5, 4
	l1, l2 := randLinear(t, r, shape, k, 0.5), randLinear(t, r, shape, k, 0.5)
	x := uniformImages(r, n, 16, 0.2, 0.8)
	y := []int{0, 1, 2, 3, 1}
	const eps, alpha, beta = 0.1, 0.05, 3.0
	lin := []linSurrogate{l1, l2}
	// Analytic: x̂_j = Π(x + α·sign(∇L_j)), loss[i][j] = batch-mean CE_i(x̂_j).
	xhat := make([][]float32, 2)
	for j, l := range lin {
		xhat[j] = append([]float32(nil), x...)
		for b := 0; b < n; b++ {
			g := l.grad(x[b*16:(b+1)*16], y[b])
			for p, v := range g {
				xhat[j][b*16+p] += alpha * signf(float32(v))
			}
		}
		project(Linf, eps, x, xhat[j], 16)
	}
	L := make([][]float64, 2)
	for i, l := range lin {
		L[i] = make([]float64, 2)
		for j := range xhat {
			for b := 0; b < n; b++ {
				L[i][j] += l.ce(xhat[j][b*16:(b+1)*16], y[b]) / n
			}
		}
	}
	e1 := math.Exp(beta * L[1][0] / L[1][1])
	e2 := math.Exp(beta * L[0][1] / L[0][0])
	want := []float64{e1 / (e1 + e2), e2 / (e1 + e2)}
	a := NewAdaEA(eps, alpha, 2)
	a.Beta, a.StartStd = beta, 0
	_, st, err := a.CraftStats(t.Context(), []models.Classifier{l1.m, l2.m}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Weights) != 2 {
		t.Fatalf("%d weight vectors for 2 steps with AGM every step", len(st.Weights))
	}
	for i := range want {
		if math.Abs(st.Weights[0][i]-want[i]) > 1e-5 {
			t.Fatalf("weights %v, want %v (losses %v)", st.Weights[0], want, L)
		}
	}
	if math.Abs(want[0]-0.5) < 1e-3 {
		t.Fatalf("degenerate test: weights %v are nearly uniform", want)
	}
	// The first step: x_1 = Π(x + α·sign(∇CE(w_1 z_1 + w_2 z_2) ⊙ M)), with
	// C = 1 and K = 2: s = sign(g_1·g_2)/2 (quirk), so M = 0 exactly where
	// the members' gradients disagree in sign.
	// fused is ∇ₓ CE(w_1 z_1 + w_2 z_2, y) for one image.
	fused := func(xb []float32, yb int, w []float64) []float64 {
		z := make([]float64, k)
		for c := range z {
			for i, l := range lin {
				s := float64(l.b[c])
				for j, v := range xb {
					s += float64(l.w[c*16+j]) * float64(v)
				}
				z[c] += w[i] * s
			}
		}
		var e float64
		for c := range z {
			z[c] = math.Exp(z[c])
			e += z[c]
		}
		g := make([]float64, len(xb))
		for c := range z {
			p := z[c] / e
			if c == yb {
				p--
			}
			for j := range g {
				g[j] += p * (w[0]*float64(l1.w[c*16+j]) + w[1]*float64(l2.w[c*16+j]))
			}
		}
		return g
	}
	// With λ = −2 nothing is masked, and where the members disagree the
	// weights decide the sign (checked: swapped weights flip some signs).
	for _, thr := range []float64{-0.3, -2} {
		one := NewAdaEA(eps, alpha, 1)
		one.Beta, one.StartStd, one.Threshold = beta, 0, thr
		x1, s1, err := one.CraftStats(t.Context(), []models.Classifier{l1.m, l2.m}, Batch{X: x, Labels: y})
		if err != nil {
			t.Fatal(err)
		}
		w1 := s1.Weights[0]
		decisive, masked, weighed := 0, 0, 0
		for b := 0; b < n; b++ {
			xb := x[b*16 : (b+1)*16]
			g1, g2 := l1.grad(xb, y[b]), l2.grad(xb, y[b])
			fg, swapped := fused(xb, y[b], w1), fused(xb, y[b], []float64{w1[1], w1[0]})
			for j, g := range fg {
				if g1[j]*g2[j] < 0 && thr > -1 {
					g = 0
					masked++
				} else if math.Abs(g) < 1e-6 {
					continue
				}
				decisive++
				want := xb[j] + alpha*signf(float32(g))
				want = min(max(want, xb[j]-eps, 0), xb[j]+eps, 1)
				if x1[b*16+j] != want {
					t.Errorf("λ=%v image %d pixel %d: x_1 = %v, want %v (fused g %v, g1 %v, g2 %v)", thr, b, j, x1[b*16+j], want, g, g1[j], g2[j])
				}
				if g*swapped[j] < 0 {
					weighed++
				}
			}
		}
		if decisive < n*16*8/10 || (thr > -1 && masked == 0) || (thr < -1 && weighed == 0) {
			t.Errorf("degenerate first-step test (λ=%v): %d masked, %d decisive, %d set by the weights", thr, masked, decisive, weighed)
		}
	}
	_, sw, err := a.CraftStats(t.Context(), []models.Classifier{l2.m, l1.m}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(sw.Weights[0][0]-st.Weights[0][1]) > 1e-9 || math.Abs(sw.Weights[0][1]-st.Weights[0][0]) > 1e-9 {
		t.Errorf("swapped members: %v vs %v", sw.Weights[0], st.Weights[0])
	}
	// AGM at t=0 only: one weight vector.
	a.AGMEveryStep = false
	_, s0, err := a.CraftStats(t.Context(), []models.Classifier{l1.m, l2.m}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if len(s0.Weights) != 1 || s0.Weights[0][0] != st.Weights[0][0] {
		t.Errorf("AGM at t=0 only: weights %v", s0.Weights)
	}
}

// Invariants after every step, reproducibility, every variant.
func TestAdaEAInvariants(t *testing.T) {
	x, y := mnistBatch(t, 6)
	ms := []models.Classifier{lenet(t), mlp(t)}
	targeted := AdaEAMI(0.2, 0.03, 4, 0.9)
	targeted.Name = "adaea-mi-targeted"
	tgt := RandomTargets(y, 10, 1)
	intended := AdaEADI(0.2, 0.03, 4, 0.9)
	intended.DRFReferenceQuirk, intended.Name = false, "adaea-di-intended"
	di1 := AdaEADI(0.2, 0.03, 4, 0.9)
	di1.DI.P, di1.Name = 1, "adaea-di-p1"
	batched := AdaEAMI(0.2, 0.03, 3, 0.9)
	batched.BatchSize, batched.Name = 4, "adaea-mi-batch4"
	for _, a := range []*AdaEA{NewAdaEA(0.2, 0.03, 4), AdaEAMI(0.2, 0.03, 4, 0.9), AdaEADI(0.2, 0.03, 4, 0.9),
		AdaEATI(0.2, 0.03, 3, 0), AdaEAFGSM(0.25, 0.03), targeted, intended, di1, batched} {
		b := Batch{X: x, Labels: y}
		if a == targeted {
			b.Targets = tgt
		}
		steps := 0
		a.hook = func(_ int, x0, adv []float32) {
			steps++
			checkEpsBall(t, a.Name, a.Eps, x0, adv)
		}
		adv, st, err := a.CraftStats(t.Context(), ms, b)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		want := a.Steps
		if a.SingleStep {
			want = 1
		}
		if a.BatchSize > 0 {
			want *= (len(y) + a.BatchSize - 1) / a.BatchSize
		}
		if steps != want {
			t.Errorf("%s: %d steps checked, want %d", a.Name, steps, want)
		}
		checkEpsBall(t, a.Name, a.Eps, x, adv)
		if a.BatchSize > 0 && (st.Batches != 2 || st.BatchSize != 4 || len(st.Weights) != 2*a.Steps) {
			t.Errorf("%s: stats %+v", a.Name, st)
		}
		a.hook = nil
		again, err := a.Craft(t.Context(), ms, b)
		if err != nil {
			t.Fatal(err)
		}
		if i := equalBits(adv, again); i >= 0 {
			t.Errorf("%s: not reproducible at %d", a.Name, i)
		}
		other := b
		other.Seed = 99
		diff, err := a.Craft(t.Context(), ms, other)
		if err != nil {
			t.Fatal(err)
		}
		if equalBits(adv, diff) < 0 && a.StartStd > 0 {
			t.Errorf("%s: seed 99 gives the same bytes as seed 0", a.Name)
		}
	}
}

// A batch split into BatchSize pieces is the pieces attacked separately
// (no randomness used without a start or DI).
func TestAdaEABatchSize(t *testing.T) {
	x, y := mnistBatch(t, 6)
	ms := []models.Classifier{lenet(t), mlp(t)}
	a := AdaEAMI(0.2, 0.03, 3, 0.9)
	a.StartStd, a.BatchSize = 0, 3
	whole, st, err := a.CraftStats(t.Context(), ms, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if st.Batches != 2 || len(st.Weights) != 6 {
		t.Fatalf("stats %+v", st)
	}
	a.BatchSize = 0
	for _, c := range [][2]int{{0, 3}, {3, 6}} {
		part, err := a.Craft(t.Context(), ms, Batch{X: x[c[0]*784 : c[1]*784], Labels: y[c[0]:c[1]]})
		if err != nil {
			t.Fatal(err)
		}
		if i := equalBits(part, whole[c[0]*784:c[1]*784]); i >= 0 {
			t.Errorf("images %v: batch-split run differs at %d", c, i)
		}
	}
}

// A member with an all-zero gradient: no NaN, the guard is counted.
func TestAdaEAZeroGradient(t *testing.T) {
	x, y := mnistBatch(t, 3)
	stub := zeroGradModel{shape: []int{1, 28, 28}, k: 10}
	a := AdaEAMI(0.2, 0.03, 4, 0.9)
	adv, st, err := a.CraftStats(t.Context(), []models.Classifier{stub, stub}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if st.ZeroGrad != 4*3 {
		t.Errorf("ZeroGrad = %d, want 12", st.ZeroGrad)
	}
	checkEpsBall(t, "zero", 0.2, x, adv)
}

func TestAdaEABadInput(t *testing.T) {
	x, y := mnistBatch(t, 2)
	net := lenet(t)
	two := []models.Classifier{net, net}
	l2 := NewAdaEA(1, 0.1, 2)
	l2.Norm = L2
	nanBeta := NewAdaEA(0.1, 0.01, 2)
	nanBeta.Beta = math.NaN()
	badDI := AdaEADI(0.1, 0.01, 2, 0.9)
	badDI.DI.P = 2
	evenTI := AdaEATI(0.1, 0.01, 2, 0)
	evenTI.TIKernel = 4
	for _, tc := range []struct {
		a    *AdaEA
		want string
	}{
		{NewAdaEA(-0.1, 0.01, 2), "eps"},
		{NewAdaEA(0.1, 0.01, 0), "steps"},
		{NewAdaEA(0.1, -1, 2), "alpha"},
		{l2, "L∞"},
		{nanBeta, "beta"},
		{badDI, "DI probability"},
		{evenTI, "odd"},
	} {
		if _, err := tc.a.Craft(t.Context(), two, Batch{X: x, Labels: y}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", tc.a, err, tc.want)
		}
	}
	if _, err := NewAdaEA(0.1, 0.01, 2).Craft(t.Context(), []models.Classifier{net}, Batch{X: x, Labels: y}); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("one surrogate: %v", err)
	}
	if _, err := NewAdaEA(0.1, 0.01, 2).Craft(t.Context(), two, Batch{X: x, Labels: []int{1, 10}}); err == nil {
		t.Error("label 10 accepted")
	}
	if _, err := NewAdaEA(0.1, 0.01, 2).Craft(t.Context(), two, Batch{X: x[:100], Labels: y}); err == nil {
		t.Error("short input accepted")
	}
}

func TestAdaEARegistry(t *testing.T) {
	x, y := mnistBatch(t, 2)
	ms := []models.Classifier{lenet(t), mlp(t)}
	for _, name := range []string{"adaea", "adaea-mi", "adaea-di", "adaea-ti"} {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		def := s.Defaults([]int{1, 28, 28})
		if def.Eps != 0.3 || def.Alpha != 0.03 || def.Steps != 10 {
			t.Errorf("%s MNIST defaults %+v", name, def)
		}
		if nat := s.Defaults([]int{3, 32, 32}); nat.Eps != 8.0/255 || nat.Alpha != 2.0/255 {
			t.Errorf("%s natural defaults %+v", name, nat)
		}
		p := Params{Steps: 2, Extra: map[string]float64{"beta": 5, "drf_quirk": 0, "agm_every_step": 0}, Set: map[string]bool{"steps": true}}
		if err := s.CheckExtras(p); err != nil {
			t.Error(err)
		}
		atk, err := s.New(p.Merge(def))
		if err != nil {
			t.Fatal(err)
		}
		a := atk.(*AdaEA)
		if a.Beta != 5 || a.DRFReferenceQuirk || a.AGMEveryStep || a.Threshold != -0.3 || a.Steps != 2 {
			t.Errorf("%s: %+v", name, a)
		}
		wantMu := map[string]float64{"adaea": 0, "adaea-mi": 0.9, "adaea-di": 0.9, "adaea-ti": 0}[name]
		if a.Momentum != wantMu {
			t.Errorf("%s: μ = %v, want %v", name, a.Momentum, wantMu)
		}
		adv, err := atk.Craft(t.Context(), ms, Batch{X: x, Labels: y})
		if err != nil {
			t.Fatal(err)
		}
		checkEpsBall(t, name, 0.3, x, adv)
		if err := s.CheckExtras(Params{Extra: map[string]float64{"inner_step": 1}}); err == nil {
			t.Errorf("%s accepts inner_step", name)
		}
	}
	s, _ := Lookup("adaea")
	if _, err := s.New(Params{Eps: 0.1, Alpha: 0.01, Steps: 2, Norm: L2}); err == nil {
		t.Error("adaea accepted L2")
	}
}
