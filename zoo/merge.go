package zoo

import (
	"embed"
	"path"
	"sort"
	"strings"
)

// The merging testbed, as `advmatrix zoo merge` made it with its defaults
// (seed 1): a LeNet base pretrained on MNIST, SynDigits and Fashion-MNIST,
// its fine-tunes on each task (ft_mnist_badnets carries a BadNets trigger,
// target 0), and the Task Arithmetic, TIES and DAM merges of
// ft_mnist_badnets, ft_syndigits and ft_fashion — 2 MB in all. testbed.json
// has every model's accuracy and backdoor ASR on every task; `advmatrix zoo
// merge` rebuilds the files bit for bit.
//
//go:embed merge
var mergeFS embed.FS

// MergePrefix names the embedded testbed's models: zoo:merge/ta.
const MergePrefix = "merge/"

func mergeNames() []string {
	var out []string
	entries, _ := mergeFS.ReadDir("merge")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".onnx") {
			out = append(out, MergePrefix+strings.TrimSuffix(e.Name(), ".onnx"))
		}
	}
	sort.Strings(out)
	return out
}

func mergeBytes(name string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(name, MergePrefix)
	if !ok || strings.Contains(rest, "/") || strings.Contains(rest, "..") {
		return nil, false
	}
	b, err := mergeFS.ReadFile(path.Join("merge", rest+".onnx"))
	return b, err == nil
}

// MergeManifest returns the embedded testbed's testbed.json.
func MergeManifest() []byte {
	b, _ := mergeFS.ReadFile("merge/testbed.json")
	return b
}
