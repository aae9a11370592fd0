package attacks

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models"
)

// gradRecorder wraps a classifier (hiding Forward) and records the inputs of
// its Grad calls.
type gradRecorder struct {
	models.Classifier
	calls [][]float32
}

func (r *gradRecorder) Grad(dx, x []float32, seed func(z, dz []float32)) error {
	r.calls = append(r.calls, append([]float32(nil), x...))
	return r.Classifier.Grad(dx, x, seed)
}

// Acceptance test 1: the ε-ball and [0,1] after every reverse, inner and
// outer step; reproducible bytes.
func TestCWAInvariantsEveryStep(t *testing.T) {
	x, y := mnistBatch(t, 6)
	ms := []models.Classifier{lenet(t), mlp(t)}
	mk := func(name string, f func(a *CWA)) *CWA {
		a := NewCWA(0.2, 3, 1)
		a.Name = name
		if f != nil {
			f(a)
		}
		return a
	}
	for _, tc := range []struct {
		a       *CWA
		ms      []models.Classifier
		targets []int
	}{
		{mk("mi-cwa", nil), ms, nil},
		{mk("cwa", func(a *CWA) { a.Momentum = 0 }), ms, nil},
		{mk("mi-cwa-beta50", func(a *CWA) { a.InnerStep = 50 }), ms, nil},
		{mk("mi-cwa-di", func(a *CWA) { a.DI = CropDiversity{P: 1, Rate: 0.9} }), ms, nil},
		{mk("mi-cwa-ti", func(a *CWA) { a.TIKernel = 5 }), ms, nil},
		{mk("mi-cwa-mean", func(a *CWA) { a.MeanLogits = true }), ms, nil},
		{mk("mi-cwa-targeted", nil), ms, RandomTargets(y, 10, 2)},
		{mk("mi-cwa-batch4", func(a *CWA) { a.BatchSize = 4 }), ms, nil},
		{mk("mi-cwa-one-model", nil), ms[:1], nil},
	} {
		a := tc.a
		counts := map[string]int{}
		a.hook = func(phase string, _, k int, x0, cur []float32) {
			counts[phase]++
			checkEpsBall(t, a.Name+" "+phase, a.Eps, x0, cur)
		}
		adv, st, err := a.CraftStats(t.Context(), tc.ms, Batch{X: x, Labels: y, Targets: tc.targets})
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		batches := st.Batches
		if counts["outer"] != a.Steps*batches || counts["inner"] != a.Steps*batches*len(tc.ms) || counts["reverse"] != a.Steps*batches {
			t.Errorf("%s: steps checked %v", a.Name, counts)
		}
		checkEpsBall(t, a.Name, a.Eps, x, adv)
		if st.ZeroDelta != 0 {
			t.Errorf("%s: %d zero displacements", a.Name, st.ZeroDelta)
		}
		a.hook = nil
		again, err := a.Craft(t.Context(), tc.ms, Batch{X: x, Labels: y, Targets: tc.targets})
		if err != nil {
			t.Fatal(err)
		}
		if i := equalBits(adv, again); i >= 0 {
			t.Errorf("%s: not reproducible at %d", a.Name, i)
		}
	}
}

