package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestAttackGolden")

// goldenCases are fixed `advmatrix attack` commands whose JSON is kept in
// testdata/golden: the refactors of the attack cell must not change what
// users' scripts read. Images are crafted in batches of 16 so that the
// per-batch seed rule is exercised.
var goldenCases = []struct {
	name string
	args []string
}{
	{"single", []string{"--attack", "ifgsm", "--surrogate", "zoo:lenet-mnist", "--victim", "zoo:digits/mnist_mobilenet_b50",
		"--eps", "0.1", "--steps", "5", "--limit", "48", "--batch", "16"}},
	{"ensemble", []string{"--attack", "mifgsm", "--surrogate", "zoo:digits/mnist_lenet_b50", "--surrogate", "zoo:digits/mnist_mlp_b50",
		"--victim", "zoo:lenet-mnist", "--victim", "zoo:digits/syndigits_lenet_b50", "--eps", "0.15", "--steps", "4", "--limit", "48", "--batch", "16", "--quantize"}},
	{"adaea", []string{"--attack", "adaea", "--surrogate", "zoo:digits/mnist_lenet_b50", "--surrogate", "zoo:digits/mnist_mlp_b50",
		"--victim", "zoo:lenet-mnist", "--steps", "4", "--limit", "48", "--batch", "16"}},
	{"cwa", []string{"--attack", "mi-cwa", "--surrogate", "zoo:digits/mnist_lenet_b50", "--surrogate", "zoo:digits/mnist_mlp_b50",
		"--victim", "zoo:lenet-mnist", "--eps", "0.2", "--steps", "3", "--limit", "48", "--batch", "16"}},
	{"targeted-random", []string{"--attack", "pgd", "--surrogate", "zoo:lenet-mnist", "--victim", "zoo:digits/mnist_lenet_b50",
		"--targeted", "random", "--seed", "3", "--steps", "5", "--limit", "48", "--batch", "16"}},
	{"square", []string{"--attack", "square", "--surrogate", "zoo:lenet-mnist", "--victim", "zoo:digits/mnist_lenet_b50",
		"--param", "queries=60", "--limit", "32", "--batch", "16", "--seed", "1"}},
	{"select-strength", []string{"--attack", "boxblur", "--select-strength", "--strengths", "0.5,1,2,4",
		"--surrogate", "zoo:lenet-mnist", "--victim", "zoo:digits/mnist_lenet_b50", "--limit", "48", "--batch", "16"}},
	{"white-box-least", []string{"--attack", "difgsm", "--surrogate", "zoo:lenet-mnist", "--targeted", "least",
		"--steps", "3", "--limit", "32", "--batch", "16", "--seed", "5"}},
}

// volatile are the fields that differ from run to run (timings, memory,
// the build's version) and are left out of the comparison.
func volatile(key string) bool {
	return strings.HasSuffix(key, "_seconds") || key == "seconds" || key == "started_at" ||
		key == "grad_evals_per_second" || key == "tool_version" || key == "peak_rss_bytes"
}

// stripVolatile removes volatile fields at any depth.
func stripVolatile(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if volatile(k) {
				delete(t, k)
				continue
			}
			t[k] = stripVolatile(x)
		}
	case []any:
		for i, x := range t {
			t[i] = stripVolatile(x)
		}
	}
	return v
}

func canonicalJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	out, err := json.MarshalIndent(stripVolatile(v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestAttackGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("crafts on the embedded zoo; not in -short")
	}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"attack", "--json"}, c.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := canonicalJSON(t, []byte(stdout))
			path := filepath.Join("testdata", "golden", c.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestAttackGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("advmatrix %s: JSON differs from %s\n%s", strings.Join(args, " "), path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 12; i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + a + "\n  got  " + c + "\n")
			shown++
		}
	}
	return b.String()
}
