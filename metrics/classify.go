package metrics

import "encoding/json"

// ClassRate is one class's accuracy.
type ClassRate struct {
	Class int    `json:"class"`
	Name  string `json:"name,omitempty"`
	Rate
}

// MarshalJSON writes the class and its rate (a rate over no images has
// null value and bounds).
func (c ClassRate) MarshalJSON() ([]byte, error) {
	rate, err := c.Rate.MarshalJSON()
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(struct {
		Class int    `json:"class"`
		Name  string `json:"name,omitempty"`
	}{c.Class, c.Name})
	if err != nil {
		return nil, err
	}
	// Join {"class":…} and {"num":…} into one object.
	return append(append(head[:len(head)-1], ','), rate[1:]...), nil
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

// Classification is a classifier's accuracy on labelled images.
type Classification struct {
	Accuracy  Rate        `json:"accuracy"`
	PerClass  []ClassRate `json:"per_class"`
	Confusion [][]int     `json:"confusion"` // [true][predicted]
}

// Classify scores predictions against labels: accuracy, per-class rates
// (named from names where given) and the confusion matrix. Labels or
// predictions outside [0, classes) count as errors and are left out of
// the per-class tallies.
func Classify(pred, labels []int, classes int, names []string) Classification {
	var r Classification
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
	for c := 0; c < classes; c++ {
		cr := ClassRate{Class: c, Rate: NewRate(hit[c], tot[c])}
		if c < len(names) {
			cr.Name = names[c]
		}
		r.PerClass = append(r.PerClass, cr)
	}
	return r
}
