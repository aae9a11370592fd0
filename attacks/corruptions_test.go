package attacks

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/models"
)

// shapeOnly is a classifier that only has an input shape, for the attacks
// that never query a model.
type shapeOnly struct{ shape []int }

func (s shapeOnly) InputShape() []int             { return s.shape }
func (s shapeOnly) NumClasses() int               { return 2 }
func (s shapeOnly) Logits(dst, x []float32) error { panic("corruptions must not query the model") }
func (s shapeOnly) Grad(dx, x []float32, seed func(z, dz []float32)) error {
	panic("corruptions must not query the model")
}

// sameBits reports whether two slices hold the same float32 bit patterns.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func mustApply(t *testing.T, c *Corruption, x []float32, n, ch, h, w int, seed uint64) []float32 {
	t.Helper()
	out, err := c.Apply(x, n, ch, h, w, seed)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func near(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-float64(want[i])) > tol {
			t.Fatalf("%s: value %d = %v, want %v (±%v)", name, i, got[i], want[i], tol)
		}
	}
}

func TestBoxBlurHandComputed(t *testing.T) {
	delta := func(r, c int) []float32 {
		x := make([]float32, 25)
		x[r*5+c] = 1
		return x
	}
	const ni = float32(1.0 / 9)
	for _, tc := range []struct {
		name   string
		radius float64
		in     []float32
		want   []float32
	}{
		{"centre r=1: 3×3 of 1/9", 1, delta(2, 2), []float32{
			0, 0, 0, 0, 0,
			0, ni, ni, ni, 0,
			0, ni, ni, ni, 0,
			0, ni, ni, ni, 0,
			0, 0, 0, 0, 0}},
		// r = 0.5: inner weight 1/2, the neighbours at distance 1 get
		// (0.5−0)/2 = 1/4 each: the outer product of (1/4, 1/2, 1/4).
		{"centre r=0.5: fractional weights", 0.5, delta(2, 2), []float32{
			0, 0, 0, 0, 0,
			0, 1. / 16, 1. / 8, 1. / 16, 0,
			0, 1. / 8, 1. / 4, 1. / 8, 0,
			0, 1. / 16, 1. / 8, 1. / 16, 0,
			0, 0, 0, 0, 0}},
		// Corner: the edge pixel repeats, so the corner sees itself twice
		// along each axis: (2/3)² = 4/9.
		{"corner r=1: edge replication", 1, delta(0, 0), []float32{
			4. / 9, 2. / 9, 0, 0, 0,
			2. / 9, 1. / 9, 0, 0, 0,
			0, 0, 0, 0, 0,
			0, 0, 0, 0, 0,
			0, 0, 0, 0, 0}},
		{"r=0 is the identity", 0, delta(1, 3), delta(1, 3)},
	} {
		got := mustApply(t, BoxBlur(tc.radius), tc.in, 1, 1, 5, 5, 0)
		near(t, tc.name, got, tc.want, 1e-7)
	}
	// A huge radius averages towards the (edge-weighted) mean; a constant
	// image stays constant for any radius.
	c := make([]float32, 3*4*6)
	for i := range c {
		c[i] = 0.3
	}
	for _, r := range []float64{0.5, 2.25, 50} {
		near(t, "constant", mustApply(t, BoxBlur(r), c, 1, 3, 4, 6, 0), c, 1e-6)
	}
}

