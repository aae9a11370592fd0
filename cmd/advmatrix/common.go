package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/zoo"
	"github.com/advmatrix/advmatrix/report"
)

// readModel returns the bytes and provenance of a model spec: a file path or
// zoo:NAME.
func readModel(spec string) ([]byte, report.File, error) {
	if name, ok := strings.CutPrefix(spec, "zoo:"); ok {
		b, err := zoo.Bytes(name)
		if err != nil {
			return nil, report.File{}, err
		}
		return b, report.File{Path: spec, SHA256: zoo.SHA256(name)}, nil
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		return nil, report.File{}, fmt.Errorf("model: %w", err)
	}
	h := sha256.Sum256(b)
	return b, report.File{Path: spec, SHA256: hex.EncodeToString(h[:])}, nil
}

// openModel loads a model spec and describes it for results.
func openModel(spec string) (*models.Model, report.ModelRef, error) {
	var m *models.Model
	var err error
	b, f, err := readModel(spec)
	if err != nil {
		return nil, report.ModelRef{}, err
	}
	if strings.HasPrefix(spec, "zoo:") {
		m, err = models.Load(b)
	} else {
		m, err = models.LoadFile(spec) // external data needs the file's folder
	}
	if err != nil {
		if !strings.HasPrefix(err.Error(), "load ") {
			err = fmt.Errorf("load %s: %w", spec, err)
		}
		return nil, report.ModelRef{}, err
	}
	return m, report.ModelRef{File: f, Opset: m.Opset(), Parameters: m.NumParams(), InputShape: m.InputShape(), Classes: m.NumClasses()}, nil
}

// openData loads a data spec for a model with the given image shape and
// picks the first limit images, or a seeded sample of them.
func openData(spec string, shape []int, limit int, shuffle bool, seed uint64) (*datasets.Dataset, report.DataRef, error) {
	var want [3]int
	switch len(shape) {
	case 3:
		copy(want[:], shape)
	case 2:
		want = [3]int{1, shape[0], shape[1]}
	}
	opt := datasets.Options{}
	if strings.HasPrefix(spec, "folder:") {
		opt.Shape = want
	}
	d, err := datasets.Open(spec, opt)
	if err != nil {
		return nil, report.DataRef{}, err
	}
	if d.Shape != want {
		return nil, report.DataRef{}, fmt.Errorf("data %s has images of shape %v, the model takes %v", spec, d.Shape, want)
	}
	if d.Len() == 0 {
		return nil, report.DataRef{}, fmt.Errorf("data %s holds no images", spec)
	}
	ref := report.DataRef{Spec: spec, Sample: "first", Limit: limit, Seed: seed}
	if limit < 0 {
		return nil, ref, fmt.Errorf("--limit %d is negative", limit)
	}
	switch {
	case shuffle:
		n := d.Len()
		if limit > 0 {
			n = min(limit, n)
		}
		d = d.Sample(n, seed)
		ref.Sample = "seeded"
	case limit > 0 && limit < d.Len():
		idx := make([]int, limit)
		for i := range idx {
			idx[i] = i
		}
		d = d.Subset(idx)
	}
	ref.N, ref.Shape = d.Len(), d.Shape
	for _, s := range d.Sources {
		ref.Sources = append(ref.Sources, report.File{Path: s.Path, SHA256: s.SHA256})
	}
	return d, ref, nil
}

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

// hashFile describes a file by path and content hash.
func hashFile(path string) (report.File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return report.File{Path: path}, err
	}
	h := sha256.Sum256(b)
	return report.File{Path: path, SHA256: hex.EncodeToString(h[:])}, nil
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
