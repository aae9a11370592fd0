// Package atomicfile writes files so that readers never see a half-written
// one: the data goes to a temporary file beside the target, which is
// synced and renamed into place, and removed on any failure.
//
// Only regular files are written. A rename replaces whatever directory
// entry has the target's name, so writing "atomically" to /dev/null as
// root would replace the system's /dev/null with a regular file; a FIFO,
// socket or device node, and a symbolic link (whatever it points to), are
// therefore refused as targets rather than replaced or written through.
// Temporary files are registered while they exist, so that a signal
// handler can remove them with CleanupTemps.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/advmatrix/advmatrix/internal/safeio"
)

// ErrNotRegular is wrapped by the error for a target that exists and is
// not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrInterrupted is returned by writes that would commit a file after
// CleanupTemps: the process is shutting down.
var ErrInterrupted = errors.New("interrupted: outputs are no longer written")

// Write writes data to path atomically, readable by all (0644).
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	})
}

// WriteFunc writes path atomically from what write produces.
func WriteFunc(path string, write func(io.Writer) error) error {
	t, err := create(path)
	if err != nil {
		return err
	}
	if err := t.fill(write); err != nil {
		return err
	}
	return commit(t)
}

// File is one output of WriteFiles.
type File struct {
	Path string
	Data []byte
}

// WriteFiles writes several files as one: every file is written to its
// temporary file first, and only when all were written are they renamed
// into place, one after another while CleanupTemps waits, so that a
// failure or a signal leaves none of them (and no temporary file) behind.
// (A crash between two renames can still leave some renamed.) Two files
// with the same path are an error.
func WriteFiles(files ...File) (err error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	if err := checkDistinct(paths, nil); err != nil {
		return err
	}
	var temps []*temp
	defer func() {
		if err != nil {
			for _, t := range temps {
				t.discard()
			}
		}
	}()
	for _, f := range files {
		t, err := create(f.Path)
		if err != nil {
			return err
		}
		temps = append(temps, t)
		if err := t.fill(func(w io.Writer) error { _, err := w.Write(f.Data); return err }); err != nil {
			return err
		}
	}
	return commit(temps...)
}

// temp is a temporary file being written for path.
type temp struct {
	path string
	f    *os.File
}

