package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/datasets/npy"
	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/zoo"
	zoobuild "github.com/advmatrix/advmatrix/zoo/build"
	"google.golang.org/protobuf/proto"
)

// withoutRSS checks the peak_rss_bytes field that every command's JSON
// object carries and returns the JSON without it, for strict decoding
// into the result type.
func withoutRSS(t *testing.T, stdout string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	var rss int64
	if err := json.Unmarshal(m["peak_rss_bytes"], &rss); err != nil || rss <= 0 {
		t.Errorf("peak_rss_bytes = %s", m["peak_rss_bytes"])
	}
	delete(m, "peak_rss_bytes")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runCLI runs the command line in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// fixtures writes the files the CLI tests read into a temporary folder.
type fixtures struct {
	dir string
	x   []float32 // 2×1×28×28 images in [0,1]
	y   []int
}

func (f *fixtures) path(name string) string { return filepath.Join(f.dir, name) }

func writeNPY(t *testing.T, path string, a *npy.Array) string {
	t.Helper()
	if err := npy.WriteFile(path, a); err != nil {
		t.Fatal(err)
	}
	return path
}

func newFixtures(t *testing.T) *fixtures {
	t.Helper()
	f := &fixtures{dir: t.TempDir(), x: make([]float32, 2*28*28), y: []int{7, 2}}
	for i := range f.x {
		f.x[i] = float32((i*7919)%1000) / 999
	}
	shape := []int{2, 1, 28, 28}
	writeNPY(t, f.path("x.npy"), npy.NewFloat32(shape, f.x))
	writeNPY(t, f.path("y.npy"), npy.NewInt64([]int{2}, []int64{7, 2}))
	writeNPY(t, f.path("y3.npy"), npy.NewInt64([]int{3}, []int64{7, 2, 1}))
	writeNPY(t, f.path("y2d.npy"), npy.NewInt64([]int{1, 2}, []int64{7, 2}))
	writeNPY(t, f.path("ybad.npy"), npy.NewInt64([]int{2}, []int64{7, 10}))
	writeNPY(t, f.path("yfrac.npy"), npy.NewFloat32([]int{2}, []float32{7, 2.5}))
	v := make([]float32, 20)
	for i := range v {
		v[i] = float32(i%5) - 2
	}
	writeNPY(t, f.path("v.npy"), npy.NewFloat32([]int{2, 10}, v))
	writeNPY(t, f.path("v_wrong.npy"), npy.NewFloat32([]int{2, 9}, v[:18]))
	writeNPY(t, f.path("v_flat.npy"), npy.NewFloat32([]int{20}, v))
	vnan := append([]float32(nil), v...)
	vnan[3] = float32(math.NaN())
	writeNPY(t, f.path("v_nan.npy"), npy.NewFloat32([]int{2, 10}, vnan))

	xi := make([]int64, len(f.x))
	writeNPY(t, f.path("x_int64.npy"), npy.NewInt64(shape, xi))
	xnan := append([]float32(nil), f.x...)
	xnan[100] = float32(math.NaN())
	writeNPY(t, f.path("x_nan.npy"), npy.NewFloat32(shape, xnan))
	xinf := append([]float32(nil), f.x...)
	xinf[5] = float32(math.Inf(1))
	writeNPY(t, f.path("x_inf.npy"), npy.NewFloat32(shape, xinf))
	xbig := append([]float32(nil), f.x...)
	xbig[900] = 1.5
	writeNPY(t, f.path("x_big.npy"), npy.NewFloat32(shape, xbig))
	xneg := append([]float32(nil), f.x...)
	xneg[0] = -0.25
	writeNPY(t, f.path("x_neg.npy"), npy.NewFloat32(shape, xneg))
	writeNPY(t, f.path("x_small.npy"), npy.NewFloat32([]int{3, 1, 8, 8}, make([]float32, 3*64)))
	writeNPY(t, f.path("y_small.npy"), npy.NewInt64([]int{3}, []int64{0, 1, 2}))
	writeNPY(t, f.path("x_flat.npy"), npy.NewFloat32([]int{2, 784}, f.x))
	writeNPY(t, f.path("x_empty.npy"), npy.NewFloat32([]int{0, 1, 28, 28}, nil))
	writeNPY(t, f.path("y_empty.npy"), npy.NewInt64([]int{0}, nil))
	writeNPY(t, f.path("yneg.npy"), npy.NewInt64([]int{2}, []int64{-1, 2}))
	writeNPY(t, f.path("x_u8.npy"), npy.NewUint8(shape, make([]uint8, len(f.x))))
	writeNPY(t, f.path("x64.npy"), npy.NewFloat64(shape, func() []float64 {
		d := make([]float64, len(f.x))
		for i, v := range f.x {
			d[i] = float64(v)
		}
		return d
	}()))
	if err := os.WriteFile(f.path("garbage.npy"), []byte("\x93NUMPY\x01\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Models: one with an op advmatrix does not implement, a truncated
	// one, random bytes.
	lenet, err := zoo.Bytes(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(lenet, &m); err != nil {
		t.Fatal(err)
	}
	renamed := false
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "Relu" && !renamed {
			n.OpType = proto.String("NonMaxSuppression")
			n.Name = proto.String("suspicious_node")
			renamed = true
		}
	}
	b, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"unsupported.onnx": b,
		"truncated.onnx":   lenet[:len(lenet)/2],
		"random.onnx":      []byte("these bytes are not a protobuf message \xff\xff\xff\xff"),
		"lenet.onnx":       lenet,
	} {
		if err := os.WriteFile(f.path(name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestExitCodes(t *testing.T) {
	f := newFixtures(t)
	p := f.path
	grad := func(args ...string) []string {
		return append([]string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x.npy"), "--out", p("g_bad.npy")}, args...)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string // substrings of stdout+stderr
	}{
		{"eval", []string{"eval", "--limit", "200"}, exitOK, []string{"accuracy", "200 images"}},
		{"eval npy", []string{"eval", "--model", p("lenet.onnx"), "--data", "npy:" + p("x.npy") + "," + p("y.npy")}, exitOK, []string{"2 images"}},
		{"inspect", []string{"inspect", "zoo:lenet-mnist"}, exitOK, []string{"runnable", "Conv"}},
		{"inspect file", []string{"inspect", p("lenet.onnx")}, exitOK, []string{"runnable"}},
		{"inspect json", []string{"inspect", "--json", "zoo:lenet-mnist"}, exitOK, []string{`"runnable": true`}},
		{"version", []string{"version"}, exitOK, []string{"advmatrix", report.SchemaVersion}},
		{"help", []string{"--help"}, exitOK, []string{"Exit codes"}},
		{"no command", nil, exitOK, []string{"Usage"}},

		{"inspect unsupported op", []string{"inspect", p("unsupported.onnx")}, exitInput,
			[]string{"NonMaxSuppression", "suspicious_node", "opset 13", "cannot be run"}},
		{"inspect unsupported op, json", []string{"inspect", "--json", p("unsupported.onnx")}, exitInput,
			[]string{`"runnable": false`, "NonMaxSuppression"}},
		{"inspect truncated", []string{"inspect", p("truncated.onnx")}, exitInput, []string{"truncated.onnx"}},
		{"inspect random bytes", []string{"inspect", p("random.onnx")}, exitInput, []string{"not an ONNX model"}},
		{"inspect missing file", []string{"inspect", p("missing.onnx")}, exitInput, []string{"missing.onnx"}},
		{"inspect a folder", []string{"inspect", f.dir}, exitInput, []string{f.dir}},
		{"inspect unknown zoo model", []string{"inspect", "zoo:nope"}, exitInput, []string{"nope"}},
		{"inspect without a model", []string{"inspect"}, exitInput, []string{"arg"}},
		{"unknown command", []string{"frobnicate"}, exitInput, []string{"unknown command", "frobnicate"}},
		{"bad flag", []string{"eval", "--bogus"}, exitInput, []string{"bogus"}},
		{"bad flag value", []string{"eval", "--limit", "many"}, exitInput, []string{"many"}},
		{"stray argument", []string{"eval", "extra"}, exitInput, []string{"extra"}},
		{"negative limit", []string{"eval", "--limit", "-5"}, exitInput, []string{"-5"}},
		{"zero batch", []string{"eval", "--batch", "0"}, exitInput, []string{"--batch"}},
		{"eval missing model", []string{"eval", "--model", p("missing.onnx")}, exitInput, []string{"missing.onnx"}},
		{"eval unsupported model", []string{"eval", "--model", p("unsupported.onnx")}, exitInput,
			[]string{"NonMaxSuppression", "suspicious_node", "opset 13"}},
		{"eval truncated model", []string{"eval", "--model", p("truncated.onnx")}, exitInput, []string{"truncated.onnx"}},
		{"eval unknown data scheme", []string{"eval", "--data", "nope:x"}, exitInput, []string{"nope"}},
		{"eval missing npy", []string{"eval", "--data", "npy:" + p("missing.npy")}, exitInput, []string{"missing.npy"}},
		{"eval garbage npy", []string{"eval", "--data", "npy:" + p("garbage.npy")}, exitInput, []string{"garbage.npy"}},
		{"eval wrong image shape", []string{"eval", "--data", "npy:" + p("x_small.npy") + "," + p("y_small.npy")}, exitInput,
			[]string{"[1 8 8]", "[1 28 28]"}},
		{"eval without labels", []string{"eval", "--data", "npy:" + p("x.npy")}, exitInput, []string{"no labels"}},
		{"eval labels of the wrong length", []string{"eval", "--data", "npy:" + p("x.npy") + "," + p("y3.npy")}, exitInput, []string{"y3.npy"}},
		{"eval no images", []string{"eval", "--data", "npy:" + p("x_empty.npy") + "," + p("y_empty.npy")}, exitInput, []string{"x_empty.npy", "no images"}},
		{"eval negative label", []string{"eval", "--data", "npy:" + p("x.npy") + "," + p("yneg.npy")}, exitInput, []string{"yneg.npy"}},
		{"eval label beyond the logits", []string{"eval", "--data", "npy:" + p("x.npy") + "," + p("ybad.npy")}, exitInput, []string{"11 classes", "10 logits"}},
		{"eval logits into a missing folder", []string{"eval", "--limit", "10", "--save-logits", p("no/such/l.npy")}, exitInput, []string{"no/such"}},
		{"eval NaN images", []string{"eval", "--data", "npy:" + p("x_nan.npy") + "," + p("y.npy")}, exitInput, []string{"x_nan.npy"}},

		{"grad missing model flag", []string{"grad", "--input", p("x.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")}, exitInput, []string{"model"}},
		{"grad without out", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x.npy"), "--labels", p("y.npy")}, exitInput, []string{"--out"}},
		{"grad both labels and cotangent", grad("--labels", p("y.npy"), "--cotangent", p("v.npy")), exitInput, []string{"exactly one"}},
		{"grad neither labels nor cotangent", grad(), exitInput, []string{"exactly one"}},
		{"grad int64 images", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_int64.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_int64.npy", "<i8"}},
		{"grad uint8 images", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_u8.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_u8.npy", "|u1", "float32"}},
		{"grad NaN image", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_nan.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_nan.npy", "NaN"}},
		{"grad Inf image", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_inf.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_inf.npy", "[0,1]"}},
		{"grad image above 1", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_big.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_big.npy", "1.5", "[0,1]"}},
		{"grad negative image", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_neg.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_neg.npy", "-0.25"}},
		{"grad wrong image shape", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_small.npy"), "--labels", p("y_small.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_small.npy", "[3 1 8 8]", "1×28×28"}},
		{"grad flat images", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_flat.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_flat.npy", "[2 784]"}},
		{"grad no images", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x_empty.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"x_empty.npy"}},
		{"grad missing input", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("missing.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"missing.npy"}},
		{"grad garbage input", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("garbage.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"garbage.npy"}},
		{"grad labels of the wrong length", grad("--labels", p("y3.npy")), exitInput, []string{"y3.npy", "[3]", "[2]"}},
		{"grad labels of the wrong rank", grad("--labels", p("y2d.npy")), exitInput, []string{"y2d.npy"}},
		{"grad label out of range", grad("--labels", p("ybad.npy")), exitInput, []string{"label 10"}},
		{"grad negative label", grad("--labels", p("yneg.npy")), exitInput, []string{"label -1"}},
		{"grad fractional label", grad("--labels", p("yfrac.npy")), exitInput, []string{"yfrac.npy"}},
		{"grad labels missing", grad("--labels", p("nope.npy")), exitInput, []string{"nope.npy"}},
		{"grad cotangent of the wrong shape", grad("--cotangent", p("v_wrong.npy")), exitInput, []string{"v_wrong.npy", "[2 9]", "[2 10]"}},
		{"grad flat cotangent", grad("--cotangent", p("v_flat.npy")), exitInput, []string{"v_flat.npy", "[20]"}},
		{"grad NaN cotangent", grad("--cotangent", p("v_nan.npy")), exitInput, []string{"v_nan.npy", "NaN"}},
		{"grad unsupported model", []string{"grad", "--model", p("unsupported.onnx"), "--input", p("x.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"NonMaxSuppression"}},
		{"grad random model", []string{"grad", "--model", p("random.onnx"), "--input", p("x.npy"), "--labels", p("y.npy"), "--out", p("g_bad.npy")},
			exitInput, []string{"random.onnx"}},
		{"grad out in a missing folder", []string{"grad", "--model", "zoo:lenet-mnist", "--input", p("x.npy"), "--labels", p("y.npy"), "--out", p("no/such/dir/g.npy")},
			exitInput, []string{"no/such/dir"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			all := stdout + stderr
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("output does not mention %q\nstdout: %s\nstderr: %s", w, stdout, stderr)
				}
			}
			if code != exitOK {
				if !strings.HasPrefix(stderr, "advmatrix: ") && !strings.Contains(stderr, "Error") {
					t.Errorf("stderr does not say what failed: %q", stderr)
				}
				if strings.Contains(stderr, "internal error") || strings.Contains(stderr, "goroutine ") {
					t.Errorf("bad input reported as an internal error: %s", stderr)
				}
			}
			// Nothing half-written: a failed grad leaves no output and no
			// temporary file behind.
			if _, err := os.Stat(p("g_bad.npy")); err == nil {
				t.Errorf("a failed run left %s behind", p("g_bad.npy"))
			}
			if tmp, _ := filepath.Glob(p(".*tmp*")); len(tmp) > 0 {
				t.Errorf("temporary files left behind: %v", tmp)
			}
		})
	}
}

func TestEvalJSON(t *testing.T) {
	code, stdout, stderr := runCLI(t, "eval", "--limit", "100", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res report.EvalResult
	dec := json.NewDecoder(strings.NewReader(withoutRSS(t, stdout)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one EvalResult: %v\n%s", err, stdout)
	}
	if res.Schema != "advmatrix/v1" {
		t.Errorf("schema %q", res.Schema)
	}
	a := res.Accuracy
	if a.Den != 100 || a.Num < 90 || a.Num > 100 || math.Abs(a.Value-float64(a.Num)/float64(a.Den)) > 1e-12 {
		t.Errorf("accuracy %+v", a)
	}
	if !(a.Lo95 <= a.Value && a.Value <= a.Hi95) {
		t.Errorf("interval %+v", a)
	}
	if res.Data.N != 100 || res.Model.Classes != 10 || res.Model.SHA256 == "" {
		t.Errorf("provenance %+v %+v", res.Data, res.Model)
	}
	// Nothing but the JSON on stdout.
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Errorf("stdout holds more than the JSON: %v", err)
	}
}

func TestVersionJSON(t *testing.T) {
	code, stdout, stderr := runCLI(t, "version", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(withoutRSS(t, stdout)), &v); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if v["version"] == "" || v["go"] == "" || v["schema"] != report.SchemaVersion {
		t.Errorf("%v", v)
	}
}

func readFloat32s(t *testing.T, path string) ([]int, []float32) {
	t.Helper()
	a, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.DType != npy.Float32 {
		t.Fatalf("%s has dtype %v", path, a.DType)
	}
	v, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return a.Shape, v
}

func TestGrad(t *testing.T) {
	f := newFixtures(t)
	m, err := zoo.Load(zoo.Default)
	if err != nil {
		t.Fatal(err)
	}
	wantCE, _, err := m.CrossEntropyGrad(f.x, f.y)
	if err != nil {
		t.Fatal(err)
	}
	va, err := npy.ReadFile(f.path("v.npy"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := va.Float32()
	wantVJP, err := m.VJP(f.x, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		want  []float32
		model string
	}{
		{"labels", []string{"--input", f.path("x.npy"), "--labels", f.path("y.npy")}, wantCE, "zoo:lenet-mnist"},
		{"labels, model file", []string{"--input", f.path("x.npy"), "--labels", f.path("y.npy")}, wantCE, f.path("lenet.onnx")},
		{"float64 images", []string{"--input", f.path("x64.npy"), "--labels", f.path("y.npy")}, wantCE, "zoo:lenet-mnist"},
		{"cotangent", []string{"--input", f.path("x.npy"), "--cotangent", f.path("v.npy")}, wantVJP, "zoo:lenet-mnist"},
		{"json", []string{"--input", f.path("x.npy"), "--labels", f.path("y.npy"), "--json"}, wantCE, "zoo:lenet-mnist"},
		// Chunked runs give the whole batch's results bit for bit.
		{"labels, one image per chunk", []string{"--input", f.path("x.npy"), "--labels", f.path("y.npy"), "--batch", "1"}, wantCE, "zoo:lenet-mnist"},
		{"cotangent, one image per chunk", []string{"--input", f.path("x.npy"), "--cotangent", f.path("v.npy"), "--batch", "1"}, wantVJP, "zoo:lenet-mnist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := f.path("g.npy")
			os.Remove(out)
			args := append([]string{"grad", "--model", tc.model, "--out", out}, tc.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			shape, g := readFloat32s(t, out)
			if len(shape) != 4 || shape[0] != 2 || shape[1] != 1 || shape[2] != 28 || shape[3] != 28 {
				t.Fatalf("shape %v", shape)
			}
			nonzero := false
			for i := range g {
				if g[i] != tc.want[i] {
					t.Fatalf("g[%d] = %v, the library gives %v", i, g[i], tc.want[i])
				}
				nonzero = nonzero || g[i] != 0
			}
			if !nonzero {
				t.Error("all-zero gradient")
			}
			if strings.Contains(tc.name, "json") {
				var res gradResult
				if err := json.Unmarshal([]byte(stdout), &res); err != nil {
					t.Fatalf("%v\n%s", err, stdout)
				}
				if res.Schema != report.SchemaVersion || res.Mode != "cross_entropy_sum" || res.Loss == nil || *res.Loss <= 0 {
					t.Errorf("%+v", res)
				}
				var extra struct {
					PeakRSS int64 `json:"peak_rss_bytes"`
				}
				if err := json.Unmarshal([]byte(stdout), &extra); err != nil || extra.PeakRSS <= 0 {
					t.Errorf("peak_rss_bytes %d (%v)", extra.PeakRSS, err)
				}
			} else if !strings.Contains(stdout, "wrote "+out) {
				t.Errorf("stdout: %s", stdout)
			}
		})
	}
	// A failed run does not replace or damage an existing output.
	out := f.path("g.npy")
	before, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	code, _, _ := runCLI(t, "grad", "--model", "zoo:lenet-mnist", "--input", f.path("x_nan.npy"), "--labels", f.path("y.npy"), "--out", out)
	if code != exitInput {
		t.Fatalf("exit %d", code)
	}
	after, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("a failed run changed %s (err %v)", out, err)
	}
}

// attackFixtures writes models and target files for the attack tests:
// a 3-class model and a model taking 8×8 images (softmax regressions), and
// target files of the right and the wrong length for 20 images.
func attackFixtures(t *testing.T, f *fixtures) {
	t.Helper()
	for name, c := range map[string]struct {
		shape   []int
		classes int
	}{"three_classes.onnx": {[]int{1, 28, 28}, 3}, "small_images.onnx": {[]int{1, 8, 8}, 10}} {
		d := c.shape[0] * c.shape[1] * c.shape[2]
		w := make([]float32, d*c.classes)
		for i := range w {
			w[i] = float32(i%13)/13 - 0.5
		}
		m, err := arch.SoftmaxRegression(c.shape, c.classes, w, make([]float32, c.classes))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SaveFile(f.path(name)); err != nil {
			t.Fatal(err)
		}
	}
	// Targets for the first 20 MNIST test images: the next class after
	// each label (a target is never the label itself).
	mnist, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	t20 := make([]int64, 20)
	for i := range t20 {
		t20[i] = int64((mnist.Labels[i] + 1) % 10)
	}
	own := make([]int64, 20)
	for i := range own {
		own[i] = int64(mnist.Labels[i])
	}
	writeNPY(t, f.path("t20own.npy"), npy.NewInt64([]int{20}, own))
	writeNPY(t, f.path("t20.npy"), npy.NewInt64([]int{20}, t20))
	writeNPY(t, f.path("t19.npy"), npy.NewInt64([]int{19}, t20[:19]))
	bad := append([]int64(nil), t20...)
	bad[3] = 10
	writeNPY(t, f.path("t20bad.npy"), npy.NewInt64([]int{20}, bad))
}

const mlpVictim = "../../testdata/torch/mlp_op13.onnx"

func TestAttackExitCodes(t *testing.T) {
	f := newFixtures(t)
	attackFixtures(t, f)
	p := f.path
	base := func(args ...string) []string {
		return append([]string{"attack", "--attack", "fgsm", "--surrogate", "zoo:lenet-mnist", "--victim", mlpVictim, "--limit", "20",
			"--save-adv", p("bad_adv.npy"), "--grid", p("bad_grid.png")}, args...)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"help lists the attacks", []string{"attack", "--help"}, exitOK, []string{"fgsm", "one gradient-sign step", "pgd", "mifgsm", "--limit", "500", "--select-strength", "--strengths", "--ssim-min"}},
		{"white-box", []string{"attack", "--attack", "fgsm", "--surrogate", "zoo:lenet-mnist", "--limit", "10"}, exitOK, []string{"white-box", "ASR on correct", "10/10"}},
		{"table", []string{"attack", "--attack", "ifgsm", "--steps", "2", "--surrogate", "zoo:lenet-mnist", "--victim", mlpVictim, "--limit", "10", "--quantize", "--targeted", "random"},
			exitOK, []string{"ASR all", "ASR ratio", "targeted success", "uint8", "steps=2", "given       steps", "SSIM", "gradient (images)"}},

		{"negative eps", base("--eps", "-0.1"), exitInput, []string{"--eps", "-0.1"}},
		{"NaN eps", base("--eps", "NaN"), exitInput, []string{"--eps"}},
		{"zero steps", base("--steps", "0"), exitInput, []string{"--steps 0"}},
		{"unknown attack", []string{"attack", "--attack", "nope", "--surrogate", "zoo:lenet-mnist"}, exitInput, []string{"unknown attack", "nope", "fgsm"}},
		{"no attack", []string{"attack", "--surrogate", "zoo:lenet-mnist"}, exitInput, []string{"--attack", "fgsm"}},
		{"unknown param", base("--param", "bogus=1"), exitInput, []string{"bogus", "di_prob"}},
		{"malformed param", base("--param", "di_prob"), exitInput, []string{"key=value"}},
		{"non-numeric param", base("--param", "di_prob=lots"), exitInput, []string{"lots"}},
		{"bad param value", base("--param", "di_prob=2"), exitInput, []string{"probability"}},
		{"no surrogate", []string{"attack", "--attack", "fgsm", "--victim", mlpVictim}, exitInput, []string{"--surrogate"}},
		{"victim with other classes", base("--victim", p("three_classes.onnx")), exitInput, []string{"three_classes.onnx", "3 classes", "10"}},
		{"victim with other images", base("--victim", p("small_images.onnx")), exitInput, []string{"small_images.onnx", "1×8×8", "1×28×28"}},
		{"surrogates that disagree", base("--surrogate", p("three_classes.onnx")), exitInput, []string{"surrogate 1", "3 classes"}},
		{"missing victim", base("--victim", p("missing.onnx")), exitInput, []string{"missing.onnx"}},
		{"unsupported surrogate", []string{"attack", "--attack", "fgsm", "--surrogate", p("unsupported.onnx")}, exitInput, []string{"NonMaxSuppression"}},
		{"targets of the wrong length", base("--targets", p("t19.npy")), exitInput, []string{"t19.npy", "[19]", "[20]"}},
		{"target out of range", base("--targets", p("t20bad.npy")), exitInput, []string{"t20bad.npy", "10"}},
		{"targets equal to the labels", base("--targets", p("t20own.npy")), exitInput, []string{"its own label"}},
		{"missing targets", base("--targets", p("nope.npy")), exitInput, []string{"nope.npy"}},
		{"given without targets", base("--targeted", "given"), exitInput, []string{"--targets"}},
		{"targets with random", base("--targeted", "random", "--targets", p("t20.npy")), exitInput, []string{"--targets", "random"}},
		{"unknown target mode", base("--targeted", "sometimes"), exitInput, []string{"sometimes"}},
		{"unknown norm", base("--norm", "l3"), exitInput, []string{"l3"}},
		{"unknown fusion", base("--fusion", "votes"), exitInput, []string{"votes"}},
		{"zero batch", base("--batch", "0"), exitInput, []string{"--batch"}},
		{"negative limit", base("--limit", "-1"), exitInput, []string{"-1"}},
		{"data without labels", base("--data", "npy:"+p("x.npy")), exitInput, []string{"no labels"}},
		{"output folder missing", base("--save-adv", p("no/such/adv.npy")), exitInput, []string{"no/such"}},
		{"grid folder missing", base("--grid", p("no/such/g.png")), exitInput, []string{"no/such"}},

		{"select-strength table", base("--select-strength", "--strengths", "0.05,0.1,0.3"), exitOK,
			[]string{"chosen by --select-strength", "eps (chosen by --select-strength)", "0.05", "0.1", "0.3", "fooled", "> 0.4", "chosen"}},
		{"select-strength with --eps", base("--select-strength", "--eps", "0.1"), exitInput, []string{"--select-strength", "--eps"}},
		{"select-strength with the corruption's param", []string{"attack", "--attack", "boxblur", "--surrogate", "zoo:lenet-mnist", "--limit", "20",
			"--select-strength", "--param", "radius=2"}, exitInput, []string{"--select-strength", "--param radius"}},
		{"select-strength without a strength", []string{"attack", "--attack", "greyscale", "--surrogate", "zoo:lenet-mnist", "--limit", "20",
			"--select-strength"}, exitInput, []string{"greyscale", "no strength"}},
		{"select-strength, nothing qualifies", base("--select-strength", "--strengths", "0.2,0.3", "--ssim-min", "0.9"), exitInput,
			[]string{"--ssim-min 0.9", "best SSIM seen is 0.", "eps=0.2"}},
		{"select-strength, targeted", base("--select-strength", "--targeted", "random"), exitInput, []string{"--select-strength", "--targeted random"}},
		{"strengths not a number", base("--select-strength", "--strengths", "0.1,lots"), exitInput, []string{"--strengths", "lots"}},
		{"strengths negative", base("--select-strength", "--strengths", "0.1,-0.2"), exitInput, []string{"--strengths", "-0.2", "negative"}},
		{"strengths empty", base("--select-strength", "--strengths", ""), exitInput, []string{"--strengths", "empty"}},
		{"strengths empty item", base("--select-strength", "--strengths", "0.1,,0.2"), exitInput, []string{"--strengths", "not a finite number"}},
		{"strengths repeated", base("--select-strength", "--strengths", "0.1,0.1"), exitInput, []string{"--strengths", "twice"}},
		{"strengths the attack rejects", []string{"attack", "--attack", "saltpepper", "--surrogate", "zoo:lenet-mnist", "--limit", "20",
			"--select-strength", "--strengths", "0.05,2"}, exitInput, []string{"--strengths", "amount=2"}},
		{"strengths without select-strength", base("--strengths", "0.1"), exitInput, []string{"--strengths", "--select-strength"}},
		{"ssim-min without select-strength", base("--ssim-min", "0.5"), exitInput, []string{"--ssim-min", "--select-strength"}},
		{"ssim-min out of range", base("--select-strength", "--ssim-min", "1.5"), exitInput, []string{"--ssim-min", "1.5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			all := stdout + stderr
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("output does not mention %q\nstdout: %s\nstderr: %s", w, stdout, stderr)
				}
			}
			if code != exitOK {
				if !strings.HasPrefix(stderr, "advmatrix: ") || strings.Contains(stderr, "internal error") {
					t.Errorf("stderr: %q", stderr)
				}
				if stdout != "" {
					t.Errorf("a failed run printed results: %s", stdout)
				}
			}
			for _, out := range []string{"bad_adv.npy", "bad_grid.png"} {
				if _, err := os.Stat(p(out)); err == nil && code != exitOK {
					t.Errorf("a failed run left %s behind", out)
				}
				os.Remove(p(out))
			}
			if tmp, _ := filepath.Glob(p(".*tmp*")); len(tmp) > 0 {
				t.Errorf("temporary files left behind: %v", tmp)
			}
		})
	}
}

func TestAttackJSON(t *testing.T) {
	dir := t.TempDir()
	adv, grid := filepath.Join(dir, "adv.npy"), filepath.Join(dir, "grid.png")
	code, stdout, stderr := runCLI(t, "attack", "--attack", "fgsm", "--surrogate", "zoo:lenet-mnist", "--victim", mlpVictim,
		"--limit", "20", "--json", "--save-adv", adv, "--grid", grid, "--grid-rows", "3")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res report.AttackResult
	dec := json.NewDecoder(strings.NewReader(withoutRSS(t, stdout)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one AttackResult: %v\n%s", err, stdout)
	}
	if res.Schema != report.SchemaVersion || res.Attack != "fgsm" || res.N != 20 || res.Data.N != 20 || res.WhiteBox {
		t.Errorf("header %+v", res)
	}
	if res.Params.Eps != 0.25 || res.Params.Steps != 1 || res.Params.Norm != "linf" || res.Eps != 0.25 || len(res.Params.Given) != 0 {
		t.Errorf("params %+v", res.Params)
	}
	if len(res.Surrogates) != 1 || res.Surrogates[0].SHA256 == "" || len(res.Victims) != 1 || res.Victims[0].Model.SHA256 == "" {
		t.Fatalf("models %+v %+v", res.Surrogates, res.Victims)
	}
	v := res.Victims[0]
	if v.Surrogate || v.Quantized != nil || v.TargetedSuccess != nil {
		t.Errorf("victim %+v", v)
	}
	if v.CleanAccuracy.Den != 20 || v.AdvAccuracy.Den != 20 || v.ASRAll.Den != 20 {
		t.Errorf("denominators: clean %+v adv %+v asr_all %+v", v.CleanAccuracy, v.AdvAccuracy, v.ASRAll)
	}
	if v.ASRAll.Num != 20-v.AdvAccuracy.Num || v.ASROnCorrect.Den != v.CleanAccuracy.Num || v.ASROnCorrect.Num > v.ASRAll.Num {
		t.Errorf("asr_all %+v asr_on_correct %+v", v.ASRAll, v.ASROnCorrect)
	}
	if r := v.ASRRatio; !r.Defined || r.Den != v.CleanAccuracy.Num || r.Num != v.CleanAccuracy.Num-v.AdvAccuracy.Num || !(r.Lo95 <= r.Value && r.Value <= r.Hi95) {
		t.Errorf("asr_ratio %+v", r)
	}
	if v.ASRAll.Num == 0 {
		t.Error("FGSM at ε = 0.25 fooled no MLP image")
	}
	if res.SurrogateForwardEvals != 20 || res.SurrogateGradEvals != 20 {
		t.Errorf("evaluations: %d forward, %d gradient; FGSM on 20 images takes 20 of each", res.SurrogateForwardEvals, res.SurrogateGradEvals)
	}
	pt := res.Perturbation
	if math.Abs(pt.Linf.Max-0.25) > 1e-6 || pt.L2.Mean <= 0 || pt.L0.Max <= 0 || pt.L0.Max > 784 || pt.Values != 784 {
		t.Errorf("perturbation %+v", pt)
	}
	if !(res.MeanSSIM > 0 && res.MeanSSIM < 1) {
		t.Errorf("SSIM %v", res.MeanSSIM)
	}
	shape, x := readFloat32s(t, adv)
	if len(shape) != 4 || shape[0] != 20 || shape[1] != 1 || shape[2] != 28 || shape[3] != 28 {
		t.Fatalf("adv shape %v", shape)
	}
	for i, e := range x {
		if e < 0 || e > 1 {
			t.Fatalf("adv[%d] = %v", i, e)
		}
	}
	gf, err := os.Open(grid)
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	img, err := png.Decode(gf)
	if err != nil {
		t.Fatal(err)
	}
	// 3 rows of 28×28 at ×4 with 2 px separators.
	if s := img.Bounds().Size(); s.X != 3*112+8 || s.Y != 3*112+8 {
		t.Errorf("grid size %v", s)
	}

	// The same run again gives the same JSON apart from times.
	code, stdout2, _ := runCLI(t, "attack", "--attack", "fgsm", "--surrogate", "zoo:lenet-mnist", "--victim", mlpVictim, "--limit", "20", "--json")
	if code != exitOK {
		t.Fatal(code)
	}
	var res2 report.AttackResult
	if err := json.Unmarshal([]byte(stdout2), &res2); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*report.AttackResult{&res, &res2} {
		r.StartedAt, r.AttackSeconds, r.EvalSeconds, r.WallSeconds, r.ModelSeconds, r.GradEvalsPerSecond = "", 0, 0, 0, 0, 0
	}
	a, _ := json.Marshal(res)
	b, _ := json.Marshal(res2)
	if !bytes.Equal(a, b) {
		t.Errorf("two runs differ:\n%s\n%s", a, b)
	}
}

func TestAttackTargetedGiven(t *testing.T) {
	f := newFixtures(t)
	attackFixtures(t, f)
	code, stdout, stderr := runCLI(t, "attack", "--attack", "ifgsm", "--steps", "40", "--surrogate", "zoo:lenet-mnist",
		"--limit", "20", "--targets", f.path("t20.npy"), "--quantize", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res report.AttackResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Targeted != "given" || res.TargetsFile == nil || res.TargetsFile.SHA256 == "" || len(res.Targets) != 20 || !res.WhiteBox {
		t.Fatalf("targets %+v %v %v", res.TargetsFile, res.Targets, res.WhiteBox)
	}
	v := res.Victims[0]
	if !v.Surrogate || v.TargetedSuccess == nil || v.TargetedSuccess.Den != 20 || v.Quantized == nil || v.Quantized.TargetedSuccess == nil {
		t.Fatalf("victim %+v", v)
	}
	// White-box targeted I-FGSM at ε = 0.3 reaches most targets.
	if v.TargetedSuccess.Num < 10 {
		t.Errorf("targeted success %+v", *v.TargetedSuccess)
	}
	if res.PerturbationQuantized == nil || res.MeanSSIMQuantized == nil {
		t.Error("no quantized perturbation")
	}
	if given := strings.Join(res.Params.Given, ","); given != "steps" {
		t.Errorf("given %q", given)
	}
}

// decodeAttack decodes stdout as exactly one AttackResult.
func decodeAttack(t *testing.T, stdout string) report.AttackResult {
	t.Helper()
	var res report.AttackResult
	dec := json.NewDecoder(strings.NewReader(withoutRSS(t, stdout)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one AttackResult: %v\n%s", err, stdout)
	}
	return res
}

// checkSelection checks a strength_selection against DUMB's rule: the
// chosen strength qualifies and no qualifying one has a higher ASR (ties
// to the smaller strength).
func checkSelection(t *testing.T, s *report.StrengthSelection, param string, grid []float64) report.StrengthRow {
	t.Helper()
	if s == nil {
		t.Fatal("no strength_selection")
	}
	if s.Param != param || s.SSIMMin != 0.4 || s.Surrogate.SHA256 == "" || s.Surrogate.Path != "zoo:lenet-mnist" {
		t.Errorf("selection header %+v", s)
	}
	if len(s.Grid) != len(grid) || len(s.Table) != len(grid) {
		t.Fatalf("grid %v, table of %d rows; want %v", s.Grid, len(s.Table), grid)
	}
	var chosen *report.StrengthRow
	for i, r := range s.Table {
		if s.Grid[i] != grid[i] || r.Strength != grid[i] {
			t.Errorf("row %d: strength %v, grid %v, want %v", i, r.Strength, s.Grid[i], grid[i])
		}
		if r.Correct == 0 || r.Fooled > r.Correct || math.Abs(r.ASR-float64(r.Fooled)/float64(r.Correct)) > 1e-12 {
			t.Errorf("row %d: %+v", i, r)
		}
		if r.Qualifies != (r.SSIM > s.SSIMMin) {
			t.Errorf("row %d qualifies %v with SSIM %v", i, r.Qualifies, r.SSIM)
		}
		if r.Strength == s.Chosen {
			chosen = &s.Table[i]
		}
	}
	if chosen == nil || !chosen.Qualifies {
		t.Fatalf("chosen %v is not a qualifying row of %+v", s.Chosen, s.Table)
	}
	for _, r := range s.Table {
		if r.Qualifies && (r.ASR > chosen.ASR || (r.ASR == chosen.ASR && r.Strength < chosen.Strength)) {
			t.Errorf("chose %+v over %+v", *chosen, r)
		}
	}
	if s.SurrogateForwardEvals <= 0 || s.Seconds <= 0 {
		t.Errorf("selection cost %d forward, %v s", s.SurrogateForwardEvals, s.Seconds)
	}
	return *chosen
}

func TestAttackSelectStrength(t *testing.T) {
	t.Run("fgsm", func(t *testing.T) {
		// White-box, so that the run repeats the chosen row of the table.
		code, stdout, stderr := runCLI(t, "attack", "--attack", "fgsm", "--surrogate", "zoo:lenet-mnist", "--limit", "20",
			"--select-strength", "--strengths", "0.05,0.1,0.3", "--json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		res := decodeAttack(t, stdout)
		s := res.StrengthSelection
		row := checkSelection(t, s, "eps", []float64{0.05, 0.1, 0.3})
		if !s.GridGiven || s.SurrogateGradEvals != 3*20 {
			t.Errorf("grid_given %v, %d gradient evaluations (3 strengths × 20 images)", s.GridGiven, s.SurrogateGradEvals)
		}
		if res.Eps != s.Chosen || res.Params.Eps != s.Chosen || res.Params.Alpha != s.Chosen || strings.Join(res.Params.Given, ",") != "eps" {
			t.Errorf("crafted with %+v, chose %v", res.Params, s.Chosen)
		}
		if math.Abs(res.Perturbation.Linf.Max-s.Chosen) > 1e-6 {
			t.Errorf("L∞ %v for ε %v", res.Perturbation.Linf.Max, s.Chosen)
		}
		// The selection's evaluations are not the run's.
		if res.SurrogateGradEvals != 20 {
			t.Errorf("run: %d gradient evaluations", res.SurrogateGradEvals)
		}
		v := res.Victims[0].Scores
		if v.ASROnCorrect.Num != row.Fooled || v.ASROnCorrect.Den != row.Correct || math.Abs(res.MeanSSIM-row.SSIM) > 1e-9 {
			t.Errorf("the run (%+v, SSIM %v) does not repeat the chosen row %+v", v.ASROnCorrect, res.MeanSSIM, row)
		}
	})
	t.Run("boxblur", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "attack", "--attack", "boxblur", "--surrogate", "zoo:lenet-mnist", "--victim", mlpVictim,
			"--limit", "20", "--select-strength", "--json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		res := decodeAttack(t, stdout)
		s := res.StrengthSelection
		var grid []float64
		for r := 0.5; r <= 10; r += 0.5 {
			grid = append(grid, r)
		}
		checkSelection(t, s, "radius", grid)
		if s.GridGiven || s.SurrogateGradEvals != 0 {
			t.Errorf("grid_given %v, %d gradient evaluations", s.GridGiven, s.SurrogateGradEvals)
		}
		if res.Params.Extra["radius"] != s.Chosen || strings.Join(res.Params.Given, ",") != "radius" {
			t.Errorf("crafted with %+v, chose %v", res.Params, s.Chosen)
		}
		if len(res.Victims) != 1 || res.Victims[0].Model.Path != mlpVictim || res.Victims[0].CleanAccuracy.Den != 20 {
			t.Errorf("victims %+v", res.Victims)
		}
	})
	t.Run("without the flag", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "attack", "--attack", "fgsm", "--surrogate", "zoo:lenet-mnist", "--limit", "5", "--json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if strings.Contains(stdout, "strength_selection") {
			t.Error("strength_selection without --select-strength")
		}
	})
}

// train on a small MNIST sample writes a loadable model and JSON with its
// accuracies; the same seed writes the same bytes.
func TestTrainJSON(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lenet.onnx")
	args := []string{"train", "--arch", "lenet", "--data", "mnist:train", "--limit", "256", "--epochs", "1",
		"--test-limit", "1000", "--balance", "20/80", "-o", out, "--json"}
	code, stdout, stderr := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "epoch 1/1") || !strings.Contains(stderr, "images/s") {
		t.Errorf("no per-epoch line on stderr: %q", stderr)
	}
	var res zoobuild.TrainReport
	dec := json.NewDecoder(strings.NewReader(withoutRSS(t, stdout)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one TrainReport: %v\n%s", err, stdout)
	}
	if res.Schema != report.SchemaVersion || res.Arch != "lenet" || res.Seed != 1 || res.EpochsRun != 1 || len(res.Epochs) != 1 {
		t.Errorf("report %+v", res)
	}
	if res.Data.N != 256 || res.Data.Sample != "seeded" || len(res.Data.Sources) == 0 || res.Data.Sources[0].SHA256 == "" {
		t.Errorf("data provenance %+v", res.Data)
	}
	if res.Test == nil || res.Test.N != 1000 || res.Test.Spec != "mnist:test" || res.Test.Accuracy < 0 || res.Test.Accuracy > 1 {
		t.Errorf("test accuracy %+v", res.Test)
	}
	if res.ValAccuracy == nil || res.ValImages == 0 || res.TrainAccuracy < 0 || res.TrainAccuracy > 1 {
		t.Errorf("train/val accuracy %v %v (%d val images)", res.TrainAccuracy, res.ValAccuracy, res.ValImages)
	}
	// 20/80: digits 0-4 make a fifth of the balanced training images.
	lo, all := 0, 0
	for c, k := range res.ClassCounts {
		if c < 5 {
			lo += k
		}
		all += k
	}
	if all != res.TrainImages || math.Abs(float64(lo)/float64(all)-0.2) > 0.03 {
		t.Errorf("class counts %v: digits 0-4 make %d of %d", res.ClassCounts, lo, all)
	}
	m, err := models.LoadFile(out)
	if err != nil {
		t.Fatalf("the model written does not load: %v", err)
	}
	if m.NumClasses() != 10 || m.NumParams() != res.Model.Parameters {
		t.Errorf("model: %d classes, %d parameters; report %+v", m.NumClasses(), m.NumParams(), res.Model)
	}
	b1, _ := os.ReadFile(out)
	if f, _ := provenance.HashFile(out); f.SHA256 != res.Model.SHA256 {
		t.Errorf("sha256 %s, report says %s", f.SHA256, res.Model.SHA256)
	}
	// Reproducible; and the table summary.
	args[len(args)-2] = filepath.Join(dir, "again.onnx")
	args = args[:len(args)-1]
	code, stdout, stderr = runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"lenet", "balance 20/80", "test", "mnist:test"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("summary does not mention %q:\n%s", w, stdout)
		}
	}
	if b2, _ := os.ReadFile(filepath.Join(dir, "again.onnx")); !bytes.Equal(b1, b2) {
		t.Error("the same seed gave different model files")
	}
}

func TestTrainExitCodes(t *testing.T) {
	f := newFixtures(t)
	p := f.path
	tr := func(args ...string) []string {
		return append([]string{"train", "--arch", "mlp", "--limit", "64", "--epochs", "1", "-o", p("m_bad.onnx")}, args...)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no arch", []string{"train", "-o", p("m_bad.onnx")}, []string{"--arch", "lenet"}},
		{"unknown arch", tr("--arch", "alexnet"), []string{"alexnet", "mlp, lenet"}},
		{"no output", []string{"train", "--arch", "mlp"}, []string{"--out"}},
		{"output in a missing folder", tr("-o", p("no/such/m.onnx")), []string{"no/such"}},
		{"zero epochs", tr("--epochs", "0"), []string{"--epochs 0"}},
		{"negative epochs", tr("--epochs", "-2"), []string{"--epochs -2"}},
		{"zero batch", tr("--batch", "0"), []string{"--batch 0"}},
		{"negative lr", tr("--lr", "-0.1"), []string{"--lr -0.1"}},
		{"momentum 1", tr("--momentum", "1"), []string{"--momentum"}},
		{"negative weight decay", tr("--weight-decay", "-1"), []string{"--weight-decay"}},
		{"unknown optimizer", tr("--optimizer", "rmsprop"), []string{"rmsprop", "adam"}},
		{"unknown schedule", tr("--schedule", "linear"), []string{"linear", "cosine"}},
		{"validation fraction 1", tr("--val-fraction", "1"), []string{"--val-fraction"}},
		{"patience without validation", tr("--val-fraction", "0", "--patience", "2"), []string{"--patience"}},
		{"negative limit", tr("--limit", "-1"), []string{"--limit -1"}},
		{"balance levels must sum to 100", tr("--balance", "20/70"), []string{"20/70", "100"}},
		{"balance level not numbers", tr("--balance", "a/b"), []string{"a/b"}},
		{"balance level zero", tr("--balance", "0/100"), []string{"0/100", "positive"}},
		{"balance vector of the wrong length", tr("--balance", "0.2,0.8"), []string{"2 weights for 10 classes"}},
		{"balance vector negative", tr("--balance", "1,1,1,1,1,1,1,1,1,-1"), []string{"-1", "class 9"}},
		{"balance all zero", tr("--balance", "0,0,0,0,0,0,0,0,0,0"), []string{"zero"}},
		{"unknown data", tr("--data", "nope:x"), []string{"nope"}},
		{"data without labels", tr("--data", "npy:"+p("x.npy")), []string{"no labels"}},
		{"test of another shape", tr("--test", "npy:"+p("x_small.npy")+","+p("y_small.npy")), []string{"--test", "8"}},
		{"unknown test data", tr("--test", "mnist:val"), []string{"--test", "val"}},
		{"stray argument", tr("extra"), []string{"extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitInput {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, exitInput, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout+stderr, w) {
					t.Errorf("output does not mention %q\nstderr: %s", w, stderr)
				}
			}
			if strings.Contains(stderr, "internal error") {
				t.Errorf("bad input reported as an internal error: %s", stderr)
			}
			if _, err := os.Stat(p("m_bad.onnx")); err == nil {
				t.Error("a failed run wrote its model")
			}
		})
	}
}

// The zoo on a tiny configuration: 24 models and a manifest; the same
// seed gives byte-identical model files.
func TestZooBuildReproducible(t *testing.T) {
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	var mans []zoobuild.Manifest
	for _, dir := range dirs {
		code, stdout, stderr := runCLI(t, "zoo", "build", "-o", dir, "--limit", "128", "--epochs", "1", "--test-limit", "50", "--seed", "7", "--json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "[24/24] syndigits_mobilenet_b20") {
			t.Errorf("no per-model lines on stderr:\n%s", stderr)
		}
		var m zoobuild.Manifest
		if err := json.Unmarshal([]byte(stdout), &m); err != nil {
			t.Fatalf("stdout is not a manifest: %v", err)
		}
		mans = append(mans, m)
	}
	m := mans[0]
	if len(m.Models) != 24 || m.Seed != 7 || m.Epochs != 1 || m.Limit != 128 {
		t.Fatalf("manifest: %d models, seed %d, epochs %d, limit %d", len(m.Models), m.Seed, m.Epochs, m.Limit)
	}
	names := map[string]bool{}
	for i, e := range m.Models {
		names[e.Name] = true
		if e.File != e.Name+".onnx" || len(e.Test) != 2 || e.Test[0].N != 50 || e.Seed == 0 {
			t.Errorf("model %+v", e)
		}
		a, err := os.ReadFile(filepath.Join(dirs[0], e.File))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dirs[1], e.File))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds with the same seed", e.File)
		}
		if e.SHA256 != mans[1].Models[i].SHA256 {
			t.Errorf("%s: manifests disagree on sha256", e.Name)
		}
	}
	for _, want := range []string{"mnist_lenet_b50", "mnist_mlp_b20", "syndigits_mobilenet_b40", "syndigits_lenet_b30"} {
		if !names[want] {
			t.Errorf("no model %s", want)
		}
	}
	cross := 0
	for _, tr := range m.Transfer {
		if tr.From != tr.To && tr.Models == 12 {
			cross++
		}
	}
	if cross != 2 {
		t.Errorf("transfer %+v: want MNIST→SynDigits and SynDigits→MNIST over 12 models each", m.Transfer)
	}
	// The written zoo.json is the manifest printed.
	if b, err := os.ReadFile(filepath.Join(dirs[0], "zoo.json")); err != nil || !strings.Contains(string(b), `"mnist_lenet_b50"`) {
		t.Errorf("zoo.json: %v", err)
	}

	code, stdout, stderr := runCLI(t, "zoo", "list", "--dir", dirs[0])
	if code != exitOK || !strings.Contains(stdout, "zoo:lenet-mnist") || !strings.Contains(stdout, "syndigits_mlp_b40") ||
		!strings.Contains(stdout, "mnist → syndigits") || strings.Contains(stdout, "modified") {
		t.Errorf("zoo list --dir: exit %d\n%s%s", code, stdout, stderr)
	}
	if err := os.WriteFile(filepath.Join(dirs[0], "mnist_mlp_b50.onnx"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCLI(t, "zoo", "list", "--dir", dirs[0], "--json")
	if code != exitOK || !strings.Contains(stdout, `"modified"`) {
		t.Errorf("zoo list after tampering: exit %d\n%s", code, stdout)
	}
}

func TestZooExitCodes(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"list", []string{"zoo", "list"}, exitOK, "zoo:lenet-mnist"},
		{"list json", []string{"zoo", "list", "--json"}, exitOK, `"lenet-mnist"`},
		{"help", []string{"zoo", "build", "--help"}, exitOK, "20/80"},
		{"list a folder without a zoo", []string{"zoo", "list", "--dir", dir}, exitInput, "zoo.json"},
		{"zero epochs", []string{"zoo", "build", "-o", dir, "--epochs", "0"}, exitInput, "--epochs 0"},
		{"negative limit", []string{"zoo", "build", "-o", dir, "--limit", "-3"}, exitInput, "--limit -3"},
		{"negative test limit", []string{"zoo", "build", "-o", dir, "--test-limit", "-3"}, exitInput, "--test-limit -3"},
		{"unknown arch", []string{"zoo", "build", "-o", dir, "--archs", "mlp,alexnet"}, exitInput, "alexnet"},
		{"arch twice", []string{"zoo", "build", "-o", dir, "--archs", "mlp,mlp"}, exitInput, "twice"},
		{"unknown step", []string{"zoo", "build", "-o", dir, "--with", "nope"}, exitInput, "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d (want %d), want %q in\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

// A surrogate set given as a folder of ONNX files becomes the surrogates.
func TestAttackSurrogateSet(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"lenet_op13.onnx", "mlp_op13.onnx"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/torch", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runCLI(t, "attack", "--attack", "ifgsm", "--surrogate-set", dir, "--limit", "10", "--steps", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Surrogates []struct {
			Path string `json:"path"`
		} `json:"surrogates"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Surrogates) != 2 {
		t.Errorf("%d surrogates from a set of 2", len(res.Surrogates))
	}
	if code, _, errOut := runCLI(t, "attack", "--attack", "ifgsm", "--surrogate-set", filepath.Join(dir, "missing"), "--limit", "5"); code != exitInput || !strings.Contains(errOut, "surrogate-set") {
		t.Errorf("missing set: exit %d, %s", code, errOut)
	}
}
