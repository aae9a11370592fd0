package zoo

import (
	"encoding/json"
	"strings"
	"testing"
)

// The embedded merging testbed matches its manifest, and its models load.
func TestMergeTestbed(t *testing.T) {
	var man struct {
		Models []struct {
			Name, File, SHA256 string
		} `json:"models"`
	}
	if err := json.Unmarshal(MergeManifest(), &man); err != nil {
		t.Fatal(err)
	}
	names := mergeNames()
	if len(man.Models) != 8 || len(names) != 8 {
		t.Fatalf("manifest lists %d models, %d embedded; want base, 4 fine-tunes, ta, ties, dam", len(man.Models), len(names))
	}
	total := 0
	for _, e := range man.Models {
		name := MergePrefix + strings.TrimSuffix(e.File, ".onnx")
		b, err := Bytes(name)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
		if got := SHA256(name); got != e.SHA256 {
			t.Errorf("%s: sha256 %s, manifest %s", name, got, e.SHA256)
		}
		if _, err := Load(name); err != nil {
			t.Fatal(err)
		}
	}
	if total > 3<<20 {
		t.Errorf("the embedded testbed is %d bytes", total)
	}
	if _, ok := mergeBytes("merge/../digits/mnist_lenet_b50"); ok {
		t.Error("a path outside merge/ resolved")
	}
}
