package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/defenses"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/report"
	zoobuild "github.com/advmatrix/advmatrix/zoo/build"
)

// Models of one graph: the digits LeNets.
const (
	lenetA = "zoo:digits/mnist_lenet_b50"
	lenetB = "zoo:digits/mnist_lenet_b20"
	lenetC = "zoo:digits/syndigits_lenet_b50"
)

func TestMergeCommand(t *testing.T) {
	f := newFixtures(t)
	out := f.path("ties.onnx")
	code, stdout, stderr := runCLI(t, "merge", "--method", "ties", "--ties-merge", "mean", "--base", lenetA,
		"--model", lenetB, "--model", lenetC, "-o", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r defenses.MergeReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Method != "ties" || r.Lambda != 0.5 || r.TIES == nil || r.TIES.Merge != "mean" || len(r.TIES.Kept) != 2 || len(r.Differing) != 10 {
		t.Errorf("report %+v", r)
	}
	m, err := models.LoadFile(out)
	if err != nil || m.NumParams() != r.Parameters {
		t.Fatalf("merged model: %v", err)
	}
	code, stdout, stderr = runCLI(t, "merge", "--method", "ta", "--lambda", "0.25", "--base", lenetA, "--model", lenetB, "-o", f.path("ta.onnx"))
	if code != exitOK || !strings.Contains(stdout, "λ 0.25") || !strings.Contains(stdout, "Task Arithmetic") {
		t.Errorf("exit %d: %s%s", code, stdout, stderr)
	}
}

func TestMergeExitCodes(t *testing.T) {
	f := newFixtures(t)
	bad := f.path("bad.onnx")
	mg := func(args ...string) []string {
		return append([]string{"merge", "--base", lenetA, "--model", lenetB, "-o", bad}, args...)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no method", mg(), "--method"},
		{"unknown method", mg("--method", "average"), "want ta, ties or dam"},
		{"no base", []string{"merge", "--method", "ta", "--model", lenetB, "-o", bad}, "--base"},
		{"no models", []string{"merge", "--method", "ta", "--base", lenetA, "-o", bad}, "--model"},
		{"no output", []string{"merge", "--method", "ta", "--base", lenetA, "--model", lenetB}, "-o"},
		{"another graph", mg("--method", "ta", "--model", "zoo:digits/mnist_mobilenet_b50"), "does not share the base's graph"},
		{"missing model", mg("--method", "ta", "--model", f.path("none.onnx")), "none.onnx"},
		{"ties keep 0", mg("--method", "ties", "--ties-keep", "0"), "--ties-keep"},
		{"ties merge max", mg("--method", "ties", "--ties-merge", "max"), "--ties-merge"},
		{"lambda NaN", mg("--method", "ta", "--lambda", "NaN"), "--lambda"},
		{"dam without data", mg("--method", "dam"), "--data once per --model"},
		{"data for ta", mg("--method", "ta", "--data", "mnist:test"), "--data is for --method dam"},
		{"dam granularity", mg("--method", "dam", "--data", "mnist:test", "--dam-granularity", "net"), "--dam-granularity"},
		{"dam bad data", mg("--method", "dam", "--data", "cifar10:"+f.path("none.bin")), "--data 1"},
		{"output is an input", []string{"merge", "--method", "ta", "--base", lenetA, "--model", f.path("x.npy"), "-o", f.path("x.npy")}, "x.npy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitInput || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want %d and %q\nstdout %s\nstderr %s", code, exitInput, tc.want, stdout, stderr)
			}
			if _, err := os.Stat(bad); err == nil {
				t.Error("a failed merge wrote its model")
			}
		})
	}
}