// PIL 9.4 ImageFilter.BoxBlur on an 8-bit 6×9 "L" image (generated with
// /usr/bin/python3: Image.fromarray(a, "L").filter(ImageFilter.BoxBlur(r)),
// a = RandomState(7).randint(0, 256, (6, 9))). PIL rounds to 8 bits after
// each of its two passes; the float blur must agree within one level.
func TestBoxBlurMatchesPIL(t *testing.T) {
	src := []uint8{175, 196, 25, 246, 67, 211, 151, 103, 92, 185, 142, 23, 72, 89, 110, 42, 218, 136, 167, 230, 68, 176, 127, 135, 172, 0, 75, 55, 250, 6, 19, 188, 44, 191, 69, 56, 152, 183, 181, 112, 251, 189, 192, 34, 56, 201, 206, 38, 4, 238, 137, 87, 227, 195}
	pil := map[float64][]uint8{
		0.5: {179, 142, 109, 126, 134, 142, 141, 123, 111, 178, 142, 97, 103, 117, 120, 120, 121, 116, 161, 153, 102, 99, 121, 122, 117, 94, 82, 138, 157, 110, 104, 141, 145, 130, 83, 56, 157, 163, 118, 114, 167, 169, 141, 110, 91, 192, 166, 95, 94, 166, 164, 139, 158, 165},
		1:   {178, 127, 130, 96, 147, 122, 144, 121, 118, 180, 135, 131, 99, 137, 123, 127, 110, 103, 160, 125, 110, 85, 107, 122, 109, 106, 91, 157, 144, 136, 125, 138, 166, 114, 94, 53, 162, 141, 111, 115, 131, 169, 130, 123, 105, 189, 156, 108, 122, 145, 173, 146, 145, 154},
		1.7: {156, 149, 136, 128, 129, 137, 124, 122, 107, 146, 137, 129, 121, 119, 128, 118, 113, 101, 143, 133, 130, 124, 121, 128, 119, 106, 95, 148, 132, 133, 127, 122, 130, 127, 111, 103, 153, 132, 135, 131, 125, 138, 139, 123, 118, 160, 131, 132, 129, 121, 143, 155, 140, 143},
		4:   {148, 149, 148, 140, 133, 124, 112, 116, 106, 149, 149, 147, 140, 133, 126, 115, 121, 115, 150, 149, 145, 140, 134, 128, 118, 125, 123, 151, 148, 144, 140, 135, 130, 121, 129, 131, 152, 148, 143, 140, 136, 131, 124, 133, 140, 153, 148, 141, 140, 137, 133, 126, 137, 148},
	}
	x := make([]float32, len(src))
	for i, v := range src {
		x[i] = float32(v) / 255
	}
	for r, want := range pil {
		got := mustApply(t, BoxBlur(r), x, 1, 1, 6, 9, 0)
		w := make([]float32, len(want))
		for i, v := range want {
			w[i] = float32(v) / 255
		}
		near(t, "PIL box blur", got, w, 1.01/255)
	}
}

func TestGreyscale(t *testing.T) {
	// Pure primaries give the ITU-R 601-2 weights in every channel.
	x := []float32{
		1, 0, 0, // R plane
		0, 1, 0, // G plane
		0, 0, 1, // B plane
	}
	got := mustApply(t, Greyscale(), x, 1, 3, 1, 3, 0)
	want := []float32{0.299, 0.587, 0.114, 0.299, 0.587, 0.114, 0.299, 0.587, 0.114}
	near(t, "weights", got, want, 1e-7)

	// PIL ImageOps.grayscale(img).convert("RGB") on a 2×3 RGB image
	// (RandomState(7) after the box-blur source), HWC order.
	rgb := []uint8{72, 83, 176, 1, 192, 144, 118, 159, 93, 172, 92, 252, 71, 23, 10, 233, 35, 192}
	pil := []uint8{90, 90, 90, 129, 129, 129, 139, 139, 139, 134, 134, 134, 36, 36, 36, 112, 112, 112}
	chw := func(b []uint8) []float32 {
		out := make([]float32, 18)
		for p := 0; p < 6; p++ {
			for c := 0; c < 3; c++ {
				out[c*6+p] = float32(b[p*3+c]) / 255
			}
		}
		return out
	}
	near(t, "PIL grayscale", mustApply(t, Greyscale(), chw(rgb), 1, 3, 2, 3, 0), chw(pil), 0.51/255)

	// One channel: unchanged. Two channels: an error.
	one := []float32{0.1, 0.7}
	near(t, "1 channel", mustApply(t, Greyscale(), one, 1, 1, 1, 2, 0), one, 0)
	if _, err := Greyscale().Apply(make([]float32, 4), 1, 2, 1, 2, 0); err == nil {
		t.Fatal("2-channel greyscale: no error")
	}
}

