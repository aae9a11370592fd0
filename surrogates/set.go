package surrogates

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/internal/safeio"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/provenance"
)

// ManifestName is the manifest's file name inside a set's folder.
const ManifestName = "set.json"

// manifestFormat and manifestVersion identify the manifest schema.
const (
	manifestFormat  = "advmatrix-surrogate-set"
	manifestVersion = 1
)

// Mode is how an attack uses the members of a set.
type Mode int

const (
	// OnePerStep uses one member per iteration, shuffled once and cycled.
	OnePerStep Mode = iota
	// AllAtOnce fuses every member into every step.
	AllAtOnce
)

func (m Mode) String() string {
	switch m {
	case OnePerStep:
		return "one-per-step"
	case AllAtOnce:
		return "all-at-once"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "one-per-step" or "all-at-once".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "one-per-step":
		return OnePerStep, nil
	case "all-at-once":
		return AllAtOnce, nil
	}
	return 0, fmt.Errorf("unknown surrogate-set mode %q (want one-per-step or all-at-once)", s)
}

func (m Mode) MarshalJSON() ([]byte, error) {
	if m != OnePerStep && m != AllAtOnce {
		return nil, fmt.Errorf("unknown surrogate-set mode %d", int(m))
	}
	return json.Marshal(m.String())
}

func (m *Mode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("surrogate-set mode: %w", err)
	}
	v, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Set is a surrogate set: its member files (absolute or relative to the
// working directory, in manifest order) and how to attack them.
type Set struct {
	Files []string
	Mode  Mode
	// Manifest is the manifest the set was read from, nil for a folder
	// without one.
	Manifest *Manifest
}

// Apply configures an attack for the set's mode.
func (s *Set) Apply(c *attacks.Config) {
	c.OnePerStep = s.Mode == OnePerStep
}

// Manifest is set.json: what a set holds and how it was made.
type Manifest struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Method is "csgld", "lgv" or "files".
	Method string `json:"method"`
	Mode   Mode   `json:"mode"`
	Seed   uint64 `json:"seed"`
	// BaseSHA256 is the hash of the model (WriteONNX bytes) the run
	// started from.
	BaseSHA256 string `json:"base_sha256,omitempty"`
	// Data describes the training data.
	Data *DataInfo `json:"data,omitempty"`
	// Schedule holds the builder's parameters (CSGLDSchedule or
	// LGVSchedule).
	Schedule json.RawMessage `json:"schedule,omitempty"`
	Samples  []Sample        `json:"samples"`
}

// DataInfo records the training data of a set.
type DataInfo struct {
	Name    string            `json:"name"`
	Images  int               `json:"images"`
	Sources []provenance.File `json:"sources,omitempty"`
}

// Sample is one member of a set.
type Sample struct {
	// File is relative to the manifest's folder.
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	// Epoch is the number of epochs done when the sample was taken
	// (fractional for LGV), Step the number of optimizer steps.
	Epoch float64 `json:"epoch"`
	Step  int     `json:"step"`
	// Cycle is the cSGLD cycle (from 0).
	Cycle int `json:"cycle,omitempty"`
	// LR is the learning rate of the last step before the sample.
	LR float64 `json:"lr"`
}

// WriteManifest writes man as dir/set.json atomically.
func WriteManifest(dir string, man *Manifest) error {
	man.Format, man.Version = manifestFormat, manifestVersion
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ManifestName), append(b, '\n'))
}

// maxManifestBytes bounds a set.json: a few hundred bytes per sample.
const maxManifestBytes = 16 << 20

// ReadManifest reads and checks a set.json (not the member files).
func ReadManifest(path string) (*Manifest, error) {
	b, err := safeio.ReadFile(path, maxManifestBytes)
	if err != nil {
		return nil, err
	}
	var man Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&man); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case man.Format != manifestFormat:
		return nil, fmt.Errorf("%s: format %q, want %q", path, man.Format, manifestFormat)
	case man.Version != manifestVersion:
		return nil, fmt.Errorf("%s: manifest version %d, this build reads %d", path, man.Version, manifestVersion)
	case len(man.Samples) == 0:
		return nil, fmt.Errorf("%s: the set has no samples", path)
	}
	seen := map[string]bool{}
	for i, s := range man.Samples {
		if err := localName(s.File); err != nil {
			return nil, fmt.Errorf("%s: sample %d: %w", path, i, err)
		}
		if seen[s.File] {
			return nil, fmt.Errorf("%s: sample %d: %q is listed twice", path, i, s.File)
		}
		seen[s.File] = true
		if len(s.SHA256) != 64 {
			return nil, fmt.Errorf("%s: sample %d (%s): sha256 %q is not 64 hex digits", path, i, s.File, s.SHA256)
		}
	}
	return &man, nil
}

// localName refuses member paths that leave the set's folder.
func localName(name string) error {
	if name == "" || !filepath.IsLocal(name) || strings.Contains(name, `\`) {
		return fmt.Errorf("file %q must be a relative path inside the set's folder", name)
	}
	return nil
}

// LoadSet reads a surrogate set from a set.json manifest or a folder. A
// folder with a set.json is read through it; a folder without one is a
// plain set of every *.onnx file in it, in name order, attacked
// AllAtOnce. Every file listed in a manifest must match its SHA-256. The
// classifiers are in Set.Files order.
func LoadSet(manifestOrDir string, opts ...models.Option) (*Set, []models.Classifier, error) {
	fi, err := os.Stat(manifestOrDir)
	if err != nil {
		return nil, nil, fmt.Errorf("surrogate set: %w", err)
	}
	set := &Set{}
	var sums []string
	if fi.IsDir() {
		mp := filepath.Join(manifestOrDir, ManifestName)
		if _, err := os.Stat(mp); err == nil {
			manifestOrDir = mp
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("surrogate set: %w", err)
		} else {
			names, err := filepath.Glob(filepath.Join(manifestOrDir, "*.onnx"))
			if err != nil {
				return nil, nil, err
			}
			if len(names) == 0 {
				return nil, nil, fmt.Errorf("surrogate set %s: no %s and no .onnx files", manifestOrDir, ManifestName)
			}
			slices.Sort(names)
			set.Files, set.Mode = names, AllAtOnce
		}
	}
	if set.Files == nil {
		man, err := ReadManifest(manifestOrDir)
		if err != nil {
			return nil, nil, fmt.Errorf("surrogate set: %w", err)
		}
		dir := filepath.Dir(manifestOrDir)
		for _, s := range man.Samples {
			set.Files = append(set.Files, filepath.Join(dir, s.File))
			sums = append(sums, s.SHA256)
		}
		set.Mode, set.Manifest = man.Mode, man
	}
	ms := make([]models.Classifier, len(set.Files))
	var shape []int
	var classes int
	for i, f := range set.Files {
		b, err := models.ReadModelFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("surrogate set: %w", err)
		}
		if sums != nil {
			if got := sha256Hex(b); got != strings.ToLower(sums[i]) {
				return nil, nil, fmt.Errorf("surrogate set: %s has sha256 %s, the manifest says %s", f, got, sums[i])
			}
		}
		m, err := models.Load(b, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("surrogate set: %s: %w", f, err)
		}
		if i == 0 {
			shape, classes = m.InputShape(), m.NumClasses()
		} else if !slices.Equal(shape, m.InputShape()) || classes != m.NumClasses() {
			return nil, nil, fmt.Errorf("surrogate set: %s takes %v images with %d classes, %s takes %v with %d",
				f, m.InputShape(), m.NumClasses(), set.Files[0], shape, classes)
		}
		ms[i] = m
	}
	return set, ms, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
