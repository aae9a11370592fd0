package models

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// The official ONNX backend node tests (Debian's libonnx-testdata): every
// test whose ops advmatrix implements must reproduce the expected outputs.
const onnxTestData = "/usr/share/libonnx-testdata/data"

func readTensorPB(path string) (*constant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tp pb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return decodeTensor(&tp, tensorLimits{maxElements: 1 << 28})
}

type nodeResult struct {
	name, status, why string
}

var updateNodeTests = flag.Bool("update-node-tests", false, "rewrite testdata/onnx_node_tests.txt from this run")

// nodeTestsFile pins the outcome of every official node test: a test that
// passed and no longer does is a regression, and a test that newly passes
// or is skipped for another reason must be recorded (-update-node-tests),
// so the count cannot drift silently.
const nodeTestsFile = "testdata/onnx_node_tests.txt"

func checkPinned(t *testing.T, results []nodeResult) {
	t.Helper()
	var b strings.Builder
	for _, r := range results {
		why := r.why
		if r.status == "pass" {
			why = "-"
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\n", r.name, r.status, strings.ReplaceAll(why, "\n", " "))
	}
	if *updateNodeTests {
		if err := os.WriteFile(nodeTestsFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(nodeTestsFile)
	if err != nil {
		t.Fatalf("%v (go test ./models -run TestONNXNodeTests -update-node-tests writes it)", err)
	}
	want := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) == 3 {
			want[f[0]] = [2]string{f[1], f[2]}
		}
	}
	got := map[string]bool{}
	for _, r := range results {
		got[r.name] = true
		w, ok := want[r.name]
		switch {
		case !ok:
			t.Errorf("%s: %s, not in %s (record it with -update-node-tests)", r.name, r.status, nodeTestsFile)
		case w[0] == "pass" && r.status != "pass":
			t.Errorf("regression: %s passed before, now %s: %s", r.name, r.status, r.why)
		case w[0] != r.status:
			t.Errorf("%s: %s now (%s), %s in %s: record it with -update-node-tests", r.name, r.status, r.why, w[0], nodeTestsFile)
		}
	}
	for name, w := range want {
		if !got[name] {
			t.Errorf("%s (%s in %s) is missing from the installed test data", name, w[0], nodeTestsFile)
		}
	}
}

func TestONNXNodeTests(t *testing.T) {
	if _, err := os.Stat(onnxTestData); err != nil {
		t.Skip("libonnx-testdata is not installed (apt-get install libonnx-testdata)")
	}
	var dirs []string
	for _, kind := range []string{"node", "pytorch-converted", "pytorch-operator", "simple"} {
		m, _ := filepath.Glob(filepath.Join(onnxTestData, kind, "*"))
		dirs = append(dirs, m...)
	}
	sort.Strings(dirs)
	var results []nodeResult
	ops := map[string]int{}
	for _, dir := range dirs {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		res := runNodeTest(dir, ops)
		res.name = name
		results = append(results, res)
	}
	ran, passed, skipped := 0, 0, 0
	var skipLines []string
	reasons := map[string]int{}
	for _, r := range results {
		switch r.status {
		case "pass":
			ran++
			passed++
		case "fail":
			ran++
			t.Errorf("%s: %s", r.name, r.why)
		case "skip":
			skipped++
			if strings.HasPrefix(r.why, "unsupported op") {
				reasons["unsupported op"]++
			} else {
				skipLines = append(skipLines, fmt.Sprintf("  %s: %s", r.name, r.why))
			}
		}
	}
	var opNames []string
	for op := range ops {
		opNames = append(opNames, op)
	}
	sort.Strings(opNames)
	t.Logf("ONNX backend tests: %d ran, %d passed, %d skipped (of %d)", ran, passed, skipped, len(results))
	checkPinned(t, results)
	t.Logf("ops covered by passing tests: %s", strings.Join(opNames, " "))
	t.Logf("skipped %d because they use ops advmatrix does not implement", reasons["unsupported op"])
	if testing.Verbose() {
		t.Logf("skipped for other reasons:\n%s", strings.Join(skipLines, "\n"))
	}
}

func runNodeTest(dir string, ops map[string]int) nodeResult {
	b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return nodeResult{status: "skip", why: "no model.onnx"}
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		return nodeResult{status: "fail", why: err.Error()}
	}
	for _, n := range m.GetGraph().GetNode() {
		if _, ok := opRegistry[n.GetOpType()]; !ok {
			return nodeResult{status: "skip", why: "unsupported op " + n.GetOpType()}
		}
	}
	if b := filepath.Base(dir); strings.HasPrefix(b, "test_training_dropout") && !strings.Contains(b, "zero_ratio") {
		return nodeResult{status: "skip", why: "training-mode Dropout draws a random mask; NumPy's stream that made the expected output cannot be reproduced"}
	}
	g, err := newGraph(&m, loadOptions{maxElements: 1 << 28})
	if err != nil {
		return nodeResult{status: "skip", why: err.Error()}
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return nodeResult{status: "skip", why: "no test data"}
	}
	for _, set := range sets {
		var ins, outs []*constant
		for i := 0; ; i++ {
			p := filepath.Join(set, fmt.Sprintf("input_%d.pb", i))
			if _, err := os.Stat(p); err != nil {
				break
			}
			c, err := readTensorPB(p)
			if err != nil {
				return nodeResult{status: "skip", why: "test data: " + err.Error()}
			}
			ins = append(ins, c)
		}
		for i := 0; ; i++ {
			p := filepath.Join(set, fmt.Sprintf("output_%d.pb", i))
			if _, err := os.Stat(p); err != nil {
				break
			}
			c, err := readTensorPB(p)
			if err != nil {
				return nodeResult{status: "skip", why: "test data: " + err.Error()}
			}
			outs = append(outs, c)
		}
		if len(ins) != len(g.inputs) {
			return nodeResult{status: "skip", why: fmt.Sprintf("%d inputs in data, %d in graph (optional inputs omitted)", len(ins), len(g.inputs))}
		}
		for i, in := range ins {
			if in.dtype != g.inputs[i].dtype {
				return nodeResult{status: "skip", why: fmt.Sprintf("test data holds input %d as %s, the graph declares %s", i, dtypeName(in.dtype), dtypeName(g.inputs[i].dtype))}
			}
		}
		for i, out := range outs {
			if i < len(g.outputs) && out.dtype != g.outputs[i].dtype {
				return nodeResult{status: "skip", why: fmt.Sprintf("test data holds output %d as %s, the graph declares %s", i, dtypeName(out.dtype), dtypeName(g.outputs[i].dtype))}
			}
		}
		useF64 := false
		for _, in := range ins {
			if in.dtype == dtDouble {
				useF64 = true
			}
		}
		var got [][]float64
		var why string
		for _, allConst := range []bool{false, true} {
			// Integer and static inputs are compile-time values in advmatrix; a
			// graph that computes booleans (comparisons) is evaluated wholly at
			// compile time, as it would be inside a model.
			if useF64 {
				got, why = execNode[float64](g, ins, allConst)
			} else {
				got, why = execNode[float32](g, ins, allConst)
			}
			if why == "" {
				break
			}
		}
		if why != "" {
			return nodeResult{status: "skip", why: why}
		}
		for i, want := range outs {
			if i >= len(got) {
				return nodeResult{status: "fail", why: "missing output"}
			}
			w := want.float64s()
			if len(w) != len(got[i]) {
				return nodeResult{status: "fail", why: fmt.Sprintf("output %d: %d values, want %d", i, len(got[i]), len(w))}
			}
			for j := range w {
				d := math.Abs(got[i][j] - w[j])
				if math.IsNaN(w[j]) != math.IsNaN(got[i][j]) || (!math.IsNaN(w[j]) && !(d <= 1e-4*math.Abs(w[j])+1e-5) && !(math.IsInf(w[j], 0) && got[i][j] == w[j])) {
					return nodeResult{status: "fail", why: fmt.Sprintf("%s output %d[%d] = %g, want %g", filepath.Base(set), i, j, got[i][j], w[j])}
				}
			}
		}
	}
	for _, n := range g.nodes {
		ops[n.GetOpType()]++
	}
	return nodeResult{status: "pass"}
}