// create checks path and opens a registered temporary file beside it.
func create(path string) (*temp, error) {
	if err := checkTarget(path); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := track(f.Name()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &temp{path: path, f: f}, nil
}

// fill writes the temporary file and closes it, or removes it on error.
func (t *temp) fill(write func(io.Writer) error) (err error) {
	defer func() {
		if err != nil {
			t.discard()
			err = fmt.Errorf("write %s: %w", t.path, err)
		}
	}()
	if err = write(t.f); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; results are ordinary files.
	if err = t.f.Chmod(0o644); err != nil {
		return err
	}
	if err = t.f.Sync(); err != nil {
		return err
	}
	return t.f.Close()
}

func (t *temp) discard() {
	t.f.Close()
	os.Remove(t.f.Name())
	untrack(t.f.Name())
}

// commit renames the temporary files into place, holding the registry's
// lock so that CleanupTemps runs before or after all of the renames.
// Each target is checked again just before its rename: it may have
// become a device or a link since create checked it.
func commit(temps ...*temp) error {
	reg.Lock()
	defer reg.Unlock()
	for i, t := range temps {
		err := checkTarget(t.path)
		if err == nil && reg.closed {
			err = fmt.Errorf("write %s: %w", t.path, ErrInterrupted)
		}
		if err == nil {
			if err = os.Rename(t.f.Name(), t.path); err != nil {
				err = fmt.Errorf("write %s: %w", t.path, err)
			}
		}
		if err != nil {
			for _, u := range temps[i:] {
				os.Remove(u.f.Name())
				delete(reg.temps, u.f.Name())
			}
			if i > 0 {
				return fmt.Errorf("%w (%d of the %d files were written)", err, i, len(temps))
			}
			return err
		}
		delete(reg.temps, t.f.Name())
	}
	return nil
}

// checkTarget refuses a target that exists and is not a regular file, and
// one whose folder is missing.
func checkTarget(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("write %s: %s is not a folder", path, dir)
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("write %s: %w", path, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("write %s: %w: it is a symbolic link, which would be replaced, not written through; name the file it points to, or remove the link", path, ErrNotRegular)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("write %s: %w: it is %s; only regular files are written", path, ErrNotRegular, safeio.Kind(fi.Mode()))
	}
	return nil
}

// CheckOutput reports whether path can be written: it does not exist or
// is a regular file (not a device, FIFO, socket, folder or symbolic
// link), and its folder exists and lets a file be created in it. Call it
// before starting work whose result goes to path.
func CheckOutput(path string) error {
	if err := checkTarget(path); err != nil {
		return err
	}
	// Creating a file is the only reliable test: permissions, read-only
	// mounts and root's exemptions all play a part.
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".advmatrix-probe-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("write %s: cannot create files in %s: %w", path, dir, err)
	}
	defer untrack(f.Name())
	if err := track(f.Name()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// CheckOutputs checks a run's outputs before it starts: each must pass
// CheckOutput, no two may be the same file, and none may be one of the
// inputs (a run that overwrites its own model or data destroys it).
// Paths are compared after making them absolute and resolving symbolic
// links in their folders, and existing files with os.SameFile, so hard
// links and different spellings of one path are caught. Empty paths are
// skipped (no such output); inputs that are not files, such as
// "zoo:lenet-mnist", are compared by name only.
func CheckOutputs(outputs, inputs []string) error {
	if err := checkDistinct(outputs, inputs); err != nil {
		return err
	}
	for _, p := range outputs {
		if p == "" {
			continue
		}
		if err := CheckOutput(p); err != nil {
			return err
		}
	}
	return nil
}

// checkDistinct refuses an output given twice or equal to an input.
func checkDistinct(outputs, inputs []string) error {
	type seen struct {
		path string
		key  string
		fi   fs.FileInfo
	}
	id := func(p string) seen {
		s := seen{path: p, key: canonical(p)}
		s.fi, _ = os.Stat(p)
		return s
	}
	same := func(a, b seen) bool {
		return a.key == b.key || a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi)
	}
	var outs, ins []seen
	for _, p := range inputs {
		if p != "" {
			ins = append(ins, id(p))
		}
	}
	for _, p := range outputs {
		if p == "" {
			continue
		}
		o := id(p)
		for _, prev := range outs {
			if same(o, prev) {
				if o.path == prev.path {
					return fmt.Errorf("output %s is given twice", o.path)
				}
				return fmt.Errorf("outputs %s and %s are the same file", prev.path, o.path)
			}
		}
		for _, in := range ins {
			if same(o, in) {
				if o.path == in.path {
					return fmt.Errorf("output %s is also an input; it would be overwritten", o.path)
				}
				return fmt.Errorf("output %s is the input %s; it would be overwritten", o.path, in.path)
			}
		}
		outs = append(outs, o)
	}
	return nil
}

// canonical is path made absolute and clean, with symbolic links in its
// folder resolved (the last element is kept: it may not exist yet).
func canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// reg holds the temporary files being written.
var reg struct {
	sync.Mutex
	temps  map[string]bool
	closed bool
}

func track(name string) error {
	reg.Lock()
	defer reg.Unlock()
	if reg.closed {
		return ErrInterrupted
	}
	if reg.temps == nil {
		reg.temps = map[string]bool{}
	}
	reg.temps[name] = true
	return nil
}

func untrack(name string) {
	reg.Lock()
	defer reg.Unlock()
	delete(reg.temps, name)
}

// CleanupTemps removes every temporary file being written and returns
// their names. It is meant for a signal handler of a process about to
// exit: from then on, every write fails with ErrInterrupted instead of
// committing a file, and any rename in progress completes first, so no
// output is left half-committed by the signal.
func CleanupTemps() []string {
	reg.Lock()
	defer reg.Unlock()
	reg.closed = true
	var removed []string
	for name := range reg.temps {
		if err := os.Remove(name); err == nil || errors.Is(err, fs.ErrNotExist) {
			removed = append(removed, name)
		}
		delete(reg.temps, name)
	}
	slices.Sort(removed)
	return removed
}
