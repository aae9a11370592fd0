package report

import (
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/provenance"
)

// ScenarioResult is what `advmatrix run` writes to results.json: the
// scenario's provenance, every cell (one crafting run on one attacker,
// evaluated on its victims), the per-case summary and the transfer
// matrices. Sharded runs write the cells of their shard; merging the
// shards gives what one unsharded run writes.
type ScenarioResult struct {
	Schema      string `json:"schema"`
	Kind        string `json:"kind"` // "scenario"
	ToolVersion string `json:"tool_version"`
	StartedAt   string `json:"started_at"`

	Scenario ScenarioRef `json:"scenario"`
	Seed     uint64      `json:"seed"`
	Limit    int         `json:"limit"`
	Sample   string      `json:"sample"`
	Batch    int         `json:"batch"`
	Matrix   string      `json:"matrix"`
	// Control is set when every victim is also evaluated on random-sign
	// noise of the attack's norm and ε.
	Control bool `json:"control"`

	Sources []SourceRef `json:"sources"`
	Models  []PoolModel `json:"models"`

	// Shard is set for a shard's results; CellsPlanned counts the cells of
	// the whole scenario.
	Shard        *Shard `json:"shard,omitempty"`
	CellsPlanned int    `json:"cells_planned"`
	Cells        []Cell `json:"cells"`

	Summary  []CaseSummary    `json:"summary"`
	Matrices []TransferMatrix `json:"matrices"`
	// Compare are the scenario's compare: pairs, and Comparisons their
	// Δ-robustness on the cells' examples.
	Compare     []ComparePair `json:"compare,omitempty"`
	Comparisons []Comparison  `json:"comparisons,omitempty"`
	Warnings    []string      `json:"warnings,omitempty"`

	WallSeconds float64 `json:"wall_seconds"`
}

// ScenarioRef names the scenario file run.
type ScenarioRef struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	provenance.File
}

// SourceRef is one data source and the images its attackers attack.
type SourceRef struct {
	Name string  `json:"name"`
	Data DataRef `json:"data"`
}

// PoolModel is one model of the scenario's pool with its DUMB axes.
type PoolModel struct {
	Name    string   `json:"name"`
	Source  string   `json:"source"`
	Arch    string   `json:"arch"`
	Balance string   `json:"balance"`
	Tags    []string `json:"tags,omitempty"`
	ModelRef
}

// Shard is which part of the cells a run did: cell i belongs to shard
// i mod Count.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Cell is one crafting run: an attack at one setting on one attacker (a
// model, an ensemble or a surrogate set), on the test images of the
// attacker's source, evaluated on every victim (in Result.Victims, each
// with its DUMB case, noise control and per-image outcomes).
type Cell struct {
	Index int `json:"index"`
	// Key is the content address of the crafting run: a hash of the tool
	// version, the attack and its complete settings, the surrogates' and
	// the data's bytes, the seed and the batch size.
	Key string `json:"key"`
	// ExamplesSHA256 hashes the clean and adversarial images (float32,
	// little-endian): two runs evaluated victims on the same examples
	// exactly when it is equal, which paired tests against a baseline
	// require.
	ExamplesSHA256 string   `json:"examples_sha256"`
	Attacker       string   `json:"attacker"`
	Members        []string `json:"members,omitempty"`
	Source         string   `json:"source"`
	Arch           string   `json:"arch"`
	Balance        string   `json:"balance"`
	Attack         string   `json:"attack"` // the line's name
	Eps            float64  `json:"eps"`
	// Budget is what the attack ran with: ε, steps and step size.
	Budget Budget `json:"budget"`
	// NoEffectiveStrength is set when strength selection found no
	// strength that fooled the attacker on any image (it then took the
	// smallest); the cell measures nothing useful.
	NoEffectiveStrength bool `json:"no_effective_strength,omitempty"`
	// Result holds the crafting run (settings, norms, SSIM, the attack's
	// own statistics) and every victim's evaluation.
	Result AttackResult `json:"result"`
}

// Budget is an attack's perturbation budget as run.
type Budget struct {
	Norm  string  `json:"norm"`
	Eps   float64 `json:"eps"`
	Steps int     `json:"steps"`
	Alpha float64 `json:"alpha"`
}

// CaseSummary aggregates the pairs of one attack at one ε in one DUMB case.
// White-box pairs (a model attacking itself) are summarised apart, as case
// "C1-white-box".
type CaseSummary struct {
	Attack string  `json:"attack"`
	Eps    float64 `json:"eps"`
	// StrengthSelected is set when each attacker's strength was chosen by
	// DUMB's selection (Eps is then 0 and the cells hold the choices).
	StrengthSelected bool   `json:"strength_selected,omitempty"`
	Case             string `json:"case"`
	Pairs            int    `json:"pairs"`
	// MeanASR and SDASR are the mean and sample standard deviation of the
	// pairs' asr_on_correct (DUMB's table); Pooled pools their images.
	MeanASR float64      `json:"mean_asr_on_correct"`
	SDASR   float64      `json:"sd_asr_on_correct"`
	Pooled  metrics.Rate `json:"pooled_asr_on_correct"`
	// MeanExcess is the mean over pairs of asr_on_correct minus the noise
	// control's; NoiseLevelPairs counts pairs whose excess interval
	// contains 0.
	MeanExcess      *float64 `json:"mean_excess,omitempty"`
	NoiseLevelPairs int      `json:"noise_level_pairs"`
}

// TransferMatrix is asr_on_correct of every attacker (rows) on every
// victim (columns) for one attack at one ε; nil where a pair was not run.
type TransferMatrix struct {
	Attack    string       `json:"attack"`
	Eps       float64      `json:"eps"`
	Attackers []string     `json:"attackers"`
	Victims   []string     `json:"victims"`
	ASR       [][]*float64 `json:"asr_on_correct"`
	Excess    [][]*float64 `json:"excess,omitempty"`
	Cases     [][]string   `json:"cases"`
}
