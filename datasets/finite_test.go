package datasets

import (
	"math"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/datasets/npy"
)

// Non-finite pixels are named as such, not as merely out of range.
func TestNonFinitePixels(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{math.NaN(), "pixel value NaN at index [0, 0, 0, 1] is not a finite number"},
		{math.Inf(1), "pixel value +Inf at index [0, 0, 0, 1] is not a finite number"},
		{math.Inf(-1), "pixel value -Inf at index [0, 0, 0, 1] is not a finite number"},
		{1e300, "pixel value +Inf at index [0, 0, 0, 1] is not a finite number"}, // float64 beyond float32
		{-0.5, "pixel value -0.5 at index [0, 0, 0, 1] is outside [0,1]"},
		{1.5, "pixel value 1.5 at index [0, 0, 0, 1] is outside [0,1]"},
	} {
		x := writeNPY(t, dir, "x.npy", npy.NewFloat64([]int{1, 1, 1, 2}, []float64{0, tt.v}))
		if _, err := Open("npy:"+x, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), x) {
			t.Errorf("%v: error %v, want %q", tt.v, err, tt.want)
		}
	}
}
