package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cmdGoldenCase is a fixed command line of eval, grad, train or zoo whose
// outputs are kept in testdata/golden/cmd: stdout (JSON canonicalised
// without volatile fields, or text with timings masked), stderr (masked),
// the exit code and the sha256 of the files it writes. "$DIR" in an
// argument is a temporary folder holding the fixtures of newFixtures.
type cmdGoldenCase struct {
	name   string
	args   []string
	json   bool     // stdout is JSON
	files  []string // outputs to hash, relative to $DIR
	stderr bool     // keep stderr too
}

var cmdGoldenCases = []cmdGoldenCase{
	{name: "eval-json", args: []string{"eval", "--limit", "100", "--batch", "32", "--json"}, json: true},
	{name: "eval-text", args: []string{"eval", "--limit", "100", "--batch", "32"}},
	{name: "eval-shuffle-json", args: []string{"eval", "--limit", "50", "--shuffle", "--seed", "3", "--json"}, json: true},
	{name: "eval-npy-logits", args: []string{"eval", "--model", "$DIR/lenet.onnx", "--data", "npy:$DIR/x.npy,$DIR/y.npy",
		"--save-logits", "$DIR/logits.npy", "--json"}, json: true, files: []string{"logits.npy"}},
	{name: "eval-npy-text", args: []string{"eval", "--model", "$DIR/lenet.onnx", "--data", "npy:$DIR/x.npy,$DIR/y.npy"}},
	{name: "grad-labels-json", args: []string{"grad", "--model", "zoo:lenet-mnist", "--input", "$DIR/x.npy", "--labels", "$DIR/y.npy",
		"--out", "$DIR/g.npy", "--json"}, json: true, files: []string{"g.npy"}},
	{name: "grad-cotangent-json", args: []string{"grad", "--model", "$DIR/lenet.onnx", "--input", "$DIR/x64.npy", "--cotangent", "$DIR/v.npy",
		"--out", "$DIR/g.npy", "--json"}, json: true, files: []string{"g.npy"}},
	{name: "grad-labels-text", args: []string{"grad", "--model", "zoo:lenet-mnist", "--input", "$DIR/x.npy", "--labels", "$DIR/y.npy",
		"--out", "$DIR/g.npy"}, files: []string{"g.npy"}},
	{name: "grad-cotangent-text", args: []string{"grad", "--model", "zoo:lenet-mnist", "--input", "$DIR/x.npy", "--cotangent", "$DIR/v.npy",
		"--out", "$DIR/g.npy"}, files: []string{"g.npy"}},
	{name: "train-json", args: []string{"train", "--arch", "mlp", "--limit", "256", "--epochs", "2", "--balance", "20/80",
		"--test-limit", "200", "-o", "$DIR/m.onnx", "--json"}, json: true, files: []string{"m.onnx"}, stderr: true},
	{name: "train-text", args: []string{"train", "--arch", "mlp", "--limit", "256", "--epochs", "2", "--balance", "20/80",
		"--test-limit", "200", "-o", "$DIR/m.onnx"}, files: []string{"m.onnx"}, stderr: true},
	{name: "train-patience-json", args: []string{"train", "--arch", "lenet", "--limit", "192", "--epochs", "3", "--patience", "1",
		"--val-fraction", "0.25", "--optimizer", "adam", "--schedule", "cosine", "--augment", "--weight-decay", "0.001",
		"--checkpoint-dir", "$DIR", "--test", "syndigits:test", "--test-limit", "100", "-o", "$DIR/m.onnx", "--json"},
		json: true, files: []string{"m.onnx", "epoch_001.onnx", "epoch_002.onnx"}, stderr: true},
	{name: "train-npy-text", args: []string{"train", "--arch", "mlp", "--data", "npy:$DIR/x.npy,$DIR/y.npy", "--val-fraction", "0",
		"--epochs", "1", "--optimizer", "nesterov", "--lr", "0.01", "-o", "$DIR/m.onnx"}, files: []string{"m.onnx"}, stderr: true},
	{name: "train-test-none-json", args: []string{"train", "--arch", "mlp", "--limit", "64", "--epochs", "1", "--test", "none",
		"--batch", "16", "-o", "$DIR/m.onnx", "--json"}, json: true, files: []string{"m.onnx"}, stderr: true},
	{name: "zoo-build-json", args: []string{"zoo", "build", "-o", "$DIR/zoo", "--archs", "mlp", "--limit", "64", "--epochs", "1",
		"--test-limit", "20", "--seed", "5", "--with=", "--json"}, json: true,
		files: []string{"zoo/mnist_mlp_b20.onnx", "zoo/syndigits_mlp_b50.onnx"}, stderr: true},
	{name: "zoo-build-text", args: []string{"zoo", "build", "-o", "$DIR/zoo", "--archs", "mlp,lenet", "--limit", "64", "--epochs", "1",
		"--test-limit", "20", "--seed", "5", "--with="}, files: []string{"zoo/mnist_lenet_b20.onnx"}, stderr: true},
	{name: "zoo-build-csgld-json", args: []string{"zoo", "build", "-o", "$DIR/zoo", "--archs", "mlp", "--limit", "64", "--epochs", "1",
		"--test-limit", "20", "--seed", "9", "--json"}, json: true,
		files: []string{"zoo/mnist_mlp_b20.onnx", "zoo/csgld_mnist_lenet/set.json"}, stderr: true},
	{name: "zoo-list-text", args: []string{"zoo", "list"}},
	{name: "zoo-list-json", args: []string{"zoo", "list", "--json"}, json: true},
}

