package build

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/internal/safeio"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/arch"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/train"
)

// ManifestSchema identifies the layout of zoo.json.
const ManifestSchema = "advmatrix-zoo/v1"

// ManifestFile is the manifest's name inside a zoo folder.
const ManifestFile = "zoo.json"

// Source is one source of the digits task.
type Source struct {
	Name  string `json:"name"`
	Train string `json:"train"` // data spec of the training split
	Test  string `json:"test"`  // data spec of the test split
}

// Sources are the zoo's two data sources for the digits task: MNIST
// (embedded) and SynDigits (digits rendered from the Go fonts), the D axis
// of DUMB.
var Sources = []Source{
	{Name: "mnist", Train: "mnist:train", Test: "mnist:test"},
	{Name: "syndigits", Train: "syndigits:train", Test: "syndigits:test"},
}

// DefaultArchs are the zoo's three architectures, the M axis of DUMB: three
// different families (fully connected; convolution and max-pooling;
// depthwise-separable convolution with BatchNorm) and the three of the five
// reference architectures that train fastest on a CPU (on two cores, about
// 29k, 7k and 1.4k images/s; resnet trains at 0.85k and vgg at 0.4k).
var DefaultArchs = []string{"mlp", "lenet", "mobilenet"}

// DefaultZooEpochs is the number of epochs `zoo build` trains for unless
// told otherwise.
const DefaultZooEpochs = 2

// BalanceMapping describes the balance levels in the manifest.
const BalanceMapping = "level P/Q: classes 0-4 together make P% of the training images and classes 5-9 Q%, " +
	"evenly within each half (DUMB's binary definition, class 0 = P%, applied to two halves of the ten digits); " +
	"the largest subset of the (sampled) training split with those proportions is kept"

// Config is a zoo build.
type Config struct {
	Dir       string   // output folder, created if missing
	Seed      uint64   // every model's seeds derive from it
	Epochs    int      // per model
	Limit     int      // training images sampled per source before balancing (0: the whole split)
	TestLimit int      // evaluate on the first N images of each test split (0: all)
	Archs     []string // nil: DefaultArchs
	Steps     []Step   // optional steps after the models, in order

	// Progress, when set, is called as model i (from 1) of n trains,
	// with images done and total over all its epochs. OnModel is called
	// when a model is written.
	Progress func(i, n int, name string, done, total int)
	OnModel  func(i, n int, m *ModelEntry)
	// Log, when set, receives lines from optional steps.
	Log io.Writer
}

// Manifest is zoo.json: how the zoo was built and what each model scores.
type Manifest struct {
	Schema         string                     `json:"schema"`
	ToolVersion    string                     `json:"tool_version"`
	StartedAt      string                     `json:"started_at"`
	Task           string                     `json:"task"`
	Seed           uint64                     `json:"seed"`
	Epochs         int                        `json:"epochs"`
	Limit          int                        `json:"limit"`
	TestLimit      int                        `json:"test_limit"`
	BalanceMapping string                     `json:"balance_mapping"`
	Balances       []string                   `json:"balances"`
	Architectures  []ArchEntry                `json:"architectures"`
	Sources        []SourceEntry              `json:"sources"`
	Models         []ModelEntry               `json:"models"`
	Transfer       []Transfer                 `json:"transfer"`
	Extras         map[string]json.RawMessage `json:"extras,omitempty"`
	WallSeconds    float64                    `json:"wall_seconds"`
}

// ArchEntry is an architecture and the settings it trains with.
type ArchEntry struct {
	Name  string `json:"name"`
	Hyper Hyper  `json:"hyper"`
}

// SourceEntry records a source's data.
type SourceEntry struct {
	Source
	TrainData report.DataRef `json:"train_data"` // the sampled training split, before balancing
	TestData  report.DataRef `json:"test_data"`  // the images evaluated on
}

// ModelEntry is one model of the zoo.
type ModelEntry struct {
	Name          string     `json:"name"`
	File          string     `json:"file"`
	SHA256        string     `json:"sha256"`
	Bytes         int        `json:"bytes"`
	Source        string     `json:"source"`
	Arch          string     `json:"arch"`
	Balance       string     `json:"balance"`
	Ratios        []float64  `json:"ratios"`
	Seed          uint64     `json:"seed"`
	Epochs        int        `json:"epochs"`
	Parameters    int        `json:"parameters"`
	TrainImages   int        `json:"train_images"`
	ClassCounts   []int      `json:"class_counts"`
	TrainLoss     float64    `json:"train_loss"`
	TrainAccuracy float64    `json:"train_accuracy"`
	Test          []Accuracy `json:"test"` // on each source's test split
	OwnAccuracy   float64    `json:"own_accuracy"`
	CrossAccuracy float64    `json:"cross_accuracy"` // on the other source
	TrainSeconds  float64    `json:"train_seconds"`
}

