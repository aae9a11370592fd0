package report

import (
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/provenance"
)

// SchemaVersion identifies the layout of advmatrix's JSON results. It
// changes whenever a field changes meaning or disappears.
const SchemaVersion = "advmatrix/v1"

// ModelRef describes the model a result was computed with.
type ModelRef struct {
	provenance.File
	Opset      int64 `json:"opset"`
	Parameters int   `json:"parameters"`
	InputShape []int `json:"input_shape"`
	Classes    int   `json:"classes"`
}

// DataRef describes the images a result was computed on.
type DataRef struct {
	Spec    string            `json:"spec"`
	N       int               `json:"n"`
	Shape   [3]int            `json:"shape"`
	Limit   int               `json:"limit,omitempty"`
	Sample  string            `json:"sample"` // "first" or "seeded"
	Seed    uint64            `json:"seed"`
	Sources []provenance.File `json:"sources"`
}

// EvalResult is what `advmatrix eval` reports.
type EvalResult struct {
	Schema      string   `json:"schema"`
	ToolVersion string   `json:"tool_version"`
	StartedAt   string   `json:"started_at"`
	Model       ModelRef `json:"model"`
	Data        DataRef  `json:"data"`
	metrics.Classification
	// Backdoor is the response to a backdoor trigger (eval --trigger).
	Backdoor        *Backdoor `json:"backdoor,omitempty"`
	BatchSize       int       `json:"batch_size"`
	ForwardCalls    int       `json:"forward_calls"`
	ComputeSeconds  float64   `json:"compute_seconds"`
	WallSeconds     float64   `json:"wall_seconds"`
	ImagesPerSecond float64   `json:"images_per_second"`
}

// GradResult is what `advmatrix grad --json` prints: the input gradient of
// the sum-reduced softmax cross-entropy with given labels, or a
// vector–Jacobian product with a given cotangent, and its norms.
type GradResult struct {
	Schema         string          `json:"schema"`
	ToolVersion    string          `json:"tool_version"`
	Model          ModelRef        `json:"model"`
	Input          provenance.File `json:"input"`
	Shape          []int           `json:"shape"`
	Mode           string          `json:"mode"` // GradCrossEntropySum or GradVJP
	Loss           *float64        `json:"loss,omitempty"`
	Out            string          `json:"out"`
	GradLinf       float64         `json:"grad_linf"`
	GradL2         float64         `json:"grad_l2"`
	ComputeSeconds float64         `json:"compute_seconds"`
	WallSeconds    float64         `json:"wall_seconds"`
}

// The modes of a GradResult.
const (
	GradCrossEntropySum = "cross_entropy_sum"
	GradVJP             = "vjp"
)
