package build

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A tiny testbed builds, scores every model on every task, and is
// reproducible byte for byte.
func TestMergeTestbedReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	cfg := MergeConfig{Seed: 3, BaseLimit: 200, BaseEpochs: 1, FTLimit: 100, FTEpochs: 1, Trigger: "badnets:target=1,rate=0.2",
		BackdoorTask: "mnist", DAMSteps: 3, DAMAdaMergingSteps: 3, DAMLimit: 50, TestLimit: 60,
		Tasks: []Source{MergeTasks[0], {Name: "syndigits", Train: "syndigits:train:500", Test: "syndigits:test:100"}, MergeTasks[2]}}
	var files [2]map[string][]byte
	for i := range files {
		cfg.Dir = filepath.Join(t.TempDir(), "bed")
		man, err := MergeTestbed(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(man.Models) != 8 || man.Poison == nil || man.Poison.Poisoned != 19 {
			t.Fatalf("%d models, poison %+v", len(man.Models), man.Poison)
		}
		files[i] = map[string][]byte{}
		for _, m := range man.Models {
			if len(m.Scores) != 3 || m.Scores[2].Backdoor.ASR.Den+m.Scores[2].Backdoor.Excluded != 60 {
				t.Fatalf("%s scores %+v", m.Name, m.Scores)
			}
			b, err := os.ReadFile(filepath.Join(cfg.Dir, m.File))
			if err != nil {
				t.Fatal(err)
			}
			files[i][m.Name] = b
		}
	}
	for name, b := range files[0] {
		if !bytes.Equal(b, files[1][name]) {
			t.Errorf("%s differs between two builds", name)
		}
	}
	cfg.Trigger = "badnets:target=1"
	if _, err := MergeTestbed(context.Background(), cfg); err == nil {
		t.Error("a trigger without a rate accepted")
	}
}
