package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"github.com/advmatrix/advmatrix/models/onnxgraph"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

const tinyScenario = `name: tiny
limit: 20
batch: 10
sources: {mnist: "mnist:test"}
models:
  - {name: a, file: "zoo:digits/mnist_lenet_b50", source: mnist, arch: lenet, balance: "50/50"}
  - {name: b, file: "zoo:digits/mnist_mlp_b50", source: mnist, arch: mlp, balance: "50/50"}
budget: {eps: 0.1, steps: 2, alpha: 0.05}
attacks:
  - attack: ifgsm
`

func writeScenario(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	sc := writeScenario(t, dir, tinyScenario)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCLI(t, "run", sc, "--out", out, "--cache", filepath.Join(dir, "cache"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"scenario   tiny", "C3", "C1-white-box", "ASR on correct", "results.json"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	var res report.ScenarioResult
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Schema != report.SchemaVersion || len(res.Cells) != 2 {
		t.Fatalf("results.json: %v, %d cells", err, len(res.Cells))
	}
	if md, err := os.ReadFile(filepath.Join(out, "report.md")); err != nil || !strings.Contains(string(md), "### Transfer by DUMB case") {
		t.Errorf("report.md: %v", err)
	}
	// JSON on stdout, and shards merged into the same cells.
	code, stdout, _ = runCLI(t, "run", sc, "--out", out, "--format", "json", "--no-cache")
	if code != exitOK || !json.Valid([]byte(stdout)) {
		t.Fatalf("--format json: exit %d", code)
	}
	var shards []string
	for i := range 2 {
		d := filepath.Join(dir, "shard", string(rune('0'+i)))
		if code, _, stderr := runCLI(t, "run", sc, "--out", d, "--shard", string(rune('0'+i))+"/2", "--no-cache"); code != exitOK {
			t.Fatalf("shard %d: %s", i, stderr)
		}
		shards = append(shards, filepath.Join(d, "results.json"))
	}
	merged := filepath.Join(dir, "merged.json")
	if code, _, stderr := runCLI(t, append([]string{"merge-results", "--out", merged}, shards...)...); code != exitOK {
		t.Fatalf("merge-results: %s", stderr)
	}
	if code, _, stderr := runCLI(t, "merge-results", "--out", merged, shards[0]); code != exitInput || !strings.Contains(stderr, "missing") {
		t.Errorf("merging one of two shards: exit %d: %s", code, stderr)
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		args       []string
		want       string
	}{
		{"unknown key", tinyScenario + "colour: red\n", nil, "s.yaml:11: unknown key \"colour\""},
		{"wrong type", strings.Replace(tinyScenario, "limit: 20", "limit: twenty", 1), nil, "s.yaml:2: limit"},
		{"missing model", strings.Replace(tinyScenario, "zoo:digits/mnist_mlp_b50", "nope.onnx", 1), nil, "s.yaml:7: model b"},
		{"typo in a reference", tinyScenario + "victims: [a, c]\n", nil, `unknown model "c"`},
		{"bad shard", tinyScenario, []string{"--shard", "2/2"}, "--shard"},
		{"auto shard without the index", tinyScenario, []string{"--shard", "auto/3"}, "JOB_COMPLETION_INDEX"},
		{"bad format", tinyScenario, []string{"--format", "xml"}, "--format"},
		{"cache under a file", tinyScenario, []string{"--cache", filepath.Join(dir, "s.yaml", "c")}, "--cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := writeScenario(t, dir, tc.text)
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(tc.name, " ", "-"))
			t.Setenv("JOB_COMPLETION_INDEX", "")
			code, stdout, stderr := runCLI(t, append([]string{"run", sc, "--out", out, "--no-cache"}, tc.args...)...)
			if strings.Contains(strings.Join(tc.args, " "), "--cache") {
				code, stdout, stderr = runCLI(t, append([]string{"run", sc, "--out", out}, tc.args...)...)
			}
			if code != exitInput || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stderr %q, want exit 2 and %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed run made %s", out)
			}
		})
	}
}

func TestRunPrintDefault(t *testing.T) {
	code, stdout, _ := runCLI(t, "run", "--print-default")
	if code != exitOK {
		t.Fatal(code)
	}
	if _, err := scenarios.Parse("default.yaml", []byte(stdout)); err != nil {
		t.Fatalf("the default scenario does not parse: %v", err)
	}
}

