package build

import (
	"github.com/advmatrix/advmatrix/zoo"
)

// EmbeddedModel is a model embedded in the binary (usable as zoo:NAME).
type EmbeddedModel struct {
	Name   string `json:"name"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// ListedModel is a model of a built zoo and the state of its file (see
// Check).
type ListedModel struct {
	ModelEntry
	Status string `json:"status"`
}

// Listing is what `advmatrix zoo list` shows: the embedded models and,
// for a zoo folder, its models with their files checked.
type Listing struct {
	Embedded []EmbeddedModel `json:"embedded"`
	Dir      string          `json:"dir,omitempty"`
	Manifest *Manifest       `json:"-"` // nil without a folder
	Models   []ListedModel   `json:"models,omitempty"`
	Transfer []Transfer      `json:"transfer,omitempty"`
}

// List lists the embedded models and, when dir is not "", the zoo built
// there, checking every model file against the sha256 in its zoo.json.
func List(dir string) (*Listing, error) {
	var l Listing
	for _, n := range zoo.Names() {
		b, err := zoo.Bytes(n)
		if err != nil {
			return nil, err
		}
		l.Embedded = append(l.Embedded, EmbeddedModel{Name: n, Bytes: len(b), SHA256: zoo.SHA256(n)})
	}
	if dir == "" {
		return &l, nil
	}
	man, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	l.Dir, l.Manifest, l.Transfer = dir, man, man.Transfer
	for i := range man.Models {
		l.Models = append(l.Models, ListedModel{ModelEntry: man.Models[i], Status: Check(dir, &man.Models[i])})
	}
	return &l, nil
}

// LookupSteps returns the registered steps of the given names, in order.
func LookupSteps(names []string) ([]Step, error) {
	var out []Step
	for _, name := range names {
		st, err := LookupStep(name)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
