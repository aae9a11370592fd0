package scenarios

import (
	"os"
	"path/filepath"
	"testing"
)

// Every example scenario in examples/ parses and plans.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range files {
		if base := filepath.Base(p); base == "k8s-indexed-job.yaml" || base == "gate.yaml" {
			continue // a Kubernetes manifest and a gate policy
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(p, b)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if _, err := NewPlan(f, p, b); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		n++
	}
	if n < 4 {
		t.Errorf("only %d example scenarios", n)
	}
	data, name := Default()
	f, err := Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(f, name, data)
	if err != nil || len(p.Cells) != 36 {
		t.Fatalf("default: %v, %d cells", err, len(p.Cells))
	}
}
