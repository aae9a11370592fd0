package arch

import (
	"math"
	"strings"
	"testing"
)

// A class count from a corrupt label (1e9) fails before any weight is
// allocated; before, Build allocated the output layer's weights first
// (128·10⁹ floats for an MLP).
func TestBuildClassLimit(t *testing.T) {
	for _, k := range []int{MaxClasses + 1, 1e9, math.MaxInt} {
		if _, err := Build("mlp", []int{1, 28, 28}, k, 1); err == nil || !strings.Contains(err.Error(), "at most") {
			t.Errorf("%d classes: %v", k, err)
		}
	}
	if _, err := Build("mlp", []int{1, 4, 4}, 1000, 1); err != nil {
		t.Errorf("1000 classes: %v", err)
	}
}
