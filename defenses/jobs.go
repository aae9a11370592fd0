package defenses

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/internal/version"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/scenarios"
)

// MergeJob is one merge, the code path behind `advmatrix merge`: open the
// pool, merge, write the model atomically, report.
type MergeJob struct {
	Method string   // MethodTA, MethodTIES or MethodDAM
	Base   string   // ONNX path or zoo:NAME
	Models []string // the fine-tunes
	// Lambda is λ (TA, TIES) or λ's initial value (DAM); nil: the
	// method's default, DefaultLambda.
	Lambda    *float64
	TIESKeep  float64 // default 0.2
	TIESMerge string  // default sum
	// DAM: DataSpecs are each model's unlabeled adaptation data (its
	// labels are not read), Limit the images of each used (0: all);
	// DAM's other settings.
	DataSpecs []string
	Limit     int
	DAM       DAMConfig
	Out       string
}

// DefaultLambda is each method's λ: 0.3 for Task Arithmetic and DAM's
// initial value (DAM's configurations), 0.5 for TIES (FusionBench's).
func DefaultLambda(method string) float64 {
	if method == MethodTIES {
		return 0.5
	}
	return 0.3
}

// MergeReport is what `advmatrix merge` reports.
type MergeReport struct {
	Schema      string            `json:"schema"`
	ToolVersion string            `json:"tool_version"`
	StartedAt   string            `json:"started_at"`
	Method      string            `json:"method"`
	Output      provenance.File   `json:"output"`
	Base        provenance.File   `json:"base"`
	Models      []provenance.File `json:"models"`
	Lambda      float64           `json:"lambda"`
	// Differing lists the weight tensors some fine-tune changed: the
	// task vectors' support.
	Differing  []string         `json:"differing_tensors"`
	Parameters int              `json:"parameters"`
	TIES       *TIESReport      `json:"ties,omitempty"`
	DAM        *DAMResult       `json:"dam,omitempty"`
	Data       []report.DataRef `json:"adaptation_data,omitempty"`
	Seconds    float64          `json:"wall_seconds"`
}

// TIESReport is a TIES merge's settings and statistics.
type TIESReport struct {
	Keep  float64 `json:"keep"`
	Merge string  `json:"merge"`
	TIESStats
}

// Check validates the settings without reading anything.
func (j *MergeJob) Check() error {
	switch j.Method {
	case MethodTA, MethodTIES, MethodDAM:
	default:
		return fmt.Errorf("--method %q: want ta, ties or dam", j.Method)
	}
	switch {
	case j.Base == "":
		return errors.New("--base BASE.onnx is required: the model the fine-tunes started from")
	case len(j.Models) == 0:
		return errors.New("--model FT.onnx is required, once per fine-tune")
	case j.Out == "":
		return errors.New("-o MERGED.onnx is required")
	case j.Method == MethodTIES && !(j.TIESKeep > 0 && j.TIESKeep <= 1):
		return fmt.Errorf("--ties-keep %v must be in (0, 1]: the fraction of each task vector kept", j.TIESKeep)
	case j.Method == MethodTIES && j.TIESMerge != TIESSum && j.TIESMerge != TIESMean:
		return fmt.Errorf("--ties-merge %q: want sum or mean", j.TIESMerge)
	case j.Method == MethodDAM && len(j.DataSpecs) != len(j.Models):
		return fmt.Errorf("--method dam adapts on unlabeled data of each task: give --data once per --model (%d --model, %d --data)", len(j.Models), len(j.DataSpecs))
	case j.Method != MethodDAM && len(j.DataSpecs) > 0:
		return fmt.Errorf("--data is for --method dam; %s merges weights only", j.Method)
	case j.Limit < 0:
		return fmt.Errorf("--limit %d is negative", j.Limit)
	}
	if j.Lambda != nil && !finite(*j.Lambda) {
		return fmt.Errorf("--lambda %v is not a number", *j.Lambda)
	}
	return atomicfile.CheckOutputs([]string{j.Out}, append([]string{j.Base}, j.Models...))
}

