package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/report"
)

func tinyPlan(t *testing.T, text string) *Plan {
	t.Helper()
	f, err := Parse("tiny.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(f, "tiny.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// timing-free JSON of a results value, for comparing runs.
func stableJSON(t *testing.T, r *report.ScenarioResult) any {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(v any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				if strings.HasSuffix(k, "_seconds") || k == "seconds" || k == "started_at" || k == "grad_evals_per_second" {
					delete(x, k)
				} else {
					x[k] = strip(y)
				}
			}
		case []any:
			for i, y := range x {
				x[i] = strip(y)
			}
		}
		return v
	}
	return strip(v)
}

func TestRunnerCacheShardsResume(t *testing.T) {
	if testing.Short() {
		t.Skip("crafts on the embedded zoo")
	}
	plan := tinyPlan(t, goodScenario)
	// One run without a cache.
	plain, err := (&Runner{Plan: plan}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Cells) != 9 || len(plain.Summary) == 0 || len(plain.Matrices) != 3 {
		t.Fatalf("%d cells, %d summary rows, %d matrices", len(plain.Cells), len(plain.Summary), len(plain.Matrices))
	}
	for _, c := range plain.Cells {
		for _, v := range c.Result.Victims {
			if v.Case == "" || v.Control == nil || v.Excess == nil || v.Outcomes == nil {
				t.Fatalf("cell %d victim %s lacks case, control or outcomes: %+v", c.Index, v.Name, v)
			}
			if v.WhiteBox != (c.Attacker == v.Name) {
				t.Errorf("cell %d: %s on %s white-box %v", c.Index, c.Attacker, v.Name, v.WhiteBox)
			}
			adv, err := report.UnpackBits(v.Outcomes.Adv, v.Outcomes.N)
			if err != nil {
				t.Fatal(err)
			}
			correct := 0
			for _, ok := range adv {
				if ok {
					correct++
				}
			}
			if correct != v.AdvAccuracy.Num {
				t.Errorf("outcome bits give %d correct, adv_accuracy %d", correct, v.AdvAccuracy.Num)
			}
		}
	}
	want := stableJSON(t, plain)

	// Interrupted after two cells, then resumed from the cache: the same
	// results as the uninterrupted run.
	cache, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &Runner{Plan: plan, Cache: cache, Progress: func(done, _ int, _ string, _ bool) {
		if done == 2 {
			cancel()
		}
	}}
	partial, err := r.Run(ctx)
	if !errors.Is(err, ErrInterrupted) || partial == nil || len(partial.Cells) != 2 {
		t.Fatalf("interrupted run: %v, %v", err, partial)
	}
	var cachedCells int
	resumed, err := (&Runner{Plan: plan, Cache: cache, Progress: func(_, _ int, _ string, cached bool) {
		if cached {
			cachedCells++
		}
	}}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cachedCells != 2 {
		t.Errorf("%d cells from the cache after an interruption after 2", cachedCells)
	}
	if !reflect.DeepEqual(stableJSON(t, resumed), want) {
		t.Error("the resumed run differs from the uninterrupted one")
	}
	// A repeated run is served from the cache entirely.
	cachedCells = 0
	again, err := (&Runner{Plan: plan, Cache: cache, Progress: func(_, _ int, _ string, cached bool) {
		if cached {
			cachedCells++
		}
	}}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cachedCells != 9 || !reflect.DeepEqual(stableJSON(t, again), want) {
		t.Errorf("repeat: %d of 9 cells cached, same results %v", cachedCells, reflect.DeepEqual(stableJSON(t, again), want))
	}

	// Three shards merged are the unsharded run.
	var parts []*report.ScenarioResult
	for i := range 3 {
		p, err := (&Runner{Plan: plan, Cache: cache, Shard: report.Shard{Index: i, Count: 3}}).Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	merged, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stableJSON(t, merged), want) {
		t.Error("merged shards differ from the unsharded run")
	}
	if _, err := Merge(parts[:2]); err == nil || !strings.Contains(err.Error(), "shard 2/3 is missing") {
		t.Errorf("a missing shard: %v", err)
	}
	if _, err := Merge([]*report.ScenarioResult{parts[0], parts[0], parts[1]}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a repeated shard: %v", err)
	}
}

// The cache key changes when any input does: the seed, a setting, the
// images, a surrogate's bytes.
func TestCellKeyInputs(t *testing.T) {
	plan := tinyPlan(t, goodScenario)
	r := &Runner{Plan: plan}
	if err := r.Prepare(); err != nil {
		t.Fatal(err)
	}
	cell := func(mod func(c *Cell)) string {
		pc := plan.Cells[0]
		surr, _, _ := r.surrogates(pc.Attacker)
		c := &Cell{Attack: pc.Spec, Params: pc.Params, Surrogates: surr, Data: r.data["mnist"], Seed: 3, Batch: 8}
		if mod != nil {
			mod(c)
		}
		if err := c.Check(); err != nil {
			t.Fatal(err)
		}
		return cellKey(c)
	}
	base := cell(nil)
	if cell(nil) != base {
		t.Fatal("the key is not deterministic")
	}
	other, err := OpenData("mnist:test", []int{1, 28, 28}, 25, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := OpenModel("zoo:digits/mnist_lenet_b40")
	for name, mod := range map[string]func(c *Cell){
		"seed":      func(c *Cell) { c.Seed = 4 },
		"batch":     func(c *Cell) { c.Batch = 9 },
		"eps":       func(c *Cell) { c.Params.Eps = 0.06 },
		"extra":     func(c *Cell) { c.Params.Extra = map[string]float64{"di_prob": 0.5}; c.Params.Set["di_prob"] = true },
		"images":    func(c *Cell) { c.Data = other },
		"surrogate": func(c *Cell) { c.Surrogates = []Model{b} },
	} {
		if cell(mod) == base {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
}

func TestRunnerLoadErrors(t *testing.T) {
	dir := t.TempDir()
	small, err := arch.SoftmaxRegression([]int{1, 8, 8}, 10, make([]float32, 640), make([]float32, 10))
	if err != nil {
		t.Fatal(err)
	}
	if err := small.SaveFile(filepath.Join(dir, "small.onnx")); err != nil {
		t.Fatal(err)
	}
	three, err := arch.SoftmaxRegression([]int{1, 28, 28}, 3, make([]float32, 3*784), make([]float32, 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := three.SaveFile(filepath.Join(dir, "three.onnx")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, model, want string }{
		{"missing file", "missing.onnx", "tiny.yaml:9: model b: "},
		{"other image shape", "small.onnx", "tiny.yaml:9: model b takes 1×8×8 images"},
		{"other classes", "three.onnx", "tiny.yaml:9: model b outputs 3 classes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(goodScenario, `"zoo:digits/mnist_mlp_b50"`, filepath.Join(dir, tc.model), 1)
			plan := tinyPlan(t, text)
			_, err := (&Runner{Plan: plan}).Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// A cache folder that cannot be made.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := OpenCache(filepath.Join(file, "cache")); err == nil {
		t.Error("a cache under a file was accepted")
	}
}
