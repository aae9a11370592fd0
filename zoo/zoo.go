// Package zoo holds the models embedded in the advmatrix binary, so that
// its commands have something to run on a machine with nothing else: a
// LeNet trained on MNIST (98.6% test accuracy; see lenet_mnist.json for how
// it was made by testdata/torch/make_fixtures.py).
package zoo

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/advmatrix/advmatrix/models"
)

//go:embed lenet_mnist.onnx
var lenetMNIST []byte

var entries = map[string][]byte{
	"lenet-mnist": lenetMNIST,
}

// Default is the model used when a command is given none.
const Default = "lenet-mnist"

// Names lists the embedded models.
func Names() []string {
	var out []string
	for k := range entries {
		out = append(out, k)
	}
	sort.Strings(out)
	return append(append(out, digitsNames()...), mergeNames()...)
}

// Bytes returns the ONNX file of an embedded model.
func Bytes(name string) ([]byte, error) {
	b, ok := entries[name]
	if !ok {
		b, ok = digitsBytes(name)
	}
	if !ok {
		b, ok = mergeBytes(name)
	}
	if !ok {
		return nil, fmt.Errorf("no embedded model %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Load compiles an embedded model.
func Load(name string) (*models.Model, error) {
	b, err := Bytes(name)
	if err != nil {
		return nil, err
	}
	return models.Load(b)
}

// SHA256 is the hex digest of an embedded model's file, for provenance.
func SHA256(name string) string {
	b, err := Bytes(name)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