// Transfer summarises the accuracy of the models trained on one source on
// the test split of another (or the same) source.
type Transfer struct {
	From   string             `json:"from"`
	To     string             `json:"to"`
	Models int                `json:"models"`
	Mean   float64            `json:"mean_accuracy"`
	Min    float64            `json:"min_accuracy"`
	Max    float64            `json:"max_accuracy"`
	ByArch map[string]float64 `json:"by_arch"` // mean per architecture
}

// Step is an optional stage of a zoo build, run after the DUMB models are
// trained: the extension point for surrogate sets (the surrogates package
// is to register cSGLD and LGV sample sets here). It may write files into
// the zoo folder; what it returns is stored in the manifest under
// extras[Name].
type Step struct {
	Name string
	Help string
	Run  func(ctx *StepContext) (any, error)
}

// StepContext is what a Step gets.
type StepContext struct {
	Dir      string
	Seed     uint64 // derived from the zoo seed and the step's name
	Config   Config
	Manifest *Manifest // the models built so far
	// TrainData returns a source's training images as the zoo sampled
	// them, before balancing; TestData its test images.
	TrainData func(source string) (*datasets.Dataset, error)
	TestData  func(source string) (*datasets.Dataset, error)
	Log       io.Writer
}

var (
	stepsMu sync.Mutex
	steps   = map[string]Step{}
)

// RegisterStep makes a step available to `zoo build --with NAME`. It
// panics if the name is taken.
func RegisterStep(s Step) {
	stepsMu.Lock()
	defer stepsMu.Unlock()
	if s.Name == "" || s.Run == nil {
		panic("build: RegisterStep needs a name and a Run function")
	}
	if _, dup := steps[s.Name]; dup {
		panic("build: step " + s.Name + " registered twice")
	}
	steps[s.Name] = s
}

// LookupStep returns a registered step.
func LookupStep(name string) (Step, error) {
	stepsMu.Lock()
	s, ok := steps[name]
	stepsMu.Unlock()
	if !ok {
		have := "none"
		if n := StepNames(); len(n) > 0 {
			have = strings.Join(n, ", ")
		}
		return Step{}, fmt.Errorf("no zoo step %q (registered: %s)", name, have)
	}
	return s, nil
}