func TestInvertAndSplitMerge(t *testing.T) {
	x := []float32{0, 0.25, 1, 0.5, 0.75, 0.125}
	near(t, "invert", mustApply(t, Invert(), x, 2, 1, 1, 3, 0), []float32{1, 0.75, 0, 0.5, 0.25, 0.875}, 0)

	rgb := []float32{
		0.1, 0.2, 0.3, 0.4, // R
		0.5, 0.6, 0.7, 0.8, // G
		0.9, 1.0, 0.0, 0.05, // B
		// second image
		1, 1, 1, 1, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5,
	}
	want := []float32{
		0.5, 0.6, 0.7, 0.8,
		0.1, 0.2, 0.3, 0.4,
		0.9, 1.0, 0.0, 0.05,
		0, 0, 0, 0, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5,
	}
	near(t, "splitmerge", mustApply(t, SplitMerge(), rgb, 2, 3, 2, 2, 0), want, 0)
	_, err := SplitMerge().Craft(t.Context(), []models.Classifier{shapeOnly{[]int{1, 28, 28}}}, Batch{X: make([]float32, 784), Labels: []int{0}})
	if err == nil || !strings.Contains(err.Error(), "3-channel") {
		t.Fatalf("splitmerge on 1 channel: err = %v", err)
	}
}

func TestBlackBoxPositions(t *testing.T) {
	const h, w, s = 5, 6, 3
	ones := make([]float32, 2*h*w)
	for i := range ones {
		ones[i] = 1
	}
	seen := map[[2]int]bool{}
	for seed := uint64(0); seed < 200; seed++ {
		c := BlackBox(s)
		out := mustApply(t, c, ones, 1, 2, h, w, seed)
		// Find the box: the zeros must be one s×s square, the same in
		// both channels.
		top, left := -1, -1
		zeros := 0
		for i, v := range out[:h*w] {
			if v == 0 {
				zeros++
				if top < 0 {
					top, left = i/w, i%w
				}
			}
			if out[h*w+i] != v {
				t.Fatalf("seed %d: channels differ at %d", seed, i)
			}
		}
		if zeros != s*s || top < 0 || top > h-s || left > w-s {
			t.Fatalf("seed %d: %d zeros from (%d,%d)", seed, zeros, top, left)
		}
		for r := top; r < top+s; r++ {
			for q := left; q < left+s; q++ {
				if out[r*w+q] != 0 {
					t.Fatalf("seed %d: (%d,%d) not black", seed, r, q)
				}
			}
		}
		seen[[2]int{top, left}] = true
	}
	if len(seen) != (h-s+1)*(w-s+1) {
		t.Fatalf("reached %d of %d positions", len(seen), (h-s+1)*(w-s+1))
	}
	// Larger than the image: clamped to min(H, W) = 5, a 5×5 square.
	zeros := 0
	for _, v := range mustApply(t, BlackBox(100), ones, 1, 2, h, w, 0) {
		if v == 0 {
			zeros++
		}
	}
	if zeros != 2*h*h {
		t.Fatalf("oversized box: %d zeros, want %d", zeros, 2*h*h)
	}
	// Zero: unchanged.
	near(t, "size 0", mustApply(t, BlackBox(0), ones, 1, 2, h, w, 0), ones, 0)
}

func TestSaltPepperStatistics(t *testing.T) {
	const n = 200000
	x := make([]float32, n)
	for i := range x {
		x[i] = 0.5
	}
	for _, amount := range []float64{0, 0.05, 0.3, 1} {
		c := SaltPepper(amount)
		out := mustApply(t, c, x, 1, 1, 1, n, 9)
		var salt, pepper int
		for _, v := range out {
			switch v {
			case 1:
				salt++
			case 0:
				pepper++
			case 0.5:
			default:
				t.Fatalf("amount %v: value %v", amount, v)
			}
		}
		frac := float64(salt+pepper) / n
		if math.Abs(frac-amount) > 4*math.Sqrt(amount*(1-amount)/n)+1e-12 {
			t.Errorf("amount %v: %v of the values flipped", amount, frac)
		}
		if salt+pepper > 0 {
			if r := float64(salt) / float64(salt+pepper); math.Abs(r-0.5) > 0.02 {
				t.Errorf("amount %v: salt share %v", amount, r)
			}
		}
	}
}