func TestPruneCommand(t *testing.T) {
	f := newFixtures(t)
	out := f.path("p.onnx")
	code, stdout, stderr := runCLI(t, "prune", "--model", lenetA, "--sparsity", "0.8", "--scope", "global", "--epochs", "1",
		"--limit", "128", "--test-limit", "200", "-o", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		defenses.PruneFileReport
		FineTune zoobuild.TrainReport `json:"fine_tune"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Achieved != float64(r.Zeros)/float64(r.Prunable) || r.FineTune.EpochsRun != 1 || r.Output.SHA256 != r.FineTune.Model.SHA256 {
		t.Errorf("report %+v", r)
	}
	// The fine-tuned model kept its zeros.
	m, err := models.LoadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for _, tn := range r.Tensors {
		v, _ := m.ParamValues(tn.Name)
		for _, x := range v {
			if x == 0 {
				zeros++
			}
		}
	}
	if zeros != r.Zeros {
		t.Errorf("%d zeros after fine-tuning, %d after pruning", zeros, r.Zeros)
	}
	code, stdout, stderr = runCLI(t, "prune", "--model", "zoo:digits/mnist_mobilenet_b50", "--sparsity", "0.5", "--structured", "channel", "-o", f.path("c.onnx"))
	if code != exitOK || !strings.Contains(stdout, "8 of 16 channels kept") {
		t.Errorf("exit %d: %s%s", code, stdout, stderr)
	}
}

func TestPruneExitCodes(t *testing.T) {
	f := newFixtures(t)
	bad := f.path("bad.onnx")
	pr := func(args ...string) []string { return append([]string{"prune", "--model", lenetA, "-o", bad}, args...) }
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"prune", "--sparsity", "0.5", "-o", bad}, "--model"},
		{"no output", []string{"prune", "--model", lenetA, "--sparsity", "0.5"}, "-o"},
		{"sparsity 1", pr("--sparsity", "1"), "--sparsity 1"},
		{"negative sparsity", pr("--sparsity", "-0.5"), "--sparsity"},
		{"scope", pr("--sparsity", "0.5", "--scope", "net"), "--scope"},
		{"structured global", pr("--sparsity", "0.5", "--structured", "channel", "--scope", "global"), "unstructured"},
		{"structured filter", pr("--sparsity", "0.5", "--structured", "filter"), "--structured"},
		{"not a model", []string{"prune", "--model", f.path("x.npy"), "--sparsity", "0.5", "-o", bad}, "x.npy"},
		{"bad fine-tuning data", pr("--sparsity", "0.5", "--epochs", "1", "--data", "nope:x"), "nope"},
		{"output folder missing", []string{"prune", "--model", lenetA, "--sparsity", "0.5", "-o", f.path("no/p.onnx")}, "no/p.onnx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitInput || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want %d and %q\nstdout %s\nstderr %s", code, exitInput, tc.want, stdout, stderr)
			}
			if _, err := os.Stat(bad); err == nil {
				t.Error("a failed prune wrote its model")
			}
		})
	}
}

func TestBackdoorCommands(t *testing.T) {
	f := newFixtures(t)
	out := f.path("bd.onnx")
	code, stdout, stderr := runCLI(t, "train", "--from", lenetA, "--data", "mnist:train", "--limit", "512", "--epochs", "1",
		"--poison", "badnets:target=0,rate=0.2", "--test-limit", "300", "-o", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var tr zoobuild.TrainReport
	if err := json.Unmarshal([]byte(stdout), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Poison == nil || tr.Poison.Poisoned == 0 || tr.Backdoor == nil || tr.Backdoor.ASR.Den+tr.Backdoor.Excluded != 300 {
		t.Fatalf("report %+v", tr)
	}
	code, stdout, stderr = runCLI(t, "eval", "--model", out, "--limit", "300", "--trigger", "badnets:target=0", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var ev report.EvalResult
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Backdoor == nil || ev.Backdoor.ASR != tr.Backdoor.ASR {
		t.Errorf("eval's backdoor %+v, train's %+v", ev.Backdoor, tr.Backdoor)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--trigger", "badnets:rate=0.1"}, "target=T is required"},
		{[]string{"eval", "--trigger", "badnets:target=12"}, "target class 12"},
		{[]string{"eval", "--trigger", "badnets:target=1,size=40"}, "does not fit"},
		{[]string{"train", "--arch", "mlp", "--poison", "badnets:target=1", "-o", f.path("no.onnx")}, "rate=R"},
		{[]string{"train", "--arch", "mlp", "--poison", "sig:target=1", "-o", f.path("no.onnx")}, "--poison"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitInput || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %s", tc.args, code, stderr)
		}
	}
	if _, err := os.Stat(f.path("no.onnx")); err == nil {
		t.Error("a failed train wrote its model")
	}
}
