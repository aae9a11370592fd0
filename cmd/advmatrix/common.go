package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// writeJSON prints v as indented JSON. An object gets one more field,
// peak_rss_bytes: the process's peak resident memory so far (omitted where
// the system does not tell).
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if rss := peakRSS(); rss > 0 && len(b) > 2 && b[0] == '{' && b[len(b)-1] == '}' {
		b = fmt.Appendf(b[:len(b)-2], ",\n  \"peak_rss_bytes\": %d\n}", rss)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "×")
}

// checkOutputDir fails early, before any work, when an output file's
// folder does not exist. An empty path is no output.
func checkOutputDir(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("cannot write %s: %s is not a folder", path, dir)
	}
	return nil
}

// pendingFile is an output ready to be written.
type pendingFile struct {
	path string
	data []byte
}

// writeFilesAtomic writes every file to a temporary file beside it and
// renames them into place only when all were written, so that a failed run
// leaves none of its outputs (and no temporary files) behind.
func writeFilesAtomic(files []pendingFile) (err error) {
	var tmps []string
	defer func() {
		if err != nil {
			for _, t := range tmps {
				os.Remove(t)
			}
		}
	}()
	for _, f := range files {
		tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".tmp*")
		if err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		tmps = append(tmps, tmp.Name())
		_, err = tmp.Write(f.data)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o644)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	for i, f := range files {
		if err := os.Rename(tmps[i], f.path); err != nil {
			// Undo the renames already done.
			for _, g := range files[:i] {
				os.Remove(g.path)
			}
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}
