package onnxgraph

import (
	"strings"
	"testing"
)

func TestBuilderErrors(t *testing.T) {
	b := New("g")
	b.Input("x", Batch, 4)
	b.Initializer("w", []int{3, 4}, make([]float32, 12))
	b.Node("Gemm", []string{"x", "w"}, []string{"y"}, Int("transB", 1))
	b.Output("y", Batch, 3)
	m, err := b.Load()
	if err != nil {
		t.Fatal(err)
	}
	if m.NumClasses() != 3 {
		t.Fatalf("%d classes", m.NumClasses())
	}
	if s := m.Summary(); s.Producer != "advmatrix" || s.Opset != 13 || s.IRVersion != 8 || s.Inputs[0].Shape[0] != "batch" {
		t.Errorf("summary %+v", s)
	}
	for _, c := range []struct {
		name string
		f    func(b *Builder)
		want string
	}{
		{"twice", func(b *Builder) { b.Initializer("x", nil, []float32{1}) }, `"x" is defined twice`},
		{"undefined", func(b *Builder) { b.Node("Relu", []string{"nope"}, []string{"y"}) }, `undefined tensor "nope"`},
		{"size", func(b *Builder) { b.Initializer("w", []int{2, 3}, make([]float32, 5)) }, "needs 6 values, got 5"},
		{"output", func(b *Builder) { b.Output("nope", Batch) }, `output "nope" is never defined`},
	} {
		b := New("g")
		b.Input("x", Batch, 4)
		c.f(b)
		if _, err := b.Bytes(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
