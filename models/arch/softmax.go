package arch

import (
	"fmt"

	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/onnxgraph"
)

// SoftmaxRegression builds a multinomial logistic regression, logits =
// W·flatten(x) + b, as an ONNX model (opset 13, symbolic batch axis): the
// shallow softmax classifier of Goodfellow et al.'s FGSM experiments. w is
// classes × (C·H·W), row-major.
func SoftmaxRegression(inShape []int, classes int, w, b []float32) (*models.Model, error) {
	d := 1
	for _, s := range inShape {
		d *= s
	}
	if len(w) != classes*d || len(b) != classes {
		return nil, fmt.Errorf("softmax regression %v→%d needs %d weights and %d biases, got %d and %d", inShape, classes, classes*d, classes, len(w), len(b))
	}
	g := onnxgraph.New("softmax_regression")
	g.Input("x", append([]int{onnxgraph.Batch}, inShape...)...)
	g.Initializer("W", []int{classes, d}, w)
	g.Initializer("b", []int{classes}, b)
	g.Node("Flatten", []string{"x"}, []string{"flat"})
	g.Node("Gemm", []string{"flat", "W", "b"}, []string{"logits"}, onnxgraph.Int("transB", 1))
	g.Output("logits", onnxgraph.Batch, classes)
	return g.Load()
}