// Acceptance test 2: with r = 0, μ = 0 and a tiny β the inner loop barely
// moves, so x_1 = Π_ε(x + α·sign(Σ_k ĝ_k(x))), ĝ_k the per-image
// L2-normalised member gradients — checked against the analytic gradients
// of two linear models.
func TestCWALinearFirstStep(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	shape := []int{1, 4, 4}
	const n, k, d = 3, 3, 16
	lin := []linSurrogate{randLinear(t, r, shape, k, 0.5), randLinear(t, r, shape, k, 0.5)}
	// Small pixel values keep float32 fine enough to resolve β·ĝ.
	x := uniformImages(r, n, d, 0.01, 0.02)
	y := []int{0, 1, 2}
	const eps, alpha = 0.1, 0.02
	a := NewCWA(eps, 1, 0)
	a.Alpha, a.ReverseStep, a.InnerStep = alpha, 0, 1e-6
	for _, targeted := range []bool{false, true} {
		b := Batch{X: x, Labels: y}
		labels := y
		if targeted {
			b.Targets = []int{2, 0, 1}
			labels = b.Targets
		}
		adv, err := a.Craft(t.Context(), []models.Classifier{lin[0].m, lin[1].m}, b)
		if err != nil {
			t.Fatal(err)
		}
		decisive := 0
		for b := 0; b < n; b++ {
			xb := x[b*d : (b+1)*d]
			sum := make([]float64, d)
			for _, l := range lin {
				g := l.grad(xb, labels[b])
				var s float64
				for _, v := range g {
					s += v * v
				}
				for j, v := range g {
					if targeted {
						v = -v
					}
					sum[j] += v / math.Sqrt(s)
				}
			}
			want := append([]float32(nil), xb...)
			for j, v := range sum {
				want[j] += alpha * signf(float32(v))
			}
			project(Linf, eps, xb, want, d)
			for j, v := range sum {
				if math.Abs(v) < 0.01 {
					continue // too close to a tie to resolve at β = 1e-6
				}
				decisive++
				if adv[b*d+j] != want[j] {
					t.Errorf("targeted=%v image %d pixel %d: %v, want %v (Σĝ = %v)", targeted, b, j, adv[b*d+j], want[j], v)
				}
			}
		}
		if decisive < n*d*8/10 {
			t.Errorf("only %d of %d pixels decisive", decisive, n*d)
		}
	}
}

// Acceptance test 3: member k's gradient is taken at x^{k−1}, the point
// the previous member's inner step reached, not at x_t.
func TestCWAOrderDependence(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	shape := []int{1, 4, 4}
	const n, k, d = 2, 3, 16
	lin := []linSurrogate{randLinear(t, r, shape, k, 2), randLinear(t, r, shape, k, 2)}
	x := uniformImages(r, n, d, 0.3, 0.7)
	y := []int{1, 2}
	rec := []*gradRecorder{{Classifier: lin[0].m}, {Classifier: lin[1].m}}
	const eps, beta = 0.2, 0.1
	a := NewCWA(eps, 1, 0)
	a.ReverseStep, a.InnerStep = 0, beta
	var inner [][]float32
	a.hook = func(phase string, _, _ int, _, cur []float32) {
		if phase == "inner" {
			inner = append(inner, append([]float32(nil), cur...))
		}
	}
	if _, err := a.Craft(t.Context(), []models.Classifier{rec[0], rec[1]}, Batch{X: x, Labels: y}); err != nil {
		t.Fatal(err)
	}
	if len(rec[0].calls) != 1 || len(rec[1].calls) != 1 || len(inner) != 2 {
		t.Fatalf("calls %d, %d; inner steps %d", len(rec[0].calls), len(rec[1].calls), len(inner))
	}
	if equalBits(rec[0].calls[0], x) >= 0 {
		t.Error("member 1 was not evaluated at x_t (r = 0)")
	}
	if i := equalBits(rec[1].calls[0], inner[0]); i >= 0 {
		t.Errorf("member 2 was not evaluated at x^1 (differs at %d)", i)
	}
	if equalBits(inner[0], x) < 0 {
		t.Fatal("degenerate test: x^1 = x_t")
	}
	// Analytically: x^2 = Π(x^1 + β·ĝ_2(x^1)) (μ = 0), and evaluating ĝ_2
	// at x_t instead would give a visibly different point.
	step := func(at []float32) []float64 {
		out := make([]float64, n*d)
		for b := 0; b < n; b++ {
			g := lin[1].grad(at[b*d:(b+1)*d], y[b])
			var s float64
			for _, v := range g {
				s += v * v
			}
			for j, v := range g {
				p := float64(inner[0][b*d+j]) + beta*v/math.Sqrt(s)
				p = math.Min(math.Max(p, float64(x[b*d+j])-eps), float64(x[b*d+j])+eps)
				out[b*d+j] = math.Min(math.Max(p, 0), 1)
			}
		}
		return out
	}
	right, wrong := step(inner[0]), step(x)
	var errRight, gap float64
	for j := range right {
		errRight = math.Max(errRight, math.Abs(right[j]-float64(inner[1][j])))
		gap = math.Max(gap, math.Abs(right[j]-wrong[j]))
	}
	if errRight > 1e-5 {
		t.Errorf("x^2 is %v from Π(x^1 + β·ĝ_2(x^1))", errRight)
	}
	if gap < 1e-3 {
		t.Errorf("degenerate test: ĝ_2 at x^1 and at x_t give points only %v apart", gap)
	}
}

