package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/defenses"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/train"
)

// The merging testbed: a digits multi-task setting in the manner of
// DAM's (Yang et al. 2025), small enough for a CPU. Three tasks share the
// 1×28×28 input and the ten outputs — MNIST digits, SynDigits digits and
// Fashion-MNIST clothes — and one LeNet base is pretrained on a mixture
// of the three, then fine-tuned on each task alone; one MNIST fine-tune is
// backdoored with a BadNets trigger. Task Arithmetic, TIES and DAM merge
// the backdoored MNIST, the SynDigits and the Fashion fine-tunes, and
// every model is measured on every task: clean accuracy, and the
// trigger's ASR (succession on the backdoored task, transfer onto the
// others).

// MergeTasks are the testbed's tasks.
var MergeTasks = []Source{
	{Name: "mnist", Train: "mnist:train", Test: "mnist:test"},
	{Name: "syndigits", Train: "syndigits:train", Test: "syndigits:test"},
	{Name: "fashion", Train: "fashion-mnist:train", Test: "fashion-mnist:test"},
}

// MergeManifestFile is the testbed's manifest inside its folder.
const MergeManifestFile = "testbed.json"

// MergeConfig is a build of the merging testbed.
type MergeConfig struct {
	Dir  string
	Seed uint64
	// BaseLimit images of each task's training split (a seeded sample)
	// make the base's mixture, trained BaseEpochs; FTLimit images of a
	// task (another sample) fine-tune it FTEpochs.
	BaseLimit, BaseEpochs int
	FTLimit, FTEpochs     int
	// Trigger poisons the fine-tune of BackdoorTask (with rate=R).
	Trigger      string
	BackdoorTask string
	// DAM's steps (the released configuration has 1000 and 1000) and the
	// first DAMLimit test images of each task it adapts on (0: all).
	DAMSteps, DAMAdaMergingSteps, DAMLimit int
	// TestLimit evaluates on the first N test images of each task (0: all).
	TestLimit int
	// Tasks, when set, replaces the tasks' data specs (same names, in
	// MergeTasks' order): tests use smaller SynDigits splits.
	Tasks []Source `json:"-"`

	Log io.Writer `json:"-"`
}

// DefaultMergeConfig is the embedded testbed's configuration.
func DefaultMergeConfig() MergeConfig {
	return MergeConfig{Seed: 1, BaseLimit: 10000, BaseEpochs: 2, FTLimit: 10000, FTEpochs: 1,
		Trigger: "badnets:target=0,rate=0.1", BackdoorTask: "mnist", DAMSteps: 1000, DAMAdaMergingSteps: 1000}
}

// MergeManifest is testbed.json: how the testbed was built and what each
// model scores on each task.
type MergeManifest struct {
	Schema      string              `json:"schema"`
	ToolVersion string              `json:"tool_version"`
	StartedAt   string              `json:"started_at"`
	Config      MergeConfig         `json:"config"`
	Tasks       []Source            `json:"tasks"`
	Trigger     string              `json:"trigger"`
	Models      []MergeModel        `json:"models"`
	Merges      []string            `json:"merged_from"`
	TA          json.RawMessage     `json:"ta"`
	TIES        json.RawMessage     `json:"ties"`
	DAM         json.RawMessage     `json:"dam"`
	Poison      *defenses.Poisoning `json:"poison"`
	WallSeconds float64             `json:"wall_seconds"`
}

// MergeModel is one model of the testbed and its scores.
type MergeModel struct {
	Name   string      `json:"name"`
	File   string      `json:"file"`
	SHA256 string      `json:"sha256"`
	Kind   string      `json:"kind"` // base, fine-tune, merge
	Task   string      `json:"task,omitempty"`
	Scores []TaskScore `json:"scores"`
}

// TaskScore is a model on one task's test images.
type TaskScore struct {
	Task     string           `json:"task"`
	Accuracy Accuracy         `json:"accuracy"`
	Backdoor *report.Backdoor `json:"backdoor"`
}

