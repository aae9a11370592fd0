package attacks

import (
	"math"
	"testing"

	"github.com/advmatrix/advmatrix/models"
)

func TestSquareSchedule(t *testing.T) {
	s := NewSquare(0.1)
	s.Queries = 10000
	for _, tc := range []struct {
		it  int
		div float64
	}{{0, 1}, {10, 1}, {11, 2}, {50, 2}, {51, 4}, {200, 4}, {201, 8}, {500, 8}, {501, 16}, {1000, 16},
		{1001, 32}, {2000, 32}, {2001, 64}, {4000, 64}, {4001, 128}, {6000, 128}, {6001, 256}, {8000, 256}, {8001, 512}, {9999, 512}} {
		if got := s.pSelection(tc.it); got != 0.8/tc.div {
			t.Errorf("iteration %d: p = %v, want 0.8/%v", tc.it, got, tc.div)
		}
	}
	// Rescaled to the query budget: with 300 queries, iteration 150 is
	// iteration 5000 of 10000.
	s.Queries = 300
	if got := s.pSelection(150); got != 0.8/128 {
		t.Errorf("rescaled: p = %v, want 0.8/128", got)
	}
}

func TestSquareLeNet(t *testing.T) {
	const n, eps = 20, 0.3
	x, y := mnistBatch(t, n)
	m := lenet(t)
	clean := errorRate(t, m, x, y)
	s := NewSquare(eps)
	s.Queries = 300
	res, err := s.Run(t.Context(), m, Batch{X: x, Labels: y, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, "square", &Config{Norm: Linf, Eps: eps}, x, res.Adv)
	adv := errorRate(t, m, res.Adv, y)
	var total, maxQ, succ int
	for i, q := range res.Queries {
		total += q
		maxQ = max(maxQ, q)
		if q < 1 || q > s.Queries+2 {
			t.Fatalf("image %d: %d queries, want 1..%d", i, q, s.Queries+2)
		}
		if res.Success[i] {
			succ++
		}
	}
	t.Logf("clean error %.2f, adversarial error %.2f, successes %d/%d, queries: total %d, mean %.1f, max %d",
		clean, adv, succ, n, total, float64(total)/n, maxQ)
	if adv < clean+0.5 {
		t.Fatalf("error rate %.2f is not well above clean %.2f", adv, clean)
	}
	if math.Abs(adv-float64(succ)/n) > 1e-9 {
		t.Fatalf("reported %d successes, error rate %.2f", succ, adv)
	}
	// Early stop: a fooled image stops querying, so some images use far
	// fewer than the budget.
	if total >= n*(s.Queries+2) {
		t.Fatalf("no image stopped early (%d queries)", total)
	}
	// Determinism through Craft.
	a1, err := s.Craft(t.Context(), []models.Classifier{m}, Batch{X: x, Labels: y, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(a1, res.Adv) {
		t.Fatal("same seed, different bytes")
	}
	a2, _ := s.Craft(t.Context(), []models.Classifier{m}, Batch{X: x, Labels: y, Seed: 2})
	if sameBits(a1, a2) {
		t.Fatal("the seed has no effect")
	}
}

// Failed images are returned clean unless ReturnBest; targeted mode
// reaches the given class.
func TestSquareModes(t *testing.T) {
	const n = 4
	x, y := mnistBatch(t, n)
	m := lenet(t)
	s := NewSquare(0.05)
	s.Queries = 20
	res, err := s.Run(t.Context(), m, Batch{X: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	size := 784
	for i := 0; i < n; i++ {
		if !res.Success[i] && !sameBits(res.Adv[i*size:(i+1)*size], x[i*size:(i+1)*size]) {
			t.Fatalf("image %d failed but was not returned clean", i)
		}
	}
	s.ReturnBest = true
	best, _ := s.Run(t.Context(), m, Batch{X: x, Labels: y})
	moved := false
	for i := 0; i < n; i++ {
		if !best.Success[i] && !sameBits(best.Adv[i*size:(i+1)*size], x[i*size:(i+1)*size]) {
			moved = true
		}
	}
	if !moved {
		t.Fatal("ReturnBest returned clean images")
	}

	tg := NewSquare(0.3)
	tg.Queries = 300
	targets := make([]int, n)
	for i := range targets {
		targets[i] = (y[i] + 1) % 10
	}
	tr, err := tg.Run(t.Context(), m, Batch{X: x, Labels: y, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, "square-targeted", &Config{Norm: Linf, Eps: 0.3}, x, tr.Adv)
	z := make([]float32, n*10)
	if err := m.Logits(z, tr.Adv); err != nil {
		t.Fatal(err)
	}
	hit := 0
	for i := 0; i < n; i++ {
		p := 0
		for j := range 10 {
			if z[i*10+j] > z[i*10+p] {
				p = j
			}
		}
		if p == targets[i] != tr.Success[i] {
			t.Fatalf("image %d: prediction %d, target %d, success %v", i, p, targets[i], tr.Success[i])
		}
		if tr.Success[i] {
			hit++
		}
	}
	t.Logf("targeted: %d/%d hit, queries %v", hit, n, tr.Queries)
	if hit == 0 {
		t.Fatal("targeted Square never reached the target")
	}
}

func TestSquareRegistryAndErrors(t *testing.T) {
	spec, err := Lookup("square")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Gradient {
		t.Fatal("square needs no gradients")
	}
	p := Params{Extra: map[string]float64{"queries": 7, "p_init": 0.5}}.Merge(spec.Defaults([]int{1, 28, 28}))
	if err := spec.CheckExtras(p); err != nil {
		t.Fatal(err)
	}
	a, err := spec.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if s := a.(*Square); s.Eps != 0.3 || s.Queries != 7 || s.PInit != 0.5 {
		t.Fatalf("made %+v", *s)
	}
	for _, bad := range []Params{
		{Eps: -1, Extra: map[string]float64{"queries": 10, "p_init": 0.8}},
		{Eps: 0.1, Extra: map[string]float64{"queries": 2.5, "p_init": 0.8}},
		{Eps: 0.1, Extra: map[string]float64{"queries": 10, "p_init": 0}},
		{Eps: 0.1, Norm: L2, Extra: map[string]float64{"queries": 10, "p_init": 0.8}},
	} {
		if _, err := spec.New(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	m := lenet(t)
	x, y := mnistBatch(t, 2)
	if _, err := NewSquare(0.1).Run(t.Context(), m, Batch{X: x[:100], Labels: y}); err == nil {
		t.Error("short input: no error")
	}
	if _, err := NewSquare(0.1).Run(t.Context(), m, Batch{X: x, Labels: []int{0, 10}}); err == nil {
		t.Error("bad label: no error")
	}
}