func TestGateCommand(t *testing.T) {
	dir := t.TempDir()
	sc := writeScenario(t, dir, tinyScenario)
	out := filepath.Join(dir, "out")
	if code, _, stderr := runCLI(t, "run", sc, "--out", out, "--no-cache"); code != exitOK {
		t.Fatal(stderr)
	}
	res := filepath.Join(out, "results.json")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	pass := write("pass.yaml", "rules: [{name: accurate, metric: clean_accuracy, min: 0.5}]\n")
	fail := write("fail.yaml", "rules:\n  - {name: no transfer, metric: asr_on_correct, max: 0.01, where: {white_box: true}}\n")
	bad := write("bad.yaml", "rules:\n  - {name: x, metric: asr_all, max: 0.1, wher: {}}\n")
	if code, stdout, _ := runCLI(t, "gate", res, "--policy", pass); code != exitOK || !strings.Contains(stdout, "gate PASS") {
		t.Errorf("passing policy: exit %d\n%s", code, stdout)
	}
	junit := filepath.Join(dir, "gate.xml")
	summary := filepath.Join(dir, "summary.md")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	code, stdout, _ := runCLI(t, "gate", res, "--policy", fail, "--junit", junit)
	if code != exitGate || !strings.Contains(stdout, "FAIL  no transfer") || !strings.Contains(stdout, "::error title=advmatrix gate: no transfer::") {
		t.Errorf("failing policy: exit %d\n%s", code, stdout)
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), "<failure") {
		t.Errorf("junit: %v", err)
	}
	if b, err := os.ReadFile(summary); err != nil || !strings.Contains(string(b), "advmatrix gate ❌ failed") {
		t.Errorf("step summary: %v %s", err, b)
	}
	if code, _, stderr := runCLI(t, "gate", res, "--policy", bad); code != exitInput || !strings.Contains(stderr, `bad.yaml:2: unknown key "wher"`) {
		t.Errorf("bad policy: exit %d: %s", code, stderr)
	}
	// run --gate: the same verdict after the run; a bad policy stops before any work.
	if code, _, _ := runCLI(t, "run", sc, "--out", filepath.Join(dir, "o2"), "--no-cache", "--gate", fail); code != exitGate {
		t.Errorf("run --gate with a failing policy: exit %d", code)
	}
	if code, _, _ := runCLI(t, "run", sc, "--out", filepath.Join(dir, "o3"), "--no-cache", "--gate", bad); code != exitInput {
		t.Errorf("run --gate with a bad policy: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "o3")); err == nil {
		t.Error("run --gate with a bad policy made its output folder")
	}
}