func (c *MergeConfig) check() error {
	switch {
	case c.Dir == "":
		return errors.New("no output folder")
	case c.BaseLimit < 0 || c.FTLimit < 0 || c.TestLimit < 0 || c.DAMLimit < 0:
		return errors.New("limits must not be negative")
	case c.BaseEpochs < 1 || c.FTEpochs < 1:
		return errors.New("epochs must be at least 1")
	case c.DAMSteps < 0 || c.DAMAdaMergingSteps < 0:
		return errors.New("DAM's steps must not be negative")
	}
	if _, err := lookupTask(c.BackdoorTask); err != nil {
		return err
	}
	t, err := defenses.ParseTrigger(c.Trigger)
	if err != nil {
		return err
	}
	if t.Rate == 0 {
		return fmt.Errorf("trigger %s: the testbed poisons with it; give rate=R", c.Trigger)
	}
	return nil
}

func lookupTask(name string) (Source, error) {
	for _, s := range MergeTasks {
		if s.Name == name {
			return s, nil
		}
	}
	return Source{}, fmt.Errorf("no task %q (tasks: mnist, syndigits, fashion)", name)
}

// mergeBed is a testbed build in progress.
type mergeBed struct {
	cfg     MergeConfig
	trigger *defenses.Trigger
	train   map[string]*datasets.Dataset
	test    map[string]*datasets.Dataset
	man     *MergeManifest
	log     io.Writer
}

// MergeTestbed builds the merging testbed into cfg.Dir (see above): the
// base, four fine-tunes (MNIST clean and backdoored, SynDigits, Fashion)
// and their TA, TIES and DAM merges as ONNX files, and testbed.json. The
// same configuration gives byte-identical model files.
func MergeTestbed(ctx context.Context, cfg MergeConfig) (*MergeManifest, error) {
	start := time.Now()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	b := &mergeBed{cfg: cfg, train: map[string]*datasets.Dataset{}, test: map[string]*datasets.Dataset{}, log: cfg.Log}
	if b.log == nil {
		b.log = io.Discard
	}
	b.trigger, _ = defenses.ParseTrigger(cfg.Trigger)
	b.man = &MergeManifest{Schema: "advmatrix-merge-testbed/v1", ToolVersion: version.String(), StartedAt: start.UTC().Format(time.RFC3339),
		Config: cfg, Tasks: MergeTasks, Trigger: cfg.Trigger}
	if err := b.openData(); err != nil {
		return nil, err
	}
	base, err := b.trainBase(ctx)
	if err != nil {
		return nil, err
	}
	fts := map[string][]byte{}
	for _, task := range []string{"mnist", "mnist_badnets", "syndigits", "fashion"} {
		if fts[task], err = b.fineTune(ctx, base, task); err != nil {
			return nil, fmt.Errorf("fine-tune %s: %w", task, err)
		}
	}
	if err := b.merges(ctx, base, fts); err != nil {
		return nil, err
	}
	b.man.WallSeconds = time.Since(start).Seconds()
	out, err := json.MarshalIndent(b.man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(cfg.Dir, MergeManifestFile), append(out, '\n')); err != nil {
		return nil, err
	}
	return b.man, nil
}

func (b *mergeBed) openData() error {
	tasks := MergeTasks
	if b.cfg.Tasks != nil {
		tasks = b.cfg.Tasks
	}
	for i, s := range tasks {
		if i >= len(MergeTasks) || s.Name != MergeTasks[i].Name {
			return fmt.Errorf("tasks must be %v", MergeTasks)
		}
		tr, err := datasets.Open(s.Train, datasets.Options{})
		if err != nil {
			return err
		}
		te, err := datasets.Open(s.Test, datasets.Options{})
		if err != nil {
			return err
		}
		te.Name = s.Test
		b.train[s.Name], b.test[s.Name] = tr, limited(te, b.cfg.TestLimit)
	}
	return nil
}

func (b *mergeBed) sample(task string, n int, what string) *datasets.Dataset {
	d := b.train[task]
	if n > 0 && n < d.Len() {
		d = d.Sample(n, DeriveSeed(b.cfg.Seed, "merge", what, task))
	}
	return d
}

