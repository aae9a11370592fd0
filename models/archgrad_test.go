package models

import (
	"os"
	"path/filepath"
	"testing"
)

// TestArchGradients checks the input and parameter gradients of each
// reference architecture against central differences in float64 at batch
// 2. BatchNorm runs on its running statistics and Dropout is the identity
// here. The models are the files package arch writes for 1×16×16 images
// (see TestGradientFixtures there), with BatchNorm moved off its initial
// values.
func TestArchGradients(t *testing.T) {
	for _, arch := range []string{"mlp", "lenet", "resnet", "vgg", "mobilenet", "vit"} {
		t.Run(arch, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "arch", arch+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			checkGradients(t, data, [][]int{{2, 1, 16, 16}}, 11)
		})
	}
}
