package zoo

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

// The DUMB digits zoo, as `advmatrix zoo build` made it (seed 1, 2 epochs,
// full training splits): models trained on MNIST and on SynDigits, three
// architectures, four class-balance levels, plus a cSGLD surrogate set.
// To stay under 8 MB only the b50 MLPs are embedded (an MLP is 0.9 MB); the
// manifest lists all 24 and `advmatrix zoo build` rebuilds them bit for
// bit. They are the default models of `advmatrix run`.
//
//go:embed digits
var digitsFS embed.FS

// DigitsPrefix names the embedded digits models: zoo:digits/mnist_lenet_b50.
const DigitsPrefix = "digits/"

func digitsNames() []string {
	var out []string
	entries, _ := digitsFS.ReadDir("digits")
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".onnx") {
			out = append(out, DigitsPrefix+strings.TrimSuffix(e.Name(), ".onnx"))
		}
	}
	sets, _ := digitsFS.ReadDir("digits/csgld_mnist_lenet")
	for _, e := range sets {
		if strings.HasSuffix(e.Name(), ".onnx") {
			out = append(out, DigitsPrefix+"csgld_mnist_lenet/"+strings.TrimSuffix(e.Name(), ".onnx"))
		}
	}
	sort.Strings(out)
	return out
}

func digitsBytes(name string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(name, DigitsPrefix)
	if !ok || strings.Contains(rest, "..") {
		return nil, false
	}
	b, err := digitsFS.ReadFile(path.Join("digits", rest+".onnx"))
	return b, err == nil
}

// DigitsManifest returns the zoo.json of the embedded digits zoo.
func DigitsManifest() []byte {
	b, _ := digitsFS.ReadFile("digits/zoo.json")
	return b
}

// DigitsModel is one entry of the embedded digits zoo's manifest.
type DigitsModel struct {
	Name     string  `json:"name"`
	File     string  `json:"file"`
	SHA256   string  `json:"sha256"`
	Source   string  `json:"source"`
	Arch     string  `json:"arch"`
	Balance  string  `json:"balance"`
	Accuracy float64 `json:"own_accuracy"`
	Embedded bool    `json:"-"`
}

// DigitsModels lists the manifest's models, marking those embedded.
func DigitsModels() ([]DigitsModel, error) {
	var m struct {
		Models []DigitsModel `json:"models"`
	}
	if err := json.Unmarshal(DigitsManifest(), &m); err != nil {
		return nil, fmt.Errorf("embedded digits manifest: %w", err)
	}
	for i := range m.Models {
		_, m.Models[i].Embedded = digitsBytes(DigitsPrefix + strings.TrimSuffix(m.Models[i].File, ".onnx"))
	}
	return m.Models, nil
}