func (b *mergeBed) trainBase(ctx context.Context) ([]byte, error) {
	var parts []*datasets.Dataset
	for _, s := range MergeTasks {
		parts = append(parts, b.sample(s.Name, b.cfg.BaseLimit, "base"))
	}
	mix, err := datasets.Concat("mixture of mnist, syndigits and fashion-mnist", parts...)
	if err != nil {
		return nil, err
	}
	seed := DeriveSeed(b.cfg.Seed, "merge", "base")
	t, err := Train(ctx, Job{Arch: "lenet", Data: mix, Hyper: Defaults("lenet"), Epochs: b.cfg.BaseEpochs, Seed: seed,
		OnEpoch: b.epochLine("base")})
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	return t.ONNX, b.add("base", "base", "", t.ONNX)
}

func (b *mergeBed) epochLine(name string) func(s train.EpochStats) {
	return func(s train.EpochStats) {
		fmt.Fprintf(b.log, "%s: epoch %d  loss %.4f  train %.2f%%  %.0f images/s\n", name, s.Epoch, s.TrainLoss, 100*s.TrainAccuracy, s.ImagesPerSec)
	}
}

// fineTune fine-tunes the base on one task; "mnist_badnets" is MNIST
// poisoned with the trigger.
func (b *mergeBed) fineTune(ctx context.Context, base []byte, name string) ([]byte, error) {
	task := name
	if name == b.cfg.BackdoorTask+"_badnets" {
		task = b.cfg.BackdoorTask
	}
	d := b.sample(task, b.cfg.FTLimit, "finetune")
	seed := DeriveSeed(b.cfg.Seed, "merge", "finetune", name)
	if task != name {
		var p *defenses.Poisoning
		var err error
		if d, p, err = defenses.Poison(d, b.trigger, seed); err != nil {
			return nil, err
		}
		b.man.Poison = p
	}
	m, err := models.Load(base)
	if err != nil {
		return nil, err
	}
	t, err := Train(ctx, Job{From: m, Data: d, Hyper: FineTuneDefaults(), Epochs: b.cfg.FTEpochs, Seed: seed, OnEpoch: b.epochLine("ft_" + name)})
	if err != nil {
		return nil, err
	}
	return t.ONNX, b.add("ft_"+name, "fine-tune", name, t.ONNX)
}

// merges writes TA, TIES and DAM of the backdoored fine-tune and the
// other tasks' fine-tunes, each with its method's defaults.
func (b *mergeBed) merges(ctx context.Context, base []byte, fts map[string][]byte) error {
	names := []string{b.cfg.BackdoorTask + "_badnets"}
	for _, s := range MergeTasks {
		if s.Name != b.cfg.BackdoorTask {
			names = append(names, s.Name)
		}
	}
	var files []provenance.File
	var data [][]byte
	var adapt []*datasets.Dataset
	for _, n := range names {
		files = append(files, provenance.Of("ft_"+n+".onnx", fts[n]))
		data = append(data, fts[n])
		adapt = append(adapt, limited(b.test[taskOf(n)], b.cfg.DAMLimit))
		b.man.Merges = append(b.man.Merges, "ft_"+n)
	}
	pool, err := defenses.NewPool(provenance.Of("base.onnx", base), base, files, data)
	if err != nil {
		return err
	}
	ta, err := pool.TaskArithmetic(defenses.DefaultLambda(defenses.MethodTA))
	if err != nil {
		return err
	}
	if err := b.add("ta", "merge", "", ta.ONNX); err != nil {
		return err
	}
	ties, st, err := pool.TIES(defenses.DefaultLambda(defenses.MethodTIES), 0.2, defenses.TIESSum)
	if err != nil {
		return err
	}
	if err := b.add("ties", "merge", "", ties.ONNX); err != nil {
		return err
	}
	dcfg := defenses.DefaultDAMConfig()
	dcfg.Steps, dcfg.AdaMergingSteps, dcfg.Data = b.cfg.DAMSteps, b.cfg.DAMAdaMergingSteps, adapt
	dcfg.Seed = DeriveSeed(b.cfg.Seed, "merge", "dam")
	dcfg.Progress = func(stage string, step, total int, loss float64) {
		if step%100 == 0 || step == total {
			fmt.Fprintf(b.log, "dam %s: step %d/%d, entropy %.4f\n", stage, step, total, loss)
		}
	}
	dam, err := pool.DAM(ctx, dcfg)
	if err != nil {
		return fmt.Errorf("dam: %w", err)
	}
	if err := b.add("dam", "merge", "", dam.ONNX); err != nil {
		return err
	}
	b.man.TA, _ = json.Marshal(map[string]any{"lambda": defenses.DefaultLambda(defenses.MethodTA)})
	b.man.TIES, _ = json.Marshal(defenses.TIESReport{Keep: 0.2, Merge: defenses.TIESSum, TIESStats: st})
	b.man.DAM, _ = json.Marshal(dam)
	return nil
}

