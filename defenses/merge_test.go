package defenses

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/onnxgraph"
	"github.com/advmatrix/advmatrix/provenance"
)

// §7's task vectors.
var handTVs = [][]float32{
	{0.5, -2, 0.1, 1},
	{-3, 1, 0.2, 0.5},
	{2, 1.5, -0.1, -0.2},
}

func TestTaskArithmeticHandVector(t *testing.T) {
	got := TaskArithmetic(handTVs, 1)
	want := []float64{-0.5, 0.5, 0.2, 1.3}
	for j := range want {
		if math.Abs(float64(got[j])-want[j]) > 1e-6 {
			t.Fatalf("TA = %v, want %v", got, want)
		}
	}
	half := TaskArithmetic(handTVs, 0.5)
	for j := range want {
		if math.Abs(float64(half[j])-want[j]/2) > 1e-6 {
			t.Fatalf("TA λ=0.5 = %v, want %v/2", half, want)
		}
	}
}

func TestTIESHandVectors(t *testing.T) {
	for _, c := range []struct {
		merge string
		want  []float32
	}{
		{TIESSum, []float32{-3, 2.5, 0, 1}},
		{TIESMean, []float32{-3, 1.25, 0, 1}},
	} {
		got, st, err := TIES(handTVs, 0.25, c.merge)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("TIES %s = %v, want %v", c.merge, got, c.want)
		}
		// Trimmed τ̂ = [[0,−2,0,1],[−3,1,0,0],[2,1.5,0,0]]: 2 kept each;
		// coordinates 0 and 1 have both signs; coordinate 2 sums to 0 and
		// takes the majority sign.
		if !slices.Equal(st.Kept, []int{2, 2, 2}) || st.Conflicts != 2 || st.ZeroElected != 1 {
			t.Errorf("TIES stats %+v", st)
		}
	}
}

func TestTIESTrimSemantics(t *testing.T) {
	// d = 10, keep 0.2: k = 10 − 2 = 8, the 8th smallest magnitude is the
	// threshold and ⌊dK⌋+1 = 3 entries survive.
	tv := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	got, st, _ := TIES([][]float32{tv}, 0.2, TIESSum)
	if st.Kept[0] != 3 || !slices.Equal(got, []float32{0, 0, 0, 0, 0, 0, 0, 8, 9, 10}) {
		t.Errorf("trim kept %d: %v", st.Kept[0], got)
	}
	// A tie at the threshold keeps every tied entry.
	got, st, _ = TIES([][]float32{{1, 5, 5, 5}}, 0.25, TIESSum)
	if st.Kept[0] != 3 || !slices.Equal(got, []float32{0, 5, 5, 5}) {
		t.Errorf("tie: kept %d: %v", st.Kept[0], got)
	}
	// keep 1 keeps everything.
	got, _, _ = TIES([][]float32{{1, -2}}, 1, TIESSum)
	if !slices.Equal(got, []float32{1, -2}) {
		t.Errorf("keep 1: %v", got)
	}
	// When the summed signs are 0 everywhere the majority is 0 too, and
	// the code's selection then takes the negative entries.
	got, _, _ = TIES([][]float32{{1}, {-1}}, 1, TIESSum)
	if !slices.Equal(got, []float32{-1}) {
		t.Errorf("zero majority: %v", got)
	}
	for _, bad := range []float64{0, -0.1, 1.5, math.NaN()} {
		if _, _, err := TIES(handTVs, bad, TIESSum); err == nil {
			t.Errorf("keep %v accepted", bad)
		}
	}
	if _, _, err := TIES(handTVs, 0.2, "max"); err == nil {
		t.Error("merge max accepted")
	}
}

