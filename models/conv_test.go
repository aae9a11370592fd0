package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvReference checks convolution outputs against a direct
// evaluation of the definition, for geometries that take each of the
// kernel's paths: shifted GEMM, im2col (with whole-plane copies when the
// output is as wide as the input), 1×1 direct, depthwise phase planes,
// groups, strides, dilations, asymmetric pads, 1-D, one or many images.
// The finite-difference tests prove the gradients adjoint to the forward
// pass; this proves the forward pass.
func TestConvReference(t *testing.T) {
	type conv struct {
		n, c, h, w     int
		m, kh, kw      int
		group          int
		sh, sw         int
		dh, dw         int
		pt, pl, pb, pr int
	}
	cases := []conv{
		{n: 3, c: 3, h: 4, w: 4, m: 5, kh: 3, kw: 3, group: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 2, c: 2, h: 5, w: 3, m: 3, kh: 2, kw: 3, group: 1, sh: 1, sw: 1, dh: 2, dw: 2, pt: 0, pl: 1, pb: 2, pr: 3},
		{n: 1, c: 1, h: 3, w: 2, m: 2, kh: 3, kw: 5, group: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 2, pb: 1, pr: 2},
		{n: 5, c: 8, h: 12, w: 12, m: 6, kh: 3, kw: 3, group: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 2, c: 3, h: 9, w: 7, m: 4, kh: 3, kw: 3, group: 1, sh: 2, sw: 2, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 4, c: 6, h: 7, w: 7, m: 4, kh: 1, kw: 1, group: 1, sh: 2, sw: 2, dh: 1, dw: 1},
		{n: 3, c: 6, h: 5, w: 5, m: 8, kh: 1, kw: 1, group: 1, sh: 1, sw: 1, dh: 1, dw: 1},
		{n: 2, c: 4, h: 6, w: 6, m: 6, kh: 3, kw: 3, group: 2, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 3, c: 5, h: 8, w: 9, m: 5, kh: 3, kw: 3, group: 5, sh: 2, sw: 2, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 2, c: 3, h: 8, w: 7, m: 3, kh: 3, kw: 2, group: 3, sh: 2, sw: 1, dh: 2, dw: 3, pt: 2, pl: 0, pb: 1, pr: 1},
		{n: 1, c: 4, h: 6, w: 5, m: 4, kh: 5, kw: 5, group: 4, sh: 1, sw: 1, dh: 1, dw: 1, pt: 2, pl: 2, pb: 2, pr: 2},
		{n: 2, c: 3, h: 10, w: 16, m: 3, kh: 3, kw: 3, group: 3, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1},
		{n: 1, c: 2, h: 7, w: 20, m: 2, kh: 5, kw: 3, group: 2, sh: 1, sw: 1, dh: 1, dw: 2, pt: 2, pl: 1, pb: 2, pr: 3},
		{n: 2, c: 3, h: 1, w: 11, m: 3, kh: 1, kw: 3, group: 3, sh: 1, sw: 3, dh: 1, dw: 1, pt: 0, pl: 1, pb: 0, pr: 2},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for ci, cv := range cases {
		t.Run(fmt.Sprintf("%+v", cv), func(t *testing.T) {
			g := newTestGraph(13).input("x", -1, cv.c, cv.h, cv.w).randInit(r, "w", cv.m, cv.c/cv.group, cv.kh, cv.kw).randInit(r, "b", cv.m).
				node("Conv", []string{"x", "w", "b"}, []string{"y"}, aInt("group", int64(cv.group)), aInts("strides", int64(cv.sh), int64(cv.sw)),
					aInts("dilations", int64(cv.dh), int64(cv.dw)), aInts("pads", int64(cv.pt), int64(cv.pl), int64(cv.pb), int64(cv.pr))).output("y")
			_, gr, err := parseGraph(g.bytes(), loadOptions{maxElements: 1 << 24})
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float64, cv.n*cv.c*cv.h*cv.w)
			for i := range x {
				x[i] = r.NormFloat64()
			}
			wt := gr.params[gr.paramIdx["w"]].data
			bias := gr.params[gr.paramIdx["b"]].data
			oh := (cv.h+cv.pt+cv.pb-(cv.kh-1)*cv.dh-1)/cv.sh + 1
			ow := (cv.w+cv.pl+cv.pr-(cv.kw-1)*cv.dw-1)/cv.sw + 1
			want := make([]float64, cv.n*cv.m*oh*ow)
			cg, mg := cv.c/cv.group, cv.m/cv.group
			for n := 0; n < cv.n; n++ {
				for m := 0; m < cv.m; m++ {
					gi := m / mg
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							s := float64(bias[m])
							for c := 0; c < cg; c++ {
								for i := 0; i < cv.kh; i++ {
									for j := 0; j < cv.kw; j++ {
										iy, ix := oy*cv.sh-cv.pt+i*cv.dh, ox*cv.sw-cv.pl+j*cv.dw
										if iy < 0 || iy >= cv.h || ix < 0 || ix >= cv.w {
											continue
										}
										s += float64(wt[((m*cg+c)*cv.kh+i)*cv.kw+j]) * x[((n*cv.c+gi*cg+c)*cv.h+iy)*cv.w+ix]
									}
								}
							}
							want[((n*cv.m+m)*oh+oy)*ow+ox] = s
						}
					}
				}
			}
			shape := []int{cv.n, cv.c, cv.h, cv.w}
			got64 := runConv[float64](t, gr, shape, x)
			got32 := runConv[float32](t, gr, shape, x)
			for i, w := range want {
				if math.Abs(got64[i]-w) > 1e-12*(1+math.Abs(w)) {
					t.Fatalf("case %d float64 y[%d] = %v, want %v", ci, i, got64[i], w)
				}
				if math.Abs(got32[i]-w) > 1e-5*(1+math.Abs(w)) {
					t.Fatalf("case %d float32 y[%d] = %v, want %v", ci, i, got32[i], w)
				}
			}
		})
	}
}

func runConv[T Float](t *testing.T, g *graph, shape []int, x []float64) []float64 {
	t.Helper()
	p, err := compile[T](g, compileOptions{inputShapes: [][]int{shape}, maxElements: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	p.loadParams(g)
	in := p.data[p.inputs[0]]
	for i, v := range x {
		in[i] = T(v)
	}
	p.forward()
	out := make([]float64, len(p.output(0)))
	for i, v := range p.output(0) {
		out[i] = float64(v)
	}
	return out
}