// Run merges and writes the model; nothing is written when it fails.
func (j *MergeJob) Run(ctx context.Context) (*MergeReport, error) {
	start := time.Now()
	if err := j.Check(); err != nil {
		return nil, err
	}
	pool, err := OpenPool(j.Base, j.Models)
	if err != nil {
		return nil, err
	}
	lambda := DefaultLambda(j.Method)
	if j.Lambda != nil {
		lambda = *j.Lambda
	}
	r := &MergeReport{Schema: report.SchemaVersion, ToolVersion: version.String(), StartedAt: start.UTC().Format(time.RFC3339),
		Method: j.Method, Base: pool.BaseFile, Models: pool.Files, Lambda: lambda, Differing: pool.Differing}
	var merged *Merged
	switch j.Method {
	case MethodTA:
		merged, err = pool.TaskArithmetic(lambda)
	case MethodTIES:
		var st TIESStats
		merged, st, err = pool.TIES(lambda, j.TIESKeep, j.TIESMerge)
		r.TIES = &TIESReport{Keep: j.TIESKeep, Merge: j.TIESMerge, TIESStats: st}
	case MethodDAM:
		cfg := j.DAM
		cfg.Lambda0 = lambda
		if cfg.Data, r.Data, err = j.openData(pool); err != nil {
			return nil, err
		}
		if r.DAM, err = pool.DAM(ctx, cfg); err == nil {
			merged = r.DAM.Merged
		}
	}
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(j.Out, merged.ONNX); err != nil {
		return nil, err
	}
	r.Output, r.Parameters = provenance.Of(j.Out, merged.ONNX), merged.Model.NumParams()
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

func (j *MergeJob) openData(p *Pool) ([]*datasets.Dataset, []report.DataRef, error) {
	var ds []*datasets.Dataset
	var refs []report.DataRef
	for i, spec := range j.DataSpecs {
		d, err := scenarios.OpenData(spec, p.Base.InputShape(), j.Limit, false, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("--data %d (%s): %w", i+1, spec, err)
		}
		ds = append(ds, d.Dataset)
		refs = append(refs, d.Ref)
	}
	return ds, refs, nil
}

// WriteMergeText renders a merge's report for people.
func WriteMergeText(w io.Writer, r *MergeReport) error {
	fmt.Fprintf(w, "base      %s (sha256 %.12s)\n", r.Base.Path, r.Base.SHA256)
	for i, m := range r.Models {
		fmt.Fprintf(w, "model %-3d %s (sha256 %.12s)\n", i+1, m.Path, m.SHA256)
	}
	fmt.Fprintf(w, "vectors   %d weight tensors differ: %s\n", len(r.Differing), abbreviate(r.Differing, 6))
	method := map[string]string{MethodTA: "Task Arithmetic, θ = θ₀ + λ·Σ τ_t", MethodTIES: "TIES-Merging", MethodDAM: "DAM"}[r.Method]
	fmt.Fprintf(w, "method    %s, λ %g\n", method, r.Lambda)
	if t := r.TIES; t != nil {
		fmt.Fprintf(w, "ties      keep %g, %s merge; kept %v entries; %d sign conflicts, %d zero sums elected\n",
			t.Keep, t.Merge, t.Kept, t.Conflicts, t.ZeroElected)
	}
	if d := r.DAM; d != nil {
		c := d.Config
		grain := "task-wise"
		if c.LayerWise {
			grain = "layer-wise"
		}
		fmt.Fprintf(w, "dam       %s\n", d.Variant)
		fmt.Fprintf(w, "          %s λ, %d mask steps + %d AdaMerging steps, batch %d, adv weight %g, seed %d\n",
			grain, c.Steps, c.AdaMergingSteps, c.Batch, c.AdvWeight, c.Seed)
		fmt.Fprintf(w, "          final λ %s; mask density %.3f, rescaled mask in [%.3f, %.3f]; ‖P‖∞ %s; entropy %.4f\n",
			lambdaSummary(d.Lambda), d.MaskDensity, d.MaskMin, d.MaskMax, floats(d.PerturbationLinf), d.AdaMergingLoss)
	}
	_, err := fmt.Fprintf(w, "wrote     %s (%d parameters, sha256 %.12s) in %.1f s\n", r.Output.Path, r.Parameters, r.Output.SHA256, r.Seconds)
	return err
}

func abbreviate(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(", … (%d more)", len(s)-n)
}

// lambdaSummary gives each task's λ, or its range over tensors.
func lambdaSummary(l [][]float64) string {
	var parts []string
	for t, row := range l {
		lo, hi := row[0], row[0]
		for _, v := range row {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo == hi {
			parts = append(parts, fmt.Sprintf("%d: %.3f", t+1, lo))
		} else {
			parts = append(parts, fmt.Sprintf("%d: %.3f…%.3f", t+1, lo, hi))
		}
	}
	return strings.Join(parts, ", ")
}

func floats(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.3g", x))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// PruneJob is one pruning, the code path behind `advmatrix prune`
// without fine-tuning: open the model, prune, write it atomically.
type PruneJob struct {
	Model  string
	Config PruneConfig
	Out    string
}

// PruneOutcome is a pruning's report and model.
type PruneOutcome struct {
	Report PruneFileReport
	Pruned *Pruned
}

// PruneFileReport is what `advmatrix prune` reports.
type PruneFileReport struct {
	Schema      string          `json:"schema"`
	ToolVersion string          `json:"tool_version"`
	Input       provenance.File `json:"input"`
	Output      provenance.File `json:"output"`
	PruneReport
	// FineTune, when the pruned model was fine-tuned, is train's report
	// (written by the caller).
	FineTune any `json:"fine_tune,omitempty"`
}

// Check validates the settings without reading anything.
func (j *PruneJob) Check() error {
	if j.Model == "" {
		return errors.New("--model M.onnx is required")
	}
	if j.Out == "" {
		return errors.New("-o P.onnx is required")
	}
	if err := j.Config.check(); err != nil {
		return err
	}
	return atomicfile.CheckOutputs([]string{j.Out}, []string{j.Model})
}

// Run prunes; write says whether to write the file (a caller that
// fine-tunes writes the tuned model instead).
func (j *PruneJob) Run(write bool) (*PruneOutcome, error) {
	if err := j.Check(); err != nil {
		return nil, err
	}
	data, f, err := scenarios.ReadModel(j.Model)
	if err != nil {
		return nil, err
	}
	p, err := Prune(data, j.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.Model, err)
	}
	if write {
		if err := atomicfile.Write(j.Out, p.ONNX); err != nil {
			return nil, err
		}
	}
	r := PruneFileReport{Schema: report.SchemaVersion, ToolVersion: version.String(), Input: f,
		Output: provenance.Of(j.Out, p.ONNX), PruneReport: p.Report}
	return &PruneOutcome{Report: r, Pruned: p}, nil
}

// WritePruneText renders a pruning's report for people.
func WritePruneText(w io.Writer, r *PruneFileReport) error {
	fmt.Fprintf(w, "model     %s (sha256 %.12s)\n", r.Input.Path, r.Input.SHA256)
	fmt.Fprintf(w, "pruning   %s, %s scope, sparsity %g requested\n", r.Method, r.Scope, r.Requested)
	for _, t := range r.Tensors {
		switch {
		case t.Skipped != "":
			fmt.Fprintf(w, "  %-28s %-5s kept whole: %s\n", t.Name, t.Op, t.Skipped)
		case t.Channels > 0:
			fmt.Fprintf(w, "  %-28s %-5s %d of %d channels kept, %v → %v\n", t.Name, t.Op, t.KeptChannels, t.Channels, t.Shape, t.NewShape)
		default:
			fmt.Fprintf(w, "  %-28s %-5s %v  %d of %d zero (%.2f%%)\n", t.Name, t.Op, t.Shape, t.Zeros, t.Elements, 100*float64(t.Zeros)/float64(max(t.Elements, 1)))
		}
	}
	fmt.Fprintf(w, "weights   %d of %d prunable weights removed or zero: sparsity %.4f\n", r.Zeros, r.Prunable, r.Achieved)
	_, err := fmt.Fprintf(w, "wrote     %s: %d → %d parameters, %d → %d bytes (sha256 %.12s)\n",
		r.Output.Path, r.ParamsBefore, r.ParamsAfter, r.BytesBefore, r.BytesAfter, r.Output.SHA256)
	return err
}