// train --from continues training a PyTorch export: new weights, the same
// graph otherwise (nodes, names, initializers).
func TestTrainFrom(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "ft.onnx")
	src := "../../testdata/torch/lenet_op13.onnx"
	code, stdout, stderr := runCLI(t, "train", "--from", src, "--data", "mnist:train", "--limit", "128", "--epochs", "1",
		"--test", "none", "-o", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"from"`) {
		t.Errorf("the report does not say what was fine-tuned: %s", stdout)
	}
	var before, after pb.ModelProto
	for p, m := range map[string]*pb.ModelProto{src: &before, out: &after} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(b, m); err != nil {
			t.Fatal(err)
		}
	}
	if !proto.Equal(stripWeights(&before), stripWeights(&after)) {
		t.Error("fine-tuning changed the graph")
	}
	changed := 0
	for i, init := range before.GetGraph().GetInitializer() {
		if !proto.Equal(init, after.GetGraph().GetInitializer()[i]) {
			changed++
		}
	}
	if changed == 0 {
		t.Error("no weight changed")
	}
	if code, _, stderr := runCLI(t, "train", "--from", src, "--arch", "lenet", "--data", "mnist:train", "-o", out); code != exitInput || !strings.Contains(stderr, "not both") {
		t.Errorf("--from with --arch: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "train", "--from", "../../testdata/torch/resnet18_op13.onnx", "--data", "cifar10:nope.bin", "-o", out); code != exitInput {
		t.Errorf("--from with bad data: exit %d: %s", code, stderr)
	}
}

// stripWeights is a model without its initializers' values.
func stripWeights(m *pb.ModelProto) *pb.ModelProto {
	c := proto.Clone(m).(*pb.ModelProto)
	for _, t := range c.GetGraph().GetInitializer() {
		t.RawData, t.FloatData = nil, nil
	}
	c.ProducerName, c.ProducerVersion = nil, nil
	return c
}

// A model whose logits are NaN (finite weights, log of a negative) is an
// input error in eval, grad and attack, named, with nothing written.
func TestNonFiniteOutputs(t *testing.T) {
	dir := t.TempDir()
	b := onnxgraph.New("nan")
	b.Input("x", onnxgraph.Batch, 1, 28, 28)
	b.Initializer("W", []int{10, 784}, make([]float32, 7840))
	b.Node("Flatten", []string{"x"}, []string{"f"})
	b.Node("Gemm", []string{"f", "W"}, []string{"z"}, onnxgraph.Int("transB", 1))
	b.Node("Exp", []string{"z"}, []string{"e"})
	b.Node("Neg", []string{"e"}, []string{"n"})
	b.Node("Log", []string{"n"}, []string{"logits"})
	b.Output("logits", onnxgraph.Batch, 10)
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(dir, "nan.onnx")
	if err := os.WriteFile(m, data, 0o644); err != nil {
		t.Fatal(err)
	}
	adv := filepath.Join(dir, "adv.npy")
	for _, args := range [][]string{
		{"eval", "--model", m, "--limit", "10"},
		{"attack", "--attack", "fgsm", "--surrogate", m, "--limit", "10", "--save-adv", adv},
		{"attack", "--attack", "fgsm", "--surrogate", "zoo:lenet-mnist", "--victim", m, "--limit", "10", "--save-adv", adv},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitInput || !strings.Contains(stderr, "NaN") || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		if _, err := os.Stat(adv); err == nil {
			t.Errorf("%v wrote %s", args, adv)
		}
	}
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	sc := writeScenario(t, dir, tinyScenario)
	out := filepath.Join(dir, "out")
	if code, _, stderr := runCLI(t, "run", sc, "--out", out, "--no-cache"); code != exitOK {
		t.Fatal(stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err != nil {
		t.Errorf("run wrote no report.html: %v", err)
	}
	res := filepath.Join(out, "results.json")
	for format, want := range map[string]string{"table": "ASR on correct", "markdown": "### Transfer by DUMB case", "html": "<svg", "json": `"kind": "scenario"`} {
		code, stdout, stderr := runCLI(t, "report", res, "--format", format)
		if code != exitOK || !strings.Contains(stdout, want) {
			t.Errorf("--format %s: exit %d, %s", format, code, stderr)
		}
	}
	page := filepath.Join(dir, "p.html")
	if code, _, _ := runCLI(t, "report", res, "--format", "html", "-o", page); code != exitOK {
		t.Error("-o")
	}
	if code, _, stderr := runCLI(t, "report", sc); code != exitInput || !strings.Contains(stderr, "not JSON") {
		t.Errorf("a YAML file: exit %d, %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "report", res, "--format", "pdf"); code != exitInput {
		t.Error("--format pdf accepted")
	}
}

// Outputs never replace a device, never collide with each other and never
// overwrite an input; the refusal comes before any work.
func TestUnsafeOutputs(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	b, _, err := scenarios.ReadModel("zoo:lenet-mnist")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(model, b, 0o644)
	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		dev = "" // not root: the device case is covered by atomicfile's tests
	}
	x := filepath.Join(dir, "x.png")
	base := []string{"attack", "--attack", "fgsm", "--surrogate", model, "--limit", "5"}
	cases := map[string][]string{
		"the same file twice": {"--save-adv", x, "--grid", x},
		"an input as output":  {"--grid", model},
		"a folder as output":  {"--save-adv", dir},
		"a missing folder":    {"--save-adv", filepath.Join(dir, "no", "a.npy")},
	}
	if dev != "" {
		cases["a device as output"] = []string{"--save-adv", dev}
	}
	for name, extra := range cases {
		code, _, stderr := runCLI(t, append(append([]string(nil), base...), extra...)...)
		if code != exitInput {
			t.Errorf("%s: exit %d: %s", name, code, stderr)
		}
	}
	if got, _ := os.ReadFile(model); !bytes.Equal(got, b) {
		t.Error("the model was overwritten")
	}
	if dev != "" {
		if st, err := os.Stat(dev); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			t.Errorf("the device was replaced: %v", err)
		}
	}
}
