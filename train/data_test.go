package train

import (
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/models/arch"
)

// Labels index the logits: data whose labels are not classes of the model
// is refused before training, not a panic (or a silently wrong loss)
// mid-epoch.
func TestFitRefusesLabelsBeyondTheModel(t *testing.T) {
	m, err := arch.Build("mlp", []int{1, 2, 2}, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	pix := make([]uint8, 4*4)
	tests := []struct {
		name    string
		labels  []int
		classes int
		mutate  func(d *datasets.Dataset)
		want    string
	}{
		{"more classes than the model", []int{0, 1, 2, 4}, 5, nil, "5 classes, more than the 3 expected"},
		{"a label changed after construction", []int{0, 1, 2, 0}, 3, func(d *datasets.Dataset) { d.Labels[3] = 1e9 }, "label 1000000000 of image 3 is outside 0..2"},
		{"a negative label", []int{0, 1, 2, 0}, 3, func(d *datasets.Dataset) { d.Labels[1] = -1 }, "label -1 of image 1"},
		{"fewer classes than the model", []int{0, 1, 1, 0}, 2, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := datasets.NewUint8([3]int{1, 2, 2}, pix, tt.labels, tt.classes)
			if err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				tt.mutate(d)
			}
			_, err = Fit(m, d, Config{Epochs: 1, Batch: 2, LR: 0.01, Seed: 1})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
