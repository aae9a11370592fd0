package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/train"
)

func smallTraining(out string) Training {
	return Training{Job: Job{Arch: "mlp", Hyper: Defaults("mlp"), Epochs: 1, ValFraction: 0.1, Seed: 3},
		DataSpec: "mnist:train", Limit: 128, Balance: "30/70", TestLimit: 50, Out: out}
}

func TestTrainingRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.onnx")
	tr := smallTraining(out)
	var log bytes.Buffer
	epochs := 0
	tr.Log, tr.Job.OnEpoch = &log, func(train.EpochStats) { epochs++ }
	res, err := tr.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report
	b, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(b, res.Trained.ONNX) {
		t.Fatalf("model file: %v", err)
	}
	if r.Model.Path != out || r.Data.N != 128 || r.Data.Sample != "seeded" || r.Balance == nil || r.Test == nil ||
		r.Test.N != 50 || r.TestData == nil || r.TestData.Spec != "mnist:test" || r.EpochsRun != 1 || epochs != 1 || log.Len() != 0 {
		t.Errorf("report %+v, log %q", r, log.String())
	}

	// No test split: a note; no Out: nothing written.
	tr = smallTraining("")
	tr.DataSpec, tr.Log = "mnist:test", &log
	if res, err = tr.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if res.Report.Test != nil || !strings.Contains(log.String(), "no test data for mnist:test") || res.Report.Model.Path != "" {
		t.Errorf("report %+v, log %q", res.Report, log.String())
	}
}

func TestTrainingStops(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.onnx")
	tr := smallTraining(out)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := tr.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a cancelled run wrote its model")
	}
	tr.TestLimit = -1
	if err := tr.Check(); err == nil || !strings.Contains(err.Error(), "--test-limit -1") {
		t.Errorf("negative test limit: %v", err)
	}
	dir := t.TempDir()
	if _, err := Zoo(ctx, Config{Dir: dir, Epochs: 1, Limit: 32, TestLimit: 10, Archs: []string{"mlp"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("zoo, cancelled: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		t.Error("a cancelled zoo build wrote its manifest")
	}
}

func TestList(t *testing.T) {
	l, err := List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Embedded) == 0 || l.Embedded[0].SHA256 == "" || l.Manifest != nil || l.Models != nil {
		t.Errorf("listing %+v", l)
	}
	var b bytes.Buffer
	if err := WriteListText(&b, l); err != nil || !strings.Contains(b.String(), "zoo:lenet-mnist") {
		t.Errorf("%v\n%s", err, b.String())
	}
	if _, err := List(t.TempDir()); err == nil || !strings.Contains(err.Error(), "zoo.json") {
		t.Errorf("a folder without a zoo: %v", err)
	}
	if _, err := LookupSteps([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown step: %v", err)
	}
}