// The reverse step goes against the fused-loss gradient of the SUM of
// logits (the code) or their mean (MeanLogits), sign only.
func TestCWAReverseStep(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	shape := []int{1, 4, 4}
	const n, k, d = 2, 3, 16
	lin := []linSurrogate{randLinear(t, r, shape, k, 1), randLinear(t, r, shape, k, 1)}
	x := uniformImages(r, n, d, 0.3, 0.7)
	y := []int{0, 2}
	for _, mean := range []bool{false, true} {
		a := NewCWA(0.2, 1, 1)
		a.ReverseStep, a.MeanLogits = 0.05, mean
		var rev []float32
		a.hook = func(phase string, _, _ int, _, cur []float32) {
			if phase == "reverse" {
				rev = append([]float32(nil), cur...)
			}
		}
		if _, err := a.Craft(t.Context(), []models.Classifier{lin[0].m, lin[1].m}, Batch{X: x, Labels: y}); err != nil {
			t.Fatal(err)
		}
		scale := 1.0
		if mean {
			scale = 0.5
		}
		for b := 0; b < n; b++ {
			// Fused logits z = scale·Σ_k (W_k x + b_k); ∇CE = scale·Σ_k W_kᵀ(p − e_y).
			z := make([]float64, k)
			for _, l := range lin {
				for c := 0; c < k; c++ {
					s := float64(l.b[c])
					for j := 0; j < d; j++ {
						s += float64(l.w[c*d+j]) * float64(x[b*d+j])
					}
					z[c] += scale * s
				}
			}
			mx := math.Max(z[0], math.Max(z[1], z[2]))
			var e float64
			for c := range z {
				z[c] = math.Exp(z[c] - mx)
				e += z[c]
			}
			for j := 0; j < d; j++ {
				var g float64
				for c := range z {
					p := z[c] / e
					if c == y[b] {
						p--
					}
					for _, l := range lin {
						g += scale * float64(l.w[c*d+j]) * p
					}
				}
				want := x[b*d+j] - 0.05*signf(float32(g))
				if math.Abs(g) > 1e-4 && rev[b*d+j] != min(max(want, 0), 1) {
					t.Errorf("mean=%v image %d pixel %d: reverse step to %v, want %v", mean, b, j, rev[b*d+j], want)
				}
			}
		}
	}
}

