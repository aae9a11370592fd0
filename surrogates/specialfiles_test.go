//go:build unix

package surrogates

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A set member or manifest that is a FIFO fails at once instead of
// blocking forever, and /dev/zero is not read.
func TestLoadSetSpecialFiles(t *testing.T) {
	m := build(t, "mlp")
	member := t.TempDir()
	if err := m.SaveFile(filepath.Join(member, "a.onnx")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(member, "b.onnx"), 0o644); err != nil {
		t.Skip(err)
	}
	manifest := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(manifest, ManifestName), 0o644); err != nil {
		t.Skip(err)
	}
	for _, path := range []string{member, manifest, filepath.Join(manifest, ManifestName), "/dev/zero"} {
		done := make(chan error, 1)
		go func() { _, _, err := LoadSet(path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("LoadSet(%s): %v", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("LoadSet(%s) blocked for 10s", path)
		}
	}
}
