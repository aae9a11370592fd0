package onnxgraph

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models"
)

// constant is a member whose logits are z for every image: a Gemm with
// zero weights and bias z.
func constant(t *testing.T, z []float32) Member {
	t.Helper()
	b := New("constant")
	b.Input("x", Batch, 2)
	b.Initializer("W", []int{len(z), 2}, make([]float32, 2*len(z)))
	b.Initializer("b", []int{len(z)}, z)
	b.Node("Gemm", []string{"x", "W", "b"}, []string{"z"}, Int("transB", 1))
	b.Output("z", Batch, len(z))
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return Member{Name: "constant", ONNX: data}
}

// linear is a member with random weights, logits = W·x + b.
func linear(t *testing.T, r *rand.Rand, in, classes int) Member {
	t.Helper()
	b := New("linear")
	b.Input("x", Batch, in)
	w := make([]float32, in*classes)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	bias := make([]float32, classes)
	for i := range bias {
		bias[i] = float32(r.NormFloat64())
	}
	b.Initializer("W", []int{classes, in}, w)
	b.Initializer("b", []int{classes}, bias)
	b.Node("Gemm", []string{"x", "W", "b"}, []string{"z"}, Int("transB", 1))
	b.Output("z", Batch, classes)
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return Member{Name: "linear", ONNX: data}
}

func logitsOf(t *testing.T, ms []Member, agg string, x []float32) []float32 {
	t.Helper()
	a, err := ParseAggregation(agg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := Combine(ms, a)
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	z := make([]float32, len(x)/m.InputShape()[0]*m.NumClasses())
	if err := m.Logits(z, x); err != nil {
		t.Fatal(err)
	}
	return z
}

// §6's hand vectors for CrossMax (B=1, N=3, C=3).
func TestCrossMaxHandVectors(t *testing.T) {
	x := []float32{0.3, 0.7}
	z1 := []Member{constant(t, []float32{4, 1, 0}), constant(t, []float32{3, 2, 0}), constant(t, []float32{0, 0, 50})}
	z2 := []Member{constant(t, []float32{2, 0, 0}), constant(t, []float32{0, 1, 0}), constant(t, []float32{10, 0, 0})}
	for _, tc := range []struct {
		ms   []Member
		agg  string
		want []float32
	}{
		{z1, "crossmax:k=2", []float32{0, -2, -3}},
		{z1, "crossmax:k=3", []float32{-50, -49, -4}},
		{z1, "crossmax-median", []float32{0, -2, -3}},
		{z1, "mean-logits", []float32{7.0 / 3, 1, 50.0 / 3}},
		{z2, "crossmax:k=2", []float32{0, -2, -1}},
	} {
		got := logitsOf(t, tc.ms, tc.agg, x)
		for i := range got {
			if math.Abs(float64(got[i]-tc.want[i])) > 1e-5 {
				t.Errorf("%s: %v, want %v", tc.agg, got, tc.want)
				break
			}
		}
	}
	// The mean of logits picks the outlier's class 2, CrossMax k=2 class 0.
	if z := logitsOf(t, z1, "mean-logits", x); !(z[2] > z[0]) {
		t.Errorf("mean of logits %v", z)
	}
}

// CrossMax is invariant to a constant added to one predictor's row, and to
// one added to a class's column when it leaves every predictor's top class
// alone (step 1 then passes it through and step 2 removes it); it scales
// with a positive factor; k=1 and k > N are refused.
func TestCrossMaxInvariances(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, c = 5, 8
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, c)
		for j := range rows[i] {
			rows[i][j] = float32(r.NormFloat64() * 3)
		}
	}
	members := func(rows [][]float32) []Member {
		var ms []Member
		for _, row := range rows {
			ms = append(ms, constant(t, row))
		}
		return ms
	}
	x := []float32{0, 0}
	base := logitsOf(t, members(rows), "crossmax:k=3", x)
	for _, v := range base {
		if v > 0 {
			t.Fatalf("CrossMax output %v has a positive value", base)
		}
	}
	shifted := make([][]float32, n)
	for i := range rows {
		shifted[i] = append([]float32(nil), rows[i]...)
	}
	for j := range shifted[2] {
		shifted[2][j] += 7 // one predictor's row
	}
	top := map[int]bool{}
	for _, row := range rows {
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		top[best] = true
	}
	col := 0
	for top[col] {
		col++
	}
	for i := range shifted {
		shifted[i][col] -= 4 // a column no predictor ranks first, lowered
	}
	got := logitsOf(t, members(shifted), "crossmax:k=3", x)
	for i := range got {
		if math.Abs(float64(got[i]-base[i])) > 1e-4 {
			t.Fatalf("shifts changed CrossMax: %v vs %v", got, base)
		}
	}
	scaled := make([][]float32, n)
	for i := range rows {
		for _, v := range rows[i] {
			scaled[i] = append(scaled[i], 2.5*v)
		}
	}
	got = logitsOf(t, members(scaled), "crossmax:k=3", x)
	for i := range got {
		if math.Abs(float64(got[i]-2.5*base[i])) > 1e-4 {
			t.Fatalf("scaling by 2.5: %v vs %v", got, base)
		}
	}
	for _, agg := range []string{"crossmax:k=1", "crossmax:k=6"} {
		a, _ := ParseAggregation(agg)
		if _, err := Combine(members(rows), a); err == nil {
			t.Errorf("%s accepted over %d members", agg, n)
		}
	}
	if _, err := ParseAggregation("vote"); err == nil {
		t.Error("unknown aggregation accepted")
	}
}

