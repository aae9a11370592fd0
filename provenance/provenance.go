// Package provenance records where the inputs of a result came from: a
// file's path and the SHA-256 of its bytes, so that a results file names
// exactly which model and data produced it.
package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/advmatrix/advmatrix/internal/safeio"
)

// File records an input by path and content hash. Path is what the user
// named (a file path, zoo:NAME for an embedded model, embedded:NAME or
// generated:… for data built into the binary); SHA256 is the hex digest of
// the bytes read (for compressed files, of the compressed bytes).
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Of describes bytes read from path.
func Of(path string, b []byte) File {
	return File{Path: path, SHA256: Digest(b)}
}

// Digest is the hex SHA-256 of b.
func Digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// HashFile describes the file at path by streaming it through SHA-256.
func HashFile(path string) (File, error) {
	f, err := safeio.Open(path, -1)
	if err != nil {
		return File{Path: path}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return File{Path: path}, fmt.Errorf("read %s: %w", path, err)
	}
	return File{Path: path, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