func TestGaussNoiseStatistics(t *testing.T) {
	const n = 100000
	x := make([]float32, n)
	for i := range x {
		x[i] = 0.5
	}
	near(t, "sigma 0", mustApply(t, GaussNoise(0), x, 1, 1, 1, n, 0), x, 0)
	c := GaussNoise(0.05)
	out := mustApply(t, c, x, 1, 1, 1, n, 3)
	var s, s2 float64
	for _, v := range out {
		d := float64(v) - 0.5
		s += d
		s2 += d * d
	}
	mean, sd := s/n, math.Sqrt(s2/n-(s/n)*(s/n))
	if math.Abs(mean) > 0.001 || math.Abs(sd-0.05) > 0.001 {
		t.Fatalf("noise mean %v sd %v, want 0 and 0.05", mean, sd)
	}
	// Large noise is clipped to [0,1]; a mean shifts it.
	c = GaussNoise(2)
	c.Mean = 0.3
	out = mustApply(t, c, x, 1, 1, 1, n, 0)
	var zeros, ones int
	for _, v := range out {
		if v < 0 || v > 1 {
			t.Fatalf("value %v outside [0,1]", v)
		}
		if v == 0 {
			zeros++
		} else if v == 1 {
			ones++
		}
	}
	if ones <= zeros {
		t.Fatalf("mean 0.3 should clip more at 1 (%d) than at 0 (%d)", ones, zeros)
	}
}

// Every registered corruption: defaults work on MNIST- and CIFAR-shaped
// batches, outputs stay in [0,1], the input is untouched, and the same
// seed gives the same bytes.
func TestCorruptionsRegistryDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, shape := range [][]int{{1, 28, 28}, {3, 32, 32}} {
		size := shape[0] * shape[1] * shape[2]
		const n = 3
		x := make([]float32, n*size)
		for i := range x {
			x[i] = r.Float32()
		}
		orig := slices.Clone(x)
		y := []int{0, 1, 0}
		ms := []models.Classifier{shapeOnly{shape}}
		for _, name := range CorruptionKinds {
			spec, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if spec.Gradient {
				t.Fatalf("%s: marked as a gradient attack", name)
			}
			craft := func(seed uint64) ([]float32, error) {
				p := Params{}.Merge(spec.Defaults(shape))
				a, err := spec.New(p)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				return a.Craft(t.Context(), ms, Batch{X: x, Labels: y, Seed: seed})
			}
			a, err := craft(11)
			if name == "splitmerge" && shape[0] == 1 {
				if err == nil {
					t.Fatal("splitmerge on MNIST: no error")
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s %v: %v", name, shape, err)
			}
			b, _ := craft(11)
			if !sameBits(a, b) {
				t.Fatalf("%s %v: same seed, different bytes", name, shape)
			}
			c, _ := craft(12)
			random := name == "gaussnoise" || name == "saltpepper" || name == "blackbox"
			if random && sameBits(a, c) {
				t.Fatalf("%s %v: seed has no effect", name, shape)
			}
			for i, v := range a {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("%s %v: value %d = %v", name, shape, i, v)
				}
			}
			if !sameBits(x, orig) {
				t.Fatalf("%s: modified its input", name)
			}
		}
	}
}

func TestCorruptionErrors(t *testing.T) {
	for _, c := range []*Corruption{
		BoxBlur(-1), BoxBlur(math.NaN()), GaussNoise(-0.1), BlackBox(-2), SaltPepper(1.5), SaltPepper(-0.1),
		{Kind: "sharpen"},
	} {
		if _, err := c.Apply(make([]float32, 4), 1, 1, 2, 2, 0); err == nil {
			t.Errorf("%+v: no error", *c)
		}
	}
	if _, err := Invert().Apply(make([]float32, 3), 1, 1, 2, 2, 0); err == nil {
		t.Error("wrong length: no error")
	}
	if _, err := Invert().Craft(t.Context(), nil, Batch{X: make([]float32, 4), Labels: []int{0}}); err == nil {
		t.Error("no surrogate: no error")
	}
	spec, _ := Lookup("boxblur")
	if err := spec.CheckExtras(Params{Extra: map[string]float64{"sigma": 1}}); err == nil {
		t.Error("boxblur accepted sigma")
	}
}