var (
	maskSeconds = regexp.MustCompile(`[0-9]+(\.[0-9]+)? s\b`)
	maskRate    = regexp.MustCompile(`[0-9]+ images/s`)
)

// maskText hides timings and the temporary folder in text output.
func maskText(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "$DIR")
	s = maskSeconds.ReplaceAllString(s, "# s")
	return maskRate.ReplaceAllString(s, "# images/s")
}

// stripRates removes images_per_second fields (timings) at any depth.
func stripRates(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if strings.HasSuffix(k, "images_per_second") {
				delete(t, k)
				continue
			}
			t[k] = stripRates(x)
		}
	case []any:
		for i, x := range t {
			t[i] = stripRates(x)
		}
	}
	return v
}

// TestCommandGolden keeps the outputs of eval, grad, train and zoo
// identical across refactors (go test -run TestCommandGolden -update
// rewrites them).
func TestCommandGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models; not in -short")
	}
	for _, c := range cmdGoldenCases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixtures(t)
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "$DIR", f.dir)
			}
			code, stdout, stderr := runCLI(t, args...)
			var b strings.Builder
			b.WriteString("exit " + strconv.Itoa(code) + "\n")
			if c.json && code == 0 {
				js := canonicalJSON(t, []byte(strings.ReplaceAll(stdout, f.dir, "$DIR")))
				b.WriteString("stdout (JSON):\n" + string(canonicalJSONValue(t, js)))
			} else {
				b.WriteString("stdout:\n" + maskText(stdout, f.dir))
			}
			if c.stderr || code != 0 {
				b.WriteString("stderr:\n" + maskText(stderr, f.dir))
			}
			for _, name := range c.files {
				data, err := os.ReadFile(filepath.Join(f.dir, name))
				if err != nil {
					b.WriteString("file " + name + ": missing\n")
					continue
				}
				h := sha256.Sum256(data)
				b.WriteString("file " + name + ": sha256 " + hex.EncodeToString(h[:]) + "\n")
			}
			if strings.HasPrefix(c.name, "zoo-build") {
				// Listing the zoo just built.
				for _, extra := range [][]string{{"zoo", "list", "--dir", filepath.Join(f.dir, "zoo")}, {"zoo", "list", "--dir", filepath.Join(f.dir, "zoo"), "--json"}} {
					code, stdout, stderr := runCLI(t, extra...)
					b.WriteString("\n$ " + strings.Join(extra[:2], " ") + " --dir $DIR/zoo" + strings.Repeat(" --json", len(extra)-4) + "\nexit " + strconv.Itoa(code) + "\n")
					if len(extra) == 5 && code == 0 {
						js := canonicalJSON(t, []byte(strings.ReplaceAll(stdout, f.dir, "$DIR")))
						b.WriteString(string(canonicalJSONValue(t, js)))
					} else {
						b.WriteString(maskText(stdout+stderr, f.dir))
					}
				}
			}
			got := b.String()
			path := filepath.Join("testdata", "golden", "cmd", c.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestCommandGolden -update to create it)", err)
			}
			if !bytes.Equal([]byte(got), want) {
				t.Errorf("advmatrix %s: output differs from %s\n%s", strings.Join(c.args, " "), path, lineDiff(string(want), got))
			}
		})
	}
}

// canonicalJSONValue drops the rate fields from canonical JSON.
func canonicalJSONValue(t *testing.T, js []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(stripRates(v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}
