package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.bin")
	if err := Write(p, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	// A failing writer leaves the old file and no temporary behind.
	if err := WriteFunc(p, func(w io.Writer) error { w.Write([]byte("partial")); return errors.New("boom") }); err == nil {
		t.Fatal("error lost")
	}
	b, _ = os.ReadFile(p)
	entries, _ := os.ReadDir(dir)
	if string(b) != "hello" || len(entries) != 1 {
		t.Errorf("after a failed write: content %q, %d entries", b, len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("write into a missing folder succeeded")
	}
}

// special makes a file of each kind that must never be replaced.
func special(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if p := filepath.Join(dir, "fifo"); mkfifo(p) == nil {
		out["a named pipe"] = p
	}
	if p := filepath.Join(dir, "null"); mknodNull(p) == nil {
		out["a character device"] = p
	}
	sock := filepath.Join(dir, "sock")
	if l, err := net.Listen("unix", sock); err == nil {
		t.Cleanup(func() { l.Close() })
		out["a socket"] = sock
	}
	sub := filepath.Join(dir, "folder")
	os.Mkdir(sub, 0o755)
	out["a directory"] = sub
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("target"), 0o644)
	os.Symlink(target, filepath.Join(dir, "link"))
	out["a symbolic link"] = filepath.Join(dir, "link")
	if _, ok := out["a character device"]; ok {
		os.Symlink(filepath.Join(dir, "null"), filepath.Join(dir, "nulllink"))
		out["a symbolic link to a device"] = filepath.Join(dir, "nulllink")
	}
	return out
}

// Before, the temp-and-rename writer replaced whatever held the name: as
// root, writing to /dev/null replaced the system's /dev/null with a
// regular file. Special files and links are refused, left as they were.
func TestSpecialTargets(t *testing.T) {
	dir := t.TempDir()
	for kind, p := range special(t, dir) {
		t.Run(kind, func(t *testing.T) {
			before, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func() error{
				"Write":        func() error { return Write(p, []byte("x")) },
				"WriteFiles":   func() error { return WriteFiles(File{filepath.Join(dir, "ok"), nil}, File{p, []byte("x")}) },
				"CheckOutput":  func() error { return CheckOutput(p) },
				"CheckOutputs": func() error { return CheckOutputs([]string{p}, nil) },
			} {
				err := f()
				if err == nil || !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), p) {
					t.Errorf("%s: error %v, want one naming %s, wrapping ErrNotRegular", name, err, p)
				}
			}
			after, err := os.Lstat(p)
			if err != nil || !os.SameFile(before, after) || after.Mode() != before.Mode() {
				t.Errorf("%s was replaced: %v, %v", p, after.Mode(), err)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "target")); string(b) != "target" {
		t.Errorf("a link's target was written: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "ok")); err == nil {
		t.Error("WriteFiles committed one file of a failing set")
	}
	assertNoTemps(t, dir)
	// The real /dev/null is only checked, never written.
	if fi, err := os.Lstat("/dev/null"); err == nil && fi.Mode()&fs.ModeCharDevice != 0 {
		if err := CheckOutput("/dev/null"); !errors.Is(err, ErrNotRegular) {
			t.Errorf("CheckOutput(/dev/null) = %v", err)
		}
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestCheckOutputs(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	os.WriteFile(model, []byte("m"), 0o644)
	hard := filepath.Join(dir, "hard.onnx")
	if err := os.Link(model, hard); err != nil {
		hard = ""
	}
	linkDir := filepath.Join(dir, "linkdir")
	os.Symlink(dir, linkDir)
	out := filepath.Join(dir, "adv.npy")
	readOnly := filepath.Join(dir, "ro")
	os.Mkdir(readOnly, 0o555)
	tests := []struct {
		name            string
		outputs, inputs []string
		want            string // "" passes
	}{
		{"distinct", []string{out, filepath.Join(dir, "grid.png")}, []string{model, "zoo:lenet-mnist"}, ""},
		{"empty outputs skipped", []string{"", out, ""}, []string{model}, ""},
		{"overwriting an existing output", []string{model}, nil, ""},
		{"the same output twice", []string{out, out}, nil, "output " + out + " is given twice"},
		{"two spellings", []string{out, dir + "/./" + "adv.npy"}, nil, "are the same file"},
		{"through a linked folder", []string{out, filepath.Join(linkDir, "adv.npy")}, nil, "are the same file"},
		{"an input", []string{out, model}, []string{model}, "output " + model + " is also an input"},
		{"an input through a linked folder", []string{filepath.Join(linkDir, "model.onnx")}, []string{model}, "is the input " + model},
		{"a hard link to an input", []string{hard}, []string{model}, "is the input " + model},
		{"a relative spelling of an input", []string{"model.onnx"}, []string{model}, "is the input"},
		{"missing folder", []string{filepath.Join(dir, "nope", "a.npy")}, nil, "no such file or directory"},
		{"folder is a file", []string{filepath.Join(model, "a.npy")}, nil, "not a folder"},
		{"read-only folder", []string{filepath.Join(readOnly, "a.npy")}, nil, "cannot create files in " + readOnly},
		{"a folder not even root writes in", []string{"/proc/advmatrix-test.npy"}, nil, "cannot create files in /proc"},
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "a hard link to an input" && hard == "" {
				t.Skip("no hard links here")
			}
			if tt.name == "read-only folder" && os.Geteuid() == 0 {
				t.Skip("root writes into read-only folders")
			}
			if fi, err := os.Stat("/proc/self"); tt.name == "a folder not even root writes in" && (err != nil || !fi.IsDir()) {
				t.Skip("no /proc")
			}
			err := CheckOutputs(tt.outputs, tt.inputs)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	assertNoTemps(t, dir)
	// WriteFiles refuses two files of one path before writing either.
	if err := WriteFiles(File{out, []byte("a")}, File{out, []byte("b")}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("WriteFiles of one path twice: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused WriteFiles wrote a file")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := WriteFiles(File{a, []byte("1")}, File{b, []byte("2")}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{a: "1", b: "2"} {
		if got, _ := os.ReadFile(p); string(got) != want {
			t.Errorf("%s holds %q", p, got)
		}
	}
	// A file that cannot be written (its folder is missing) fails the set
	// before any is renamed.
	if err := WriteFiles(File{a, []byte("new")}, File{filepath.Join(dir, "no", "c"), nil}); err == nil {
		t.Fatal("no error")
	}
	if got, _ := os.ReadFile(a); string(got) != "1" {
		t.Errorf("a was replaced by a failing set: %q", got)
	}
	assertNoTemps(t, dir)
}

// CleanupTemps removes the temporary files of writes in progress, and no
// write commits after it.
func TestCleanupTemps(t *testing.T) {
	defer func() { reg.Lock(); reg.closed = false; reg.Unlock() }()
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	var removed []string
	err := WriteFunc(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		removed = CleanupTemps() // as a signal handler would, mid-write
		return nil
	})
	if !errors.Is(err, ErrInterrupted) {
		t.Errorf("write after CleanupTemps: %v", err)
	}
	if len(removed) != 1 || !strings.HasPrefix(filepath.Base(removed[0]), ".out.tmp") {
		t.Errorf("removed %v", removed)
	}
	if _, err := os.Stat(p); err == nil {
		t.Error("the output was committed")
	}
	assertNoTemps(t, dir)
	if err := Write(p, nil); !errors.Is(err, ErrInterrupted) {
		t.Errorf("a new write after CleanupTemps: %v", err)
	}
	assertNoTemps(t, dir)
}
