package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/advmatrix/advmatrix/internal/atomicfile"
)

// writeJSON prints a command's result as indented JSON. An object gets
// one more field, peak_rss_bytes: the process's peak resident memory so
// far (omitted where the system does not tell). Files use writeJSONPlain.
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

// writeJSONPlain writes v as indented JSON and nothing else: results
// files, which other commands read back strictly.
func writeJSONPlain(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// checkOutputDir fails early, before any work, when an output file
// cannot be written: its folder is missing or read-only, or the path is a
// device, FIFO, socket, folder or link rather than a regular file (which
// advmatrix never replaces). An empty path is no output.
func checkOutputDir(path string) error {
	if path == "" {
		return nil
	}
	return atomicfile.CheckOutput(path)
}

// pendingFile is an output ready to be written.
type pendingFile struct {
	path string
	data []byte
}

// writeFilesAtomic writes every file to a temporary file beside it and
// renames them into place only when all were written, so that a failed run
// leaves none of its outputs (and no temporary files) behind.
func writeFilesAtomic(files []pendingFile) error {
	var fs []atomicfile.File
	for _, f := range files {
		fs = append(fs, atomicfile.File{Path: f.path, Data: f.data})
	}
	return atomicfile.WriteFiles(fs...)
}
