package scenarios

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the scenario parser and planner: they
// must return an error or a plan, never panic or hang.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodScenario))
	data, _ := Default()
	f.Add(data)
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("models: [{name: a, file: x, source: s}]\nsources: {s: mnist}\nattacks: [{attack: fgsm, eps: [1, 2]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse("fuzz.yaml", b)
		if err != nil {
			return
		}
		if _, err := NewPlan(file, "fuzz.yaml", b); err != nil {
			return
		}
	})
}