// StepNames lists the registered steps.
func StepNames() []string {
	stepsMu.Lock()
	defer stepsMu.Unlock()
	var out []string
	for k := range steps {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DeriveSeed gives the seed of one part of a zoo build: the first 53 bits
// (so that JSON readers keep it exactly) of SHA-256 over the zoo seed and
// the parts' names.
func DeriveSeed(seed uint64, parts ...string) uint64 {
	h := sha256.New()
	fmt.Fprintf(h, "advmatrix-zoo/v1\x00%d", seed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8]) >> 11
}

// ModelName is a zoo model's name: mnist_lenet_b20 for the 20/80 level.
func ModelName(source, arch, level string) string {
	p, _, _ := strings.Cut(level, "/")
	return fmt.Sprintf("%s_%s_b%s", source, arch, p)
}

func (c *Config) validate() error {
	switch {
	case c.Dir == "":
		return errors.New("no output folder")
	case c.Epochs < 1:
		return fmt.Errorf("--epochs %d must be at least 1", c.Epochs)
	case c.Limit < 0:
		return fmt.Errorf("--limit %d is negative", c.Limit)
	case c.TestLimit < 0:
		return fmt.Errorf("--test-limit %d is negative", c.TestLimit)
	}
	if len(c.Archs) == 0 {
		c.Archs = DefaultArchs
	}
	seen := map[string]bool{}
	for _, a := range c.Archs {
		if !knownArch(a) {
			return fmt.Errorf("unknown architecture %q (known: %s)", a, strings.Join(arch.Architectures(), ", "))
		}
		if seen[a] {
			return fmt.Errorf("architecture %q given twice", a)
		}
		seen[a] = true
	}
	seen = map[string]bool{}
	for _, s := range c.Steps {
		if seen[s.Name] {
			return fmt.Errorf("step %q given twice", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

func dataRef(spec string, d *datasets.Dataset, limit int, sample string, seed uint64) report.DataRef {
	ref := report.DataRef{Spec: spec, N: d.Len(), Shape: d.Shape, Limit: limit, Sample: sample, Seed: seed}
	for _, s := range d.Sources {
		ref.Sources = append(ref.Sources, provenance.File{Path: s.Path, SHA256: s.SHA256})
	}
	return ref
}

// Zoo trains the DUMB digits zoo into cfg.Dir: every source × architecture
// × balance level, one ONNX file each (written atomically as it is
// done), then the optional steps, then zoo.json. The same configuration
// gives byte-identical model files; the manifest differs only in
// started_at and the *_seconds fields. The build stops with ctx's error
// when ctx is done (checked during training and between models and steps);
// the models already written stay, zoo.json is not written.
func Zoo(ctx context.Context, cfg Config) (*Manifest, error) {
	start := time.Now()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	man := &Manifest{Schema: ManifestSchema, ToolVersion: version.String(), StartedAt: start.UTC().Format(time.RFC3339),
		Task: "digits 0-9, 1x28x28 images", Seed: cfg.Seed, Epochs: cfg.Epochs, Limit: cfg.Limit, TestLimit: cfg.TestLimit,
		BalanceMapping: BalanceMapping, Balances: Levels}
	for _, a := range cfg.Archs {
		man.Architectures = append(man.Architectures, ArchEntry{Name: a, Hyper: Defaults(a)})
	}

	// The data: each source's training split, sampled once (shared by
	// every balance level and architecture), and its test split.
	trainSets := map[string]*datasets.Dataset{}
	testSets := map[string]*datasets.Dataset{}
	for _, s := range Sources {
		tr, err := datasets.Open(s.Train, datasets.Options{})
		if err != nil {
			return nil, err
		}
		sample, sseed := "first", uint64(0)
		if cfg.Limit > 0 && cfg.Limit < tr.Len() {
			sseed = DeriveSeed(cfg.Seed, "data", s.Name)
			tr, sample = tr.Sample(cfg.Limit, sseed), "seeded"
		}
		te, err := datasets.Open(s.Test, datasets.Options{})
		if err != nil {
			return nil, err
		}
		if cfg.TestLimit > 0 && cfg.TestLimit < te.Len() {
			idx := make([]int, cfg.TestLimit)
			for i := range idx {
				idx[i] = i
			}
			te = te.Subset(idx)
		}
		te.Name = s.Test
		trainSets[s.Name], testSets[s.Name] = tr, te
		man.Sources = append(man.Sources, SourceEntry{Source: s,
			TrainData: dataRef(s.Train, tr, cfg.Limit, sample, sseed),
			TestData:  dataRef(s.Test, te, cfg.TestLimit, "first", 0)})
	}

	n := len(Sources) * len(cfg.Archs) * len(Levels)
	i := 0
	for _, s := range Sources {
		for _, arch := range cfg.Archs {
			for _, level := range Levels {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				i++
				e, err := zooModel(ctx, &cfg, s, arch, level, trainSets[s.Name], testSets, i, n)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", ModelName(s.Name, arch, level), err)
				}
				man.Models = append(man.Models, *e)
				if cfg.OnModel != nil {
					cfg.OnModel(i, n, e)
				}
			}
		}
	}
	man.Transfer = transfers(man.Models, cfg.Archs)

	for _, st := range cfg.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sc := &StepContext{Dir: cfg.Dir, Seed: DeriveSeed(cfg.Seed, "step", st.Name), Config: cfg, Manifest: man, Log: cfg.Log,
			TrainData: func(src string) (*datasets.Dataset, error) { return lookupData(trainSets, src) },
			TestData:  func(src string) (*datasets.Dataset, error) { return lookupData(testSets, src) }}
		if sc.Log == nil {
			sc.Log = io.Discard
		}
		out, err := st.Run(sc)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", st.Name, err)
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("step %s: encode its manifest entry: %w", st.Name, err)
		}
		if man.Extras == nil {
			man.Extras = map[string]json.RawMessage{}
		}
		man.Extras[st.Name] = b
	}

	man.WallSeconds = time.Since(start).Seconds()
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(cfg.Dir, ManifestFile), append(b, '\n')); err != nil {
		return nil, err
	}
	return man, nil
}

func lookupData(m map[string]*datasets.Dataset, src string) (*datasets.Dataset, error) {
	d, ok := m[src]
	if !ok {
		return nil, fmt.Errorf("no source %q", src)
	}
	return d.Subset(identity(d.Len())), nil
}

func identity(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func zooModel(ctx context.Context, cfg *Config, s Source, arch, level string, tr *datasets.Dataset, tests map[string]*datasets.Dataset, i, n int) (*ModelEntry, error) {
	name := ModelName(s.Name, arch, level)
	b, err := ParseBalance(level, tr.Classes)
	if err != nil {
		return nil, err
	}
	d, err := tr.Balance(b.Ratios, DeriveSeed(cfg.Seed, "balance", s.Name, level))
	if err != nil {
		return nil, err
	}
	seed := DeriveSeed(cfg.Seed, "model", s.Name, arch, level)
	job := Job{Arch: arch, Data: d, Hyper: Defaults(arch), Epochs: cfg.Epochs, Seed: seed}
	if cfg.Progress != nil {
		epochs := 0
		job.OnEpoch = func(train.EpochStats) { epochs++ }
		job.Progress = func(done, total int) { cfg.Progress(i, n, name, epochs*total+done, cfg.Epochs*total) }
	}
	t, err := Train(ctx, job)
	if err != nil {
		return nil, err
	}
	file := name + ".onnx"
	if err := atomicfile.Write(filepath.Join(cfg.Dir, file), t.ONNX); err != nil {
		return nil, err
	}
	h := sha256.Sum256(t.ONNX)
	last := t.Fit.Epochs[len(t.Fit.Epochs)-1]
	e := &ModelEntry{Name: name, File: file, SHA256: hex.EncodeToString(h[:]), Bytes: len(t.ONNX), Source: s.Name, Arch: arch,
		Balance: level, Ratios: b.Ratios, Seed: seed, Epochs: len(t.Fit.Epochs), Parameters: t.Model.NumParams(),
		TrainImages: d.Len(), ClassCounts: d.ClassCounts(), TrainLoss: last.TrainLoss, TrainAccuracy: last.TrainAccuracy,
		TrainSeconds: t.Seconds}
	var cross []float64
	for _, o := range Sources {
		acc, err := Evaluate(t.Model, tests[o.Name], 0)
		if err != nil {
			return nil, err
		}
		acc.Source = o.Name
		e.Test = append(e.Test, acc)
		if o.Name == s.Name {
			e.OwnAccuracy = acc.Accuracy
		} else {
			cross = append(cross, acc.Accuracy)
		}
	}
	e.CrossAccuracy = mean(cross)
	return e, nil
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// transfers summarises accuracy by training source and test source.
func transfers(ms []ModelEntry, archs []string) []Transfer {
	var out []Transfer
	for _, from := range Sources {
		for _, to := range Sources {
			t := Transfer{From: from.Name, To: to.Name, Min: math.Inf(1), Max: math.Inf(-1), ByArch: map[string]float64{}}
			var all []float64
			by := map[string][]float64{}
			for _, m := range ms {
				if m.Source != from.Name {
					continue
				}
				for _, a := range m.Test {
					if a.Source == to.Name {
						all = append(all, a.Accuracy)
						by[m.Arch] = append(by[m.Arch], a.Accuracy)
					}
				}
			}
			if len(all) == 0 {
				continue
			}
			t.Models, t.Mean = len(all), mean(all)
			t.Min, t.Max = slices.Min(all), slices.Max(all)
			for _, a := range archs {
				if len(by[a]) > 0 {
					t.ByArch[a] = mean(by[a])
				}
			}
			out = append(out, t)
		}
	}
	return out
}

// ReadManifest reads a zoo folder's zoo.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := safeio.ReadFile(filepath.Join(dir, ManifestFile), 16<<20)
	if err != nil {
		return nil, fmt.Errorf("zoo manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("zoo manifest %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.Schema != ManifestSchema {
		return nil, fmt.Errorf("zoo manifest %s: schema %q, want %q", filepath.Join(dir, ManifestFile), m.Schema, ManifestSchema)
	}
	return &m, nil
}

// Check reports the state of a manifest's model file: "ok", "missing" or
// "modified" (its SHA-256 differs from the manifest's).
func Check(dir string, m *ModelEntry) string {
	b, err := models.ReadModelFile(filepath.Join(dir, filepath.Base(m.File)))
	if err != nil {
		return "missing"
	}
	h := sha256.Sum256(b)
	if hex.EncodeToString(h[:]) != m.SHA256 {
		return "modified"
	}
	return "ok"
}
