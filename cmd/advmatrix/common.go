package main

import (
	"encoding/json"
	"io"

	"github.com/advmatrix/advmatrix/internal/atomicfile"
)

func writeJSON(w io.Writer, v any) error {
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
