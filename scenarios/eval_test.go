package scenarios

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/report"
)

func TestEvaluate(t *testing.T) {
	m := open(t, "zoo:lenet-mnist")[0]
	d, err := OpenData("mnist:test", m.InputShape(), 50, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][2]int
	out, err := Evaluate(t.Context(), m, d, 16, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	r := out.Result
	if r.ForwardCalls != 4 || r.BatchSize != 16 || r.Accuracy.Den != 50 || r.Model.SHA256 != m.Ref.SHA256 || r.Data.N != 50 {
		t.Errorf("result %+v", r)
	}
	if len(calls) != 4 || calls[3] != [2]int{50, 50} {
		t.Errorf("progress %v", calls)
	}
	want := make([]float32, 50*10)
	if err := models.LogitsInBatches(m, want, d.Images(), 50); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if out.Logits[i] != want[i] {
			t.Fatalf("logit %d is %v, in one batch %v", i, out.Logits[i], want[i])
		}
	}
	// A plain Classifier gives the same; a cancelled context stops.
	wrapped := Model{Classifier: plain{m.Classifier}, Ref: m.Ref}
	got, err := Evaluate(t.Context(), wrapped, d, 7, nil)
	if err != nil || got.Result.Accuracy != r.Accuracy {
		t.Errorf("through a wrapper: %v, %+v", err, got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Evaluate(ctx, m, d, 16, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := Evaluate(t.Context(), m, d, 0, nil); err == nil || !strings.Contains(err.Error(), "batch 0") {
		t.Errorf("batch 0: %v", err)
	}
}

func TestGradient(t *testing.T) {
	lenet := open(t, "zoo:lenet-mnist")[0]
	m := lenet.Classifier.(*models.Model)
	dir := t.TempDir()
	x := make([]float32, 3*28*28)
	for i := range x {
		x[i] = float32((i*7919)%1000) / 999
	}
	y := []int{3, 1, 4}
	v := make([]float32, 30)
	for i := range v {
		v[i] = float32(i%7) - 3
	}
	write := func(name string, a *npy.Array) string {
		p := filepath.Join(dir, name)
		if err := npy.WriteFile(p, a); err != nil {
			t.Fatal(err)
		}
		return p
	}
	xs := write("x.npy", npy.NewFloat32([]int{3, 1, 28, 28}, x))
	ys := write("y.npy", npy.NewInt64([]int{3}, []int64{3, 1, 4}))
	vs := write("v.npy", npy.NewFloat32([]int{3, 10}, v))
	wantCE, _, err := m.CrossEntropyGrad(x, y)
	if err != nil {
		t.Fatal(err)
	}
	wantVJP, err := m.VJP(x, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range []Model{lenet, {Classifier: plain{m}, Ref: lenet.Ref}} {
		for _, tc := range []struct {
			req  GradRequest
			want []float32
			mode string
		}{
			{GradRequest{Input: xs, Labels: ys}, wantCE, report.GradCrossEntropySum},
			{GradRequest{Input: xs, Cotangent: vs}, wantVJP, report.GradVJP},
		} {
			out, err := Gradient(t.Context(), mm, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if out.Result.Mode != tc.mode || (out.Result.Loss != nil) != (tc.mode == report.GradCrossEntropySum) || out.Result.Input.SHA256 == "" {
				t.Errorf("result %+v", out.Result)
			}
			for i := range tc.want {
				if out.Grad[i] != tc.want[i] {
					t.Fatalf("%s: gradient %d is %v, the model's %v", tc.mode, i, out.Grad[i], tc.want[i])
				}
			}
		}
	}
	for _, req := range []GradRequest{{Input: xs}, {Input: xs, Labels: ys, Cotangent: vs}} {
		if _, err := Gradient(t.Context(), lenet, req); err == nil || !strings.Contains(err.Error(), "exactly one") {
			t.Errorf("%+v: %v", req, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Gradient(ctx, lenet, GradRequest{Input: xs, Labels: ys}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