// tinyNet is a 1×4×4 → 3 classes MLP with random weights: Flatten, Gemm 8,
// Relu, Gemm 3.
func tinyNet(t testing.TB, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.5)
		}
		return v
	}
	b := onnxgraph.New("tiny")
	b.Input("x", onnxgraph.Batch, 1, 4, 4)
	b.Node("Flatten", []string{"x"}, []string{"flat"}, onnxgraph.Int("axis", 1))
	b.Initializer("fc1.weight", []int{8, 16}, rnd(128))
	b.Initializer("fc1.bias", []int{8}, rnd(8))
	b.Node("Gemm", []string{"flat", "fc1.weight", "fc1.bias"}, []string{"fc1"}, onnxgraph.Int("transB", 1))
	b.Node("Relu", []string{"fc1"}, []string{"relu"})
	b.Initializer("fc2.weight", []int{3, 8}, rnd(24))
	b.Initializer("fc2.bias", []int{3}, rnd(3))
	b.Node("Gemm", []string{"relu", "fc2.weight", "fc2.bias"}, []string{"logits"}, onnxgraph.Int("transB", 1))
	b.Output("logits", onnxgraph.Batch, 3)
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// perturbed returns base's model with every weight moved by noise of the
// given scale: a "fine-tune" sharing its graph.
func perturbed(t testing.TB, base []byte, seed uint64, scale float64) []byte {
	t.Helper()
	m, err := models.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	for _, p := range m.Params() {
		v, _ := m.ParamValues(p.Name)
		for j := range v {
			v[j] += float32(r.NormFloat64() * scale)
		}
		if err := m.SetParam(p.Name, v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := m.WriteONNX(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testPool(t testing.TB, n int) *Pool {
	t.Helper()
	base := tinyNet(t, 1)
	var fts [][]byte
	var files []provenance.File
	for i := 0; i < n; i++ {
		fts = append(fts, perturbed(t, base, uint64(10+i), 0.2))
		files = append(files, provenance.File{Path: "ft" + string(rune('1'+i))})
	}
	p, err := NewPool(provenance.File{Path: "base"}, base, files, fts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPoolMerges(t *testing.T) {
	p := testPool(t, 3)
	if len(p.Differing) != 4 {
		t.Errorf("differing %v", p.Differing)
	}
	ta, err := p.TaskArithmetic(0.3)
	if err != nil {
		t.Fatal(err)
	}
	for i, par := range p.Params {
		got, _ := ta.Model.ParamValues(par.Name)
		for j := range got {
			want := p.Theta0[i][j] + 0.3*(p.Tau[0][i][j]+p.Tau[1][i][j]+p.Tau[2][i][j])
			if math.Abs(float64(got[j]-want)) > 1e-6 {
				t.Fatalf("TA %s[%d] = %v, want %v", par.Name, j, got[j], want)
			}
		}
	}
	// λ = 0 gives the base back, byte for byte.
	zero, err := p.TaskArithmetic(0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Base.WriteONNX(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(zero.ONNX, buf.Bytes()) {
		t.Error("TA with λ 0 is not the base")
	}
	// TIES over the pool equals TIES of the flattened vectors.
	tm, _, err := p.TIES(0.5, 0.2, TIESMean)
	if err != nil {
		t.Fatal(err)
	}
	var tvs [][]float32
	for ti := range p.Tau {
		tvs = append(tvs, flat(p.Tau[ti]))
	}
	want, _, _ := TIES(tvs, 0.2, TIESMean)
	got := flat(tm.Values)
	theta := flat(p.Theta0)
	for j := range want {
		if got[j] != theta[j]+0.5*want[j] {
			t.Fatalf("TIES entry %d = %v, want %v", j, got[j], theta[j]+0.5*want[j])
		}
	}
}

func TestPoolRefusesOtherGraphs(t *testing.T) {
	base := tinyNet(t, 1)
	other := func(edit func(b *onnxgraph.Builder)) []byte {
		b := onnxgraph.New("tiny")
		b.Input("x", onnxgraph.Batch, 1, 4, 4)
		edit(b)
		data, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	wider := other(func(b *onnxgraph.Builder) {
		b.Node("Flatten", []string{"x"}, []string{"flat"}, onnxgraph.Int("axis", 1))
		b.Initializer("fc1.weight", []int{3, 16}, make([]float32, 48))
		b.Node("Gemm", []string{"flat", "fc1.weight"}, []string{"logits"}, onnxgraph.Int("transB", 1))
		b.Output("logits", onnxgraph.Batch, 3)
	})
	for _, c := range []struct {
		name string
		ft   []byte
		want string
	}{
		{"other graph", wider, "does not share the base's graph"},
		{"not onnx", []byte("hello"), "not an ONNX model"},
	} {
		_, err := NewPool(provenance.File{Path: "base"}, base, []provenance.File{{Path: "ft"}}, [][]byte{c.ft})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := NewPool(provenance.File{Path: "base"}, base, nil, nil); err == nil {
		t.Error("a pool without fine-tunes")
	}
}

func randomImages(t testing.TB, n int, seed uint64) *datasets.Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n*16)
	for i := range x {
		x[i] = r.Float32()
	}
	d, err := datasets.NewFloat32([3]int{1, 4, 4}, x, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func smallDAM(t testing.TB, p *Pool) DAMConfig {
	cfg := DefaultDAMConfig()
	cfg.Steps, cfg.AdaMergingSteps, cfg.Batch = 12, 8, 5
	cfg.InnerLR, cfg.LR = 0.1, 0.05
	for i := range p.Models {
		cfg.Data = append(cfg.Data, randomImages(t, 23, uint64(i)))
	}
	return cfg
}

// §7: DAM with adversarial weight 0 and the perturbation frozen at 0 is
// Concrete AdaMerging — with the released code's λ-gradient carry-over
// off, which Concrete AdaMerging does not have.
func TestDAMReducesToConcreteAdaMerging(t *testing.T) {
	p := testPool(t, 3)
	cfg := smallDAM(t, p)
	ca, err := p.ConcreteAdaMerging(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AdvWeight, cfg.FreezePerturbation, cfg.CarryLambdaGrad = 0, true, false
	dam, err := p.DAM(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.ONNX, dam.ONNX) {
		t.Fatalf("DAM(adv 0, P frozen) differs from Concrete AdaMerging: λ %v vs %v", dam.Lambda, ca.Lambda)
	}
	// The merge moved: λ left its initial value.
	if ca.Lambda[0][0] == float64(float32(cfg.Lambda0)) {
		t.Errorf("λ did not move: %v", ca.Lambda)
	}
	// The released carry-over changes the result.
	cfg.CarryLambdaGrad = true
	carry, err := p.DAM(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(carry.ONNX, ca.ONNX) {
		t.Error("the λ-gradient carry-over changed nothing")
	}
	// Full DAM is reproducible and moves P.
	full := smallDAM(t, p)
	a, err := p.DAM(context.Background(), full)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.DAM(context.Background(), full)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.ONNX, b.ONNX) {
		t.Error("DAM is not reproducible from its seed")
	}
	if a.PerturbationLinf[0] == 0 || bytes.Equal(a.ONNX, carry.ONNX) {
		t.Errorf("the perturbation did not act: ‖P‖∞ %v", a.PerturbationLinf)
	}
}

// The hand-written gradients of the adaptive merge agree with central
// differences of the entropy objective in λ and in the mask logits.
func TestAdaptiveGradients(t *testing.T) {
	p := testPool(t, 2)
	cfg := smallDAM(t, p)
	cfg.Temperature = 0.7
	a, err := p.newAdaptive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for l := range a.s {
		for j := range a.s[l] {
			a.s[l][j] = float32(0.3 * math.Sin(float64(7*l+j)))
		}
	}
	xs := a.batches()
	noise := rand.New(rand.NewPCG(5, 5))
	us := make([][]float64, len(a.s))
	for l := range a.s {
		for range a.s[l] {
			us[l] = append(us[l], noise.Float64())
		}
	}
	// loss(λ, s) with fixed uniforms, in float64 where it matters.
	maskOf := func() *concrete {
		c := &concrete{}
		for l, s := range a.s {
			r := make([]float32, len(s))
			var sum float64
			for j, v := range s {
				u := us[l][j]
				z := (float64(v) + math.Log(u) - math.Log1p(-u)) / cfg.Temperature
				r[j] = float32(1 / (1 + math.Exp(-z)))
				sum += float64(r[j])
			}
			mu := sum / float64(len(s))
			m := make([]float32, len(s))
			for j := range r {
				m[j] = float32(float64(r[j]) / mu)
			}
			c.r, c.m, c.mu = append(c.r, r), append(c.m, m), append(c.mu, mu)
		}
		return c
	}
	loss := func() float64 {
		if _, err := a.merge(a.lambda, maskOf().m); err != nil {
			t.Fatal(err)
		}
		g := a.zeroTensors()
		l, err := a.entropyGrads(g, xs, 1)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	c := maskOf()
	if _, err := a.merge(a.lambda, c.m); err != nil {
		t.Fatal(err)
	}
	g := a.zeroTensors()
	if _, err := a.entropyGrads(g, xs, 1); err != nil {
		t.Fatal(err)
	}
	gl := zeroLike(a.lambda)
	a.lambdaGrad(gl, g, c.m)
	gs := a.maskGrad(g, c, a.lambda)
	// Directional derivatives along random directions: summing over every
	// element keeps the signal far above float32 rounding of the loss.
	check := func(what string, vars [][]float32, grad [][]float32, h float64) {
		dirs := rand.New(rand.NewPCG(6, 6))
		d := zeroLike(vars)
		var analytic float64
		for i := range d {
			for j := range d[i] {
				d[i][j] = float32(dirs.NormFloat64())
				analytic += float64(d[i][j]) * float64(grad[i][j])
			}
		}
		old := zeroLike(vars)
		copyInto(old, vars)
		step := func(s float64) float64 {
			for i := range vars {
				for j := range vars[i] {
					vars[i][j] = old[i][j] + float32(s)*d[i][j]
				}
			}
			return loss()
		}
		num := (step(h) - step(-h)) / (2 * h)
		copyInto(vars, old)
		if math.Abs(num-analytic) > 0.01*math.Abs(num) || analytic == 0 {
			t.Errorf("%s: analytic %v, numeric %v", what, analytic, num)
		}
	}
	// Central differences converge as h² until float32 rounding shows:
	// h = 3e-3 agrees to 0.1% here.
	check("λ", a.lambda, gl, 3e-3)
	check("s", a.s, gs, 3e-3)
}

func TestEntropyCotangent(t *testing.T) {
	z := []float32{1, 2, 0.5, -1, 0, 3}
	dz := make([]float32, len(z))
	h := entropyCotangent(dz, z, 3, 1)
	for j := range z {
		zp, zm := slices.Clone(z), slices.Clone(z)
		zp[j] += 1e-3
		zm[j] -= 1e-3
		num := (entropyCotangent(nil, zp, 3, 1) - entropyCotangent(nil, zm, 3, 1)) / 2e-3
		if math.Abs(num-float64(dz[j])) > 1e-3 {
			t.Errorf("∂H/∂z[%d] = %v, numeric %v", j, dz[j], num)
		}
	}
	if h <= 0 || h > math.Log(3) {
		t.Errorf("entropy %v", h)
	}
}

// The embedded testbed's TA and TIES merges are what Pool computes from
// its base and fine-tunes, byte for byte (zoo merge writes them with the
// methods' defaults).
func TestEmbeddedMerges(t *testing.T) {
	p, err := OpenPool("zoo:merge/base", []string{"zoo:merge/ft_mnist_badnets", "zoo:merge/ft_syndigits", "zoo:merge/ft_fashion"})
	if err != nil {
		t.Fatal(err)
	}
	ta, err := p.TaskArithmetic(DefaultLambda(MethodTA))
	if err != nil {
		t.Fatal(err)
	}
	ties, _, err := p.TIES(DefaultLambda(MethodTIES), 0.2, TIESSum)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"merge/ta": ta.ONNX, "merge/ties": ties.ONNX} {
		if !bytes.Equal(got, zooBytes(t, name)) {
			t.Errorf("zoo:%s differs from the merge computed now", name)
		}
	}
}
