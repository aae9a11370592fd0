// Package onnxcheck lets tests ask the reference ONNX implementation about
// files advmatrix wrote: onnx.checker from Debian's python3-onnx. Tests
// skip, saying so, where it is not installed.
package onnxcheck

import (
	"os"
	"os/exec"
	"testing"
)

// Python is Debian's interpreter, which python3-onnx installs into.
const Python = "/usr/bin/python3"

// Available reports whether python3-onnx can be imported, and why not.
func Available() (bool, string) {
	if _, err := os.Stat(Python); err != nil {
		return false, "no " + Python + " for onnx.checker"
	}
	if err := exec.Command(Python, "-c", "import onnx").Run(); err != nil {
		return false, "python3-onnx is not installed (apt-get install python3-onnx)"
	}
	return true, ""
}

// Check runs onnx.checker.check_model(full_check=True) on the file at
// path and fails t if it rejects it; it skips t when python3-onnx is
// missing, so call it last in a test.
func Check(t testing.TB, path string) {
	t.Helper()
	if ok, why := Available(); !ok {
		t.Skip(why)
	}
	out, err := exec.Command(Python, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Errorf("onnx.checker rejects %s: %v\n%s", path, err, out)
	}
}