// The aggregations agree with their definitions on random members, and
// their gradients with central differences in float64.
func TestAggregationsAndGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var ms []Member
	for range 4 {
		ms = append(ms, linear(t, r, 6, 5))
	}
	x := make([]float32, 3*6)
	for i := range x {
		x[i] = r.Float32()
	}
	var zs [][]float32
	for _, m := range ms {
		zs = append(zs, logitsOf(t, []Member{m}, "mean-logits", x))
	}
	softmax := func(z []float32) []float64 {
		out := make([]float64, len(z))
		var s float64
		mx := z[0]
		for _, v := range z {
			mx = max(mx, v)
		}
		for i, v := range z {
			out[i] = math.Exp(float64(v - mx))
			s += out[i]
		}
		for i := range out {
			out[i] /= s
		}
		return out
	}
	lms := logitsOf(t, ms, "log-mean-softmax", x)
	for b := range 3 {
		mean := make([]float64, 5)
		for _, z := range zs {
			for j, p := range softmax(z[b*5 : (b+1)*5]) {
				mean[j] += p / 4
			}
		}
		for j := range mean {
			if d := math.Abs(math.Log(mean[j]) - float64(lms[b*5+j])); d > 1e-5 {
				t.Fatalf("log-mean-softmax [%d,%d]: %v, want %v", b, j, lms[b*5+j], math.Log(mean[j]))
			}
		}
	}
	for _, agg := range []string{"mean-logits", "mean-softmax", "log-mean-softmax", "crossmax:k=2", "crossmax:k=3", "crossmax-median"} {
		a, _ := ParseAggregation(agg)
		data, err := Combine(ms, a)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := models.GradCheck(data, [][]int{{3, 6}}, 5)
		if err != nil {
			t.Fatalf("%s: %v", agg, err)
		}
		if rep.MaxRelError > 1e-6 {
			t.Errorf("%s: gradients off by %.3g relative (%s)", agg, rep.MaxRelError, rep.Worst)
		}
	}
}

func TestCombineErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	a, _ := ParseAggregation("mean-logits")
	for _, tc := range []struct {
		ms   []Member
		want string
	}{
		{[]Member{linear(t, r, 6, 5), linear(t, r, 7, 5)}, "takes input"},
		{[]Member{linear(t, r, 6, 5), linear(t, r, 6, 4)}, "outputs 4 classes"},
		{[]Member{linear(t, r, 6, 5), {Name: "junk", ONNX: []byte("not onnx")}}, "not an ONNX model"},
		{nil, "needs members"},
	} {
		if _, err := Combine(tc.ms, a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