// execNode runs a graph on test inputs: float inputs are run-time data,
// integer inputs are bound at compile time (as shapes and indices are).
func execNode[T Float](g *graph, ins []*constant, allConst bool) ([][]float64, string) {
	opt := compileOptions{constInputs: map[string]*constant{}, maxElements: 1 << 28}
	static := map[string]bool{}
	for _, n := range g.nodes {
		def := opRegistry[n.GetOpType()]
		for j, name := range n.GetInput() {
			if def.isStatic(j, g.opset) {
				static[name] = true
			}
		}
	}
	for i, in := range g.inputs {
		opt.inputShapes = append(opt.inputShapes, ins[i].shape)
		if allConst || static[in.name] || !isFloatType(ins[i].dtype) || ins[i].dtype == dtFloat16 {
			opt.constInputs[in.name] = ins[i]
		}
	}
	p, err := compile[T](g, opt)
	if err != nil {
		return nil, err.Error()
	}
	p.loadParams(g)
	for i := range g.inputs {
		if p.inputs[i] < 0 {
			continue
		}
		x := make([]T, ins[i].size())
		fillConst(x, ins[i])
		if err := p.setInput(i, x); err != nil {
			return nil, err.Error()
		}
	}
	p.forward()
	var res [][]float64
	for i := range g.outputs {
		if k, ok := p.constOuts[i]; ok {
			res = append(res, k.float64s())
			continue
		}
		o := p.output(i)
		f := make([]float64, len(o))
		for j, v := range o {
			f[j] = float64(v)
		}
		res = append(res, f)
	}
	return res, ""
}
