package models

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// onnxChecker runs onnx.checker.check_model on a file when Debian's
// python3-onnx is installed, and skips otherwise.
func onnxChecker(t *testing.T, path string) {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3 for onnx.checker")
	}
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		t.Skip("python3-onnx is not installed (apt-get install python3-onnx)")
	}
	out, err := exec.Command(py, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Errorf("onnx.checker rejects %s: %v\n%s", path, err, out)
	}
}

func TestExportRoundTrip(t *testing.T) {
	for _, src := range []string{"../testdata/torch/lenet_op11.onnx", "../testdata/torch/mlp_op13.onnx"} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			m, err := LoadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			// Change every weight, as training, merging or pruning would.
			r := rand.New(rand.NewPCG(3, 4))
			for _, p := range m.Params() {
				v, _ := m.ParamValues(p.Name)
				for i := range v {
					v[i] += float32(r.NormFloat64() * 0.01)
				}
				if err := m.SetParam(p.Name, v); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "out.onnx")
			if err := m.SaveFile(path); err != nil {
				t.Fatal(err)
			}
			back, err := LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, 5*784)
			for i := range x {
				x[i] = r.Float32()
			}
			z1 := make([]float32, 50)
			z2 := make([]float32, 50)
			if err := m.Logits(z1, x); err != nil {
				t.Fatal(err)
			}
			if err := back.Logits(z2, x); err != nil {
				t.Fatal(err)
			}
			for i := range z1 {
				if z1[i] != z2[i] {
					t.Fatalf("logit %d: %v before export, %v after", i, z1[i], z2[i])
				}
			}
			// Writing is deterministic: the same model gives the same bytes.
			var b1, b2 bytes.Buffer
			if err := m.WriteONNX(&b1); err != nil {
				t.Fatal(err)
			}
			if err := back.WriteONNX(&b2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
				t.Error("re-exporting a loaded export changed its bytes")
			}
			onnxChecker(t, path)
		})
	}
}
