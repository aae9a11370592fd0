package report

// SchemaVersion identifies the layout of advmatrix's JSON results. It
// changes whenever a field changes meaning or disappears.
const SchemaVersion = "advmatrix/v1"

// File records an input by path and content hash.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// ModelRef describes the model a result was computed with.
type ModelRef struct {
	File
	Opset      int64 `json:"opset"`
	Parameters int   `json:"parameters"`
	InputShape []int `json:"input_shape"`
	Classes    int   `json:"classes"`
}

// DataRef describes the images a result was computed on.
type DataRef struct {
	Spec    string `json:"spec"`
	N       int    `json:"n"`
	Shape   [3]int `json:"shape"`
	Limit   int    `json:"limit,omitempty"`
	Sample  string `json:"sample"` // "first" or "seeded"
	Seed    uint64 `json:"seed"`
	Sources []File `json:"sources"`
}

// ClassRate is one class's accuracy.
type ClassRate struct {
	Class int    `json:"class"`
	Name  string `json:"name,omitempty"`
	Rate
}

// EvalResult is what `advmatrix eval` reports.
type EvalResult struct {
	Schema          string      `json:"schema"`
	ToolVersion     string      `json:"tool_version"`
	StartedAt       string      `json:"started_at"`
	Model           ModelRef    `json:"model"`
	Data            DataRef     `json:"data"`
	Accuracy        Rate        `json:"accuracy"`
	PerClass        []ClassRate `json:"per_class"`
	Confusion       [][]int     `json:"confusion"` // [true][predicted]
	BatchSize       int         `json:"batch_size"`
	ForwardCalls    int         `json:"forward_calls"`
	ComputeSeconds  float64     `json:"compute_seconds"`
	WallSeconds     float64     `json:"wall_seconds"`
	ImagesPerSecond float64     `json:"images_per_second"`
}

// Argmax returns the index of each row's largest value (the first on ties).
func Argmax(logits []float32, classes int) []int {
	n := len(logits) / classes
	out := make([]int, n)
	for i := 0; i < n; i++ {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}

// Score fills accuracy, per-class rates and the confusion matrix from
// predictions and labels.
func (r *EvalResult) Score(pred, labels []int, classes int, names []string) {
	r.Confusion = make([][]int, classes)
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, classes)
	}
	correct := 0
	tot := make([]int, classes)
	hit := make([]int, classes)
	for i, p := range pred {
		y := labels[i]
		if y >= 0 && y < classes && p >= 0 && p < classes {
			r.Confusion[y][p]++
		}
		if y >= 0 && y < classes {
			tot[y]++
			if p == y {
				hit[y]++
			}
		}
		if p == y {
			correct++
		}
	}
	r.Accuracy = NewRate(correct, len(pred))
	r.PerClass = nil
	for c := 0; c < classes; c++ {
		cr := ClassRate{Class: c, Rate: NewRate(hit[c], tot[c])}
		if c < len(names) {
			cr.Name = names[c]
		}
		r.PerClass = append(r.PerClass, cr)
	}
}
