package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// The fixture comes from metrics/testdata/ssim_ref.py, a NumPy
// re-implementation of skimage.metrics.structural_similarity (scikit-image
// was not installed where it was generated; the script checks itself
// against scikit-image when it is).
func TestSSIMFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/ssim_fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Cases []struct {
			Name  string
			Shape []int
			A, B  []float32
			SSIM  float64
		}
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			got := SSIM(c.A, c.B, c.Shape[0], c.Shape[1], c.Shape[2])
			if math.Abs(got-c.SSIM) > 1e-12 {
				t.Fatalf("SSIM = %.15g, reference %.15g", got, c.SSIM)
			}
			if sym := SSIM(c.B, c.A, c.Shape[0], c.Shape[1], c.Shape[2]); math.Abs(sym-got) > 1e-15 {
				t.Fatalf("not symmetric: %v vs %v", got, sym)
			}
		})
	}
}

func randImage(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()
	}
	return x
}

func TestSSIMProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ c, h, w int }{
		{1, 28, 28}, {3, 32, 32}, {3, 7, 9}, {1, 6, 6}, {1, 5, 9}, {3, 2, 3}, {1, 1, 1}, {1, 1, 8},
	} {
		size := tc.c * tc.h * tc.w
		a, b := randImage(r, size), randImage(r, size)
		if s := SSIM(a, a, tc.c, tc.h, tc.w); math.Abs(s-1) > 1e-12 {
			t.Errorf("%v: SSIM(a,a) = %v, want 1", tc, s)
		}
		s1, s2 := SSIM(a, b, tc.c, tc.h, tc.w), SSIM(b, a, tc.c, tc.h, tc.w)
		if s1 != s2 {
			t.Errorf("%v: asymmetric %v vs %v", tc, s1, s2)
		}
		if math.IsNaN(s1) || s1 > 1 || s1 < -1 {
			t.Errorf("%v: SSIM %v outside [-1,1]", tc, s1)
		}
	}
}

// A 1×1 image has window 1: the SSIM is the luminance term alone.
func TestSSIMTinyImages(t *testing.T) {
	a, b := []float32{0.2}, []float32{0.6}
	c1 := 0.01 * 0.01
	want := (2*float64(a[0])*float64(b[0]) + c1) / (float64(a[0])*float64(a[0]) + float64(b[0])*float64(b[0]) + c1)
	if got := SSIM(a, b, 1, 1, 1); math.Abs(got-want) > 1e-12 {
		t.Fatalf("1×1: %v, want %v", got, want)
	}
	// 6×6 uses a 5×5 window: a 6×6 image equals the mean of the SSIM
	// map over its central 2×2, which a constant image makes analytic.
	x := make([]float32, 36)
	y := make([]float32, 36)
	for i := range x {
		x[i], y[i] = 0.25, 0.75
	}
	ux, uy := 0.25, 0.75
	c2 := 0.03 * 0.03
	want = (2*ux*uy + c1) * c2 / ((ux*ux + uy*uy + c1) * c2)
	if got := SSIM(x, y, 1, 6, 6); math.Abs(got-want) > 1e-9 {
		t.Fatalf("6×6 constant: %v, want %v", got, want)
	}
	if got := SSIM(nil, nil, 3, 0, 0); got != 1 {
		t.Fatalf("empty: %v", got)
	}
}

func TestMeanSSIM(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, c, h, w = 4, 3, 10, 11
	a, b := randImage(r, n*c*h*w), randImage(r, n*c*h*w)
	var want float64
	for i := 0; i < n; i++ {
		s := c * h * w
		want += SSIM(a[i*s:(i+1)*s], b[i*s:(i+1)*s], c, h, w)
	}
	want /= n
	if got := MeanSSIM(a, b, n, c, h, w); math.Abs(got-want) > 1e-15 {
		t.Fatalf("MeanSSIM %v, want %v", got, want)
	}
	if got := MeanSSIM(nil, nil, 0, c, h, w); got != 1 {
		t.Fatalf("empty batch: %v", got)
	}
}

func BenchmarkMeanSSIM224(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	const n, c, h, w = 4, 3, 224, 224
	x, y := randImage(r, n*c*h*w), randImage(r, n*c*h*w)
	for b.Loop() {
		MeanSSIM(x, y, n, c, h, w)
	}
}