// <A x, g> = <x, Aᵀ g>, and A is RandomCrop(⌊0.9W⌋, padding W−⌊0.9W⌋)
// followed by a zero pad back to W, written out the long way.
func TestCWACrop(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const c, h, w, n = 2, 13, 11, 2
	for rep := 0; rep < 30; rep++ {
		d := CropDiversity{P: 1, Rate: 0.9}.draw(c, h, w, r)
		if !d.active {
			t.Fatal("p=1 draw inactive")
		}
		x := make([]float32, n*c*h*w)
		g := make([]float32, len(x))
		for i := range x {
			x[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		ax := make([]float32, len(x))
		gx := make([]float32, len(x))
		d.apply(ax, x, n)
		d.adjoint(gx, g, n)
		var p, q float64
		for i := range x {
			p += float64(ax[i]) * float64(g[i])
			q += float64(x[i]) * float64(gx[i])
		}
		if math.Abs(p-q) > 1e-4*(1+math.Abs(p)) {
			t.Fatalf("<Ax,g> = %v, <x,Aᵀg> = %v", p, q)
		}
		// Long way: pad by ph/pw, crop ch×cw at (oy, ox), pad back at (top, left).
		ph, pw := h-d.ch, w-d.cw
		if hh, ww := h, w; d.ch != int(0.9*float64(hh)) || d.cw != int(0.9*float64(ww)) {
			t.Fatalf("crop %d×%d", d.ch, d.cw)
		}
		oy, ox := d.dy+ph+d.top, d.dx+pw+d.left
		if oy < 0 || oy > 3*ph || ox < 0 || ox > 3*pw || d.top > ph || d.left > pw {
			t.Fatalf("offsets out of range: %+v", d)
		}
		for p := 0; p < n*c; p++ {
			padded := make([]float32, (h+2*ph)*(w+2*pw))
			for i := 0; i < h; i++ {
				for j := 0; j < w; j++ {
					padded[(i+ph)*(w+2*pw)+j+pw] = x[p*h*w+i*w+j]
				}
			}
			want := make([]float32, h*w)
			for i := 0; i < d.ch; i++ {
				for j := 0; j < d.cw; j++ {
					want[(i+d.top)*w+j+d.left] = padded[(i+oy)*(w+2*pw)+j+ox]
				}
			}
			for i := range want {
				if ax[p*h*w+i] != want[i] {
					t.Fatalf("plane %d pixel %d: %v, want %v", p, i, ax[p*h*w+i], want[i])
				}
			}
		}
	}
	if (CropDiversity{P: 0, Rate: 0.9}).draw(c, h, w, r).active {
		t.Error("p=0 draw active")
	}
}

// An all-zero member gradient and a zero displacement: no NaN, counted.
func TestCWAZeroGuards(t *testing.T) {
	x, y := mnistBatch(t, 3)
	stub := zeroGradModel{shape: []int{1, 28, 28}, k: 10}
	a := NewCWA(0.2, 2, 1)
	adv, st, err := a.CraftStats(t.Context(), []models.Classifier{stub, stub}, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if st.ZeroGrad != 2*2*3 || st.ZeroDelta != 2 {
		t.Errorf("stats %+v, want ZeroGrad 12, ZeroDelta 2", st)
	}
	if i := equalBits(adv, x); i >= 0 {
		t.Errorf("a zero gradient moved pixel %d to %v", i, adv[i])
	}
}

// The whole-batch L1 norm: a batch split into BatchSize pieces is the
// pieces attacked separately.
func TestCWABatchSize(t *testing.T) {
	x, y := mnistBatch(t, 6)
	ms := []models.Classifier{lenet(t), mlp(t)}
	a := NewCWA(0.2, 3, 1)
	a.BatchSize = 3
	whole, st, err := a.CraftStats(t.Context(), ms, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if st.Batches != 2 || st.BatchSize != 3 {
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

func TestCWABadInput(t *testing.T) {
	x, y := mnistBatch(t, 2)
	ms := []models.Classifier{lenet(t)}
	mk := func(f func(a *CWA)) *CWA { a := NewCWA(0.1, 2, 1); f(a); return a }
	for _, tc := range []struct {
		a    *CWA
		want string
	}{
		{NewCWA(-0.1, 2, 1), "eps"},
		{NewCWA(0.1, 0, 1), "steps"},
		{mk(func(a *CWA) { a.Norm = L2 }), "L∞"},
		{mk(func(a *CWA) { a.InnerStep = -1 }), "inner step"},
		{mk(func(a *CWA) { a.ReverseStep = math.NaN() }), "reverse step"},
		{mk(func(a *CWA) { a.Momentum = -1 }), "momentum"},
		{mk(func(a *CWA) { a.DI = CropDiversity{P: 1.5, Rate: 0.9} }), "DI probability"},
		{mk(func(a *CWA) { a.DI = CropDiversity{P: 1, Rate: 1.5} }), "crop rate"},
		{mk(func(a *CWA) { a.TIKernel = 2 }), "odd"},
	} {
		if _, err := tc.a.Craft(t.Context(), ms, Batch{X: x, Labels: y}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", tc.a, err, tc.want)
		}
	}
	if _, err := NewCWA(0.1, 2, 1).Craft(t.Context(), nil, Batch{X: x, Labels: y}); err == nil {
		t.Error("no surrogates accepted")
	}
	if _, err := NewCWA(0.1, 2, 1).Craft(t.Context(), ms, Batch{X: x, Labels: []int{0, -1}}); err == nil {
		t.Error("label -1 accepted")
	}
}

func TestCWARegistry(t *testing.T) {
	x, y := mnistBatch(t, 2)
	ms := []models.Classifier{lenet(t), mlp(t)}
	for _, name := range []string{"cwa", "mi-cwa"} {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		def := s.Defaults([]int{1, 28, 28})
		if def.Eps != 0.3 || math.Abs(def.Alpha-0.06) > 1e-12 || def.Steps != 10 {
			t.Errorf("%s MNIST defaults %+v", name, def)
		}
		if nat := s.Defaults([]int{3, 224, 224}); nat.Eps != 16.0/255 || nat.Alpha != 16.0/255/5 {
			t.Errorf("%s natural defaults %+v", name, nat)
		}
		// ε given, α not: α = ε/5 and r = ε/15 of the ε in use.
		p := Params{Eps: 0.15, Steps: 2, Set: map[string]bool{"eps": true, "steps": true}}
		atk, err := s.New(s.Complete(p, []int{1, 28, 28}))
		if err != nil {
			t.Fatal(err)
		}
		a := atk.(*CWA)
		wantMu := map[string]float64{"cwa": 0, "mi-cwa": 1}[name]
		if a.Alpha != 0.15/5 || a.ReverseStep != 0.15/15 || a.InnerStep != 250 || a.Momentum != wantMu || a.MeanLogits {
			t.Errorf("%s: %+v", name, a)
		}
		p = Params{Eps: 0.15, Alpha: 0.01, Steps: 2, Set: map[string]bool{"eps": true, "alpha": true, "steps": true},
			Extra: map[string]float64{"inner_step": 50, "reverse_step": 0, "mean_logits": 1, "di_prob": 1, "ti_kernel": 3}}
		if err := s.CheckExtras(p); err != nil {
			t.Error(err)
		}
		atk, err = s.New(p.Merge(def))
		if err != nil {
			t.Fatal(err)
		}
		a = atk.(*CWA)
		if a.Alpha != 0.01 || a.ReverseStep != 0 || a.InnerStep != 50 || !a.MeanLogits || a.DI.P != 1 || a.DI.Rate != 0.9 || a.TIKernel != 3 {
			t.Errorf("%s: %+v", name, a)
		}
		adv, err := atk.Craft(t.Context(), ms, Batch{X: x, Labels: y})
		if err != nil {
			t.Fatal(err)
		}
		checkEpsBall(t, name, 0.15, x, adv)
		if err := s.CheckExtras(Params{Extra: map[string]float64{"beta": 1}}); err == nil {
			t.Errorf("%s accepts beta", name)
		}
	}
}

// The outer step: m = μ·m + Δ/‖Δ‖₁ with the L1 norm over the whole batch,
// x_{t+1} = Π(x_t + α·sign(m)); and the whole-batch norm makes an image's
// result depend on the rest of its batch.
func TestCWAOuterMomentum(t *testing.T) {
	x, y := mnistBatch(t, 4)
	ms := []models.Classifier{lenet(t), mlp(t)}
	a := NewCWA(0.2, 3, 1)
	a.InnerStep = 0.02 // below saturation, so Δ varies in size across images
	prev := append([]float32(nil), x...)
	var last []float32
	m := make([]float64, len(x))
	checked := 0
	a.hook = func(phase string, tt, k int, _, cur []float32) {
		switch phase {
		case "inner":
			last = append(last[:0], cur...)
		case "outer":
			var l1 float64
			for j := range last {
				l1 += math.Abs(float64(last[j] - prev[j]))
			}
			for j := range m {
				m[j] = m[j] + float64(last[j]-prev[j])/l1
				want := prev[j] + float32(a.Alpha)*signf(float32(m[j]))
				want = min(max(want, x[j]-float32(a.Eps), 0), x[j]+float32(a.Eps), 1)
				if math.Abs(m[j]) > 1e-6 {
					checked++
					if cur[j] != want {
						t.Fatalf("t=%d value %d: %v, want %v", tt, j, cur[j], want)
					}
				}
			}
			prev = append(prev[:0], cur...)
		}
	}
	whole, err := a.Craft(t.Context(), ms, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	if checked < len(x) {
		t.Errorf("only %d values checked", checked)
	}
	a.hook = nil
	alone, err := a.Craft(t.Context(), ms, Batch{X: x[:784], Labels: y[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if equalBits(alone, whole[:784]) < 0 {
		t.Error("image 0 attacked alone equals image 0 attacked in a batch of 4: the L1 norm is not over the whole batch")
	}
}