// taskOf is the task of a fine-tune's name.
func taskOf(name string) string {
	for _, s := range MergeTasks {
		if name == s.Name || name == s.Name+"_badnets" {
			return s.Name
		}
	}
	return name
}

// add writes a model and scores it on every task.
func (b *mergeBed) add(name, kind, task string, onnx []byte) error {
	file := name + ".onnx"
	if err := atomicfile.Write(filepath.Join(b.cfg.Dir, file), onnx); err != nil {
		return err
	}
	m, err := models.Load(onnx)
	if err != nil {
		return err
	}
	e := MergeModel{Name: name, File: file, SHA256: provenance.Digest(onnx), Kind: kind, Task: task}
	line := fmt.Sprintf("%-18s", name)
	for _, s := range MergeTasks {
		acc, err := Evaluate(m, b.test[s.Name], 0)
		if err != nil {
			return err
		}
		acc.Source = s.Name
		bd, err := defenses.EvaluateBackdoor(context.Background(), m, b.test[s.Name], b.trigger, nil, 500)
		if err != nil {
			return err
		}
		e.Scores = append(e.Scores, TaskScore{Task: s.Name, Accuracy: acc, Backdoor: bd})
		line += fmt.Sprintf("  %s acc %.2f%% asr %.2f%%", s.Name, 100*acc.Accuracy, 100*bd.ASR.Value)
	}
	fmt.Fprintln(b.log, line)
	b.man.Models = append(b.man.Models, e)
	return nil
}

// ReadMergeManifest reads a testbed folder's testbed.json.
func ReadMergeManifest(data []byte) (*MergeManifest, error) {
	var m MergeManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("merge testbed manifest: %w", err)
	}
	return &m, nil
}

func init() {
	RegisterStep(Step{
		Name: "merge",
		Help: "the merging testbed: a LeNet base on MNIST+SynDigits+Fashion-MNIST, fine-tunes (one backdoored), TA, TIES and DAM merges",
		Run: func(sc *StepContext) (any, error) {
			cfg := DefaultMergeConfig()
			cfg.Dir, cfg.Seed, cfg.Log = filepath.Join(sc.Dir, "merge"), sc.Seed, sc.Log
			man, err := MergeTestbed(context.Background(), cfg)
			if err != nil {
				return nil, err
			}
			return map[string]any{"dir": "merge", "manifest": "merge/" + MergeManifestFile, "models": len(man.Models)}, nil
		},
	})
}

// WriteMergeText renders the testbed's table for people: each model's
// clean accuracy and the trigger's ASR on each task, with 95% intervals.
func WriteMergeText(w io.Writer, m *MergeManifest) error {
	fmt.Fprintf(w, "trigger %s on the %s fine-tune; merges of %v\n", m.Trigger, m.Config.BackdoorTask, m.Merges)
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	header := []any{"model"}
	for _, s := range m.Tasks {
		header = append(header, s.Name+" acc", s.Name+" ASR")
	}
	t.Header(header...)
	for _, e := range m.Models {
		row := []any{e.Name}
		for _, sc := range e.Scores {
			a, r := sc.Accuracy, sc.Backdoor.ASR
			lo, hi := wilson(a.Correct, a.N)
			row = append(row, fmt.Sprintf("%.2f%% (%.1f–%.1f)", 100*a.Accuracy, 100*lo, 100*hi),
				fmt.Sprintf("%.2f%% (%.1f–%.1f)", 100*r.Value, 100*r.Lo95, 100*r.Hi95))
		}
		if err := t.Append(row...); err != nil {
			return err
		}
	}
	return t.Render()
}

func wilson(num, den int) (float64, float64) {
	r := metrics.NewRate(num, den)
	return r.Lo95, r.Hi95
}
