package attacks

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advmatrix/advmatrix/models"
)

// Corruption is one of DUMB's non-gradient ("non-mathematical") attacks
// (Alecci et al., RAID 2023, §8 of the algorithm reference): an
// image transformation with at most one strength parameter that never
// looks at a model. It implements Attack; Craft takes only the image shape
// from the first surrogate. Random corruptions draw from a PCG generator
// seeded with the batch's seed, image after image, so the same seed and
// batch give the same bytes. Outputs are always in [0,1].
//
// The kinds, their strength and DUMB's tuning grid (the Grid functions in
// strength.go):
//
//	boxblur     Strength = radius r ≥ 0 (fractional allowed)     grid 0.5..10 step 0.5
//	gaussnoise  Strength = σ ≥ 0 (plus Mean, default 0)          grid 0.005..0.1 step 0.005
//	greyscale   no strength
//	invert      no strength
//	blackbox    Strength = side of the square in pixels ≥ 0      grid 10..200 step 10 at 300 px
//	saltpepper  Strength = amount ∈ [0,1]                        grid 0.005..0.1 step 0.005
//	splitmerge  no strength (3-channel images only)
//
// See each constructor for the exact semantics and the differences from
// PIL, scikit-image and DUMB's own code.
type Corruption struct {
	Kind     string  // one of the names above
	Strength float64 // the kind's parameter; ignored by the parameterless kinds
	Mean     float64 // gaussnoise only: mean of the noise (0 in skimage's default)
}

// BoxBlur is PIL's ImageFilter.BoxBlur(radius), applied to every channel:
// a horizontal then a vertical 1-D box filter of radius r, each output the
// weighted mean of the 2⌊r⌋+1 nearest pixels (weight 1/(2r+1) each) and of
// the two pixels at distance ⌊r⌋+1 (weight (r−⌊r⌋)/(2r+1) each), so the
// weights sum to 1 and fractional radii blur continuously. Pixels outside
// the image repeat the edge pixel, as in PIL. Unlike PIL on 8-bit images,
// the intermediate and final values are not rounded to 1/255.
func BoxBlur(radius float64) *Corruption { return &Corruption{Kind: "boxblur", Strength: radius} }

// GaussNoise is skimage.util.random_noise(x, mode="gaussian", mean=0,
// var=σ², clip=True): independent N(0, σ²) noise on every value, then a
// clip to [0,1]. The normal deviates come from Go's math/rand/v2, not
// NumPy's generator, so a seed does not reproduce skimage's bytes.
//
// DUMB's code calls random_noise(mean=amount, var=amount), i.e. noise of
// mean a and standard deviation √a; set Mean = a and σ = √a to reproduce
// that.
func GaussNoise(sigma float64) *Corruption { return &Corruption{Kind: "gaussnoise", Strength: sigma} }

// Greyscale is PIL's ImageOps.grayscale(img).convert("RGB"): the ITU-R
// 601-2 luma L = 0.299·R + 0.587·G + 0.114·B copied to all three channels
// (in float, where PIL rounds to 8 bits with its fixed-point weights).
// A 1-channel image is returned unchanged; other channel counts are an
// error.
func Greyscale() *Corruption { return &Corruption{Kind: "greyscale"} }

// Invert is PIL's ImageChops.invert: 1 − x on every value.
func Invert() *Corruption { return &Corruption{Kind: "invert"} }

// BlackBox draws one black square (all channels 0) of side s pixels on
// each image, at a position drawn uniformly among the (H−s+1)·(W−s+1)
// placements that keep it inside the image; s is clamped to min(H, W),
// and s = 0 leaves the image unchanged. Non-integer sides are rounded.
//
// DUMB's code differs on its 300×300 images: the top-left corner is drawn
// from [50, 250−s] on both axes (a central region), and PIL's inclusive
// rectangle makes the box s+1 pixels wide. For smaller inputs DUMB's sizes
// are scaled by side/300 (BlackBoxGrid).
func BlackBox(side float64) *Corruption { return &Corruption{Kind: "blackbox", Strength: side} }

// SaltPepper is skimage.util.random_noise(x, mode="s&p", amount=a,
// salt_vs_pepper=0.5) (scikit-image ≥ 0.19): every value, each channel
// separately, is replaced with probability a, by 1 (salt) or 0 (pepper)
// with equal odds.
//
// DUMB's code instead converts the image to greyscale, sets ⌈a·HW/2⌉
// random pixels (drawn with replacement, never in the last row or column)
// to the 8-bit value 1 — almost black, not white — and as many to 0, and
// returns the greyscale image as RGB. That is not reproduced.
func SaltPepper(amount float64) *Corruption { return &Corruption{Kind: "saltpepper", Strength: amount} }

// SplitMerge is DUMB's split-merge RGB: Image.merge("RGB", (G, R, B)),
// which swaps the red and green channels. It needs 3-channel images.
func SplitMerge() *Corruption { return &Corruption{Kind: "splitmerge"} }

// CorruptionKinds lists the corruption names in DUMB's order.
var CorruptionKinds = []string{"boxblur", "gaussnoise", "greyscale", "invert", "blackbox", "saltpepper", "splitmerge"}

// Validate reports the first problem with the corruption's settings.
func (c *Corruption) Validate() error {
	bad := math.IsNaN(c.Strength) || math.IsInf(c.Strength, 0)
	switch c.Kind {
	case "boxblur":
		if bad || c.Strength < 0 {
			return fmt.Errorf("boxblur radius %v must be >= 0", c.Strength)
		}
	case "gaussnoise":
		if bad || c.Strength < 0 {
			return fmt.Errorf("gaussnoise sigma %v must be >= 0", c.Strength)
		}
		if math.IsNaN(c.Mean) || math.IsInf(c.Mean, 0) {
			return fmt.Errorf("gaussnoise mean %v must be finite", c.Mean)
		}
	case "blackbox":
		if bad || c.Strength < 0 {
			return fmt.Errorf("blackbox size %v must be >= 0", c.Strength)
		}
	case "saltpepper":
		if bad || c.Strength < 0 || c.Strength > 1 {
			return fmt.Errorf("saltpepper amount %v must be in [0,1]", c.Strength)
		}
	case "greyscale", "invert", "splitmerge":
	default:
		return fmt.Errorf("unknown corruption %q", c.Kind)
	}
	return nil
}

// Craft applies the corruption. It implements Attack: surrogates[0] gives
// only the image shape, the labels only the batch size; targets are
// ignored (a corruption aims at nothing).
func (c *Corruption) Craft(ctx context.Context, surrogates []models.Classifier, b Batch) ([]float32, error) {
	if len(surrogates) == 0 {
		return nil, fmt.Errorf("%s: no surrogate model to take the image shape from", c.Kind)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch, h, w := shapeCHW(surrogates[0].InputShape())
	n := len(b.Labels)
	if n == 0 || len(b.X) != n*ch*h*w {
		return nil, fmt.Errorf("%s: %d values for %d labels of %v images", c.Kind, len(b.X), n, surrogates[0].InputShape())
	}
	return c.Apply(b.X, n, ch, h, w, b.Seed)
}

// Apply corrupts n C×H×W images without a model, drawing any randomness
// from seed. x is not modified.
func (c *Corruption) Apply(x []float32, n, ch, h, w int, seed uint64) ([]float32, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	size := ch * h * w
	if n < 0 || ch < 1 || h < 1 || w < 1 || len(x) != n*size {
		return nil, fmt.Errorf("%s: %d values for %d images of %d×%d×%d", c.Kind, len(x), n, ch, h, w)
	}
	switch c.Kind {
	case "greyscale":
		if ch != 1 && ch != 3 {
			return nil, fmt.Errorf("greyscale needs 1- or 3-channel images, have %d channels", ch)
		}
	case "splitmerge":
		if ch != 3 {
			return nil, fmt.Errorf("splitmerge swaps the red and green channels and needs 3-channel (RGB) images, have %d channel(s)", ch)
		}
	}
	out := make([]float32, len(x))
	copy(out, x)
	rng := rand.New(rand.NewPCG(seed, 0x636f7272)) // "corr"
	plane := h * w
	switch c.Kind {
	case "boxblur":
		tmp := make([]float32, plane)
		for p := 0; p < n*ch; p++ {
			boxBlurPlane(out[p*plane:(p+1)*plane], tmp, h, w, c.Strength)
		}
	case "gaussnoise":
		for i, v := range out {
			out[i] = clamp01(float64(v) + c.Mean + c.Strength*rng.NormFloat64())
		}
	case "greyscale":
		if ch == 3 {
			for i := 0; i < n; i++ {
				img := out[i*size : (i+1)*size]
				for j := 0; j < plane; j++ {
					l := clamp01(0.299*float64(img[j]) + 0.587*float64(img[plane+j]) + 0.114*float64(img[2*plane+j]))
					img[j], img[plane+j], img[2*plane+j] = l, l, l
				}
			}
		}
	case "invert":
		for i, v := range out {
			out[i] = 1 - v
		}
	case "blackbox":
		s := min(int(math.Round(c.Strength)), h, w)
		if s == 0 {
			break
		}
		for i := 0; i < n; i++ {
			top, left := rng.IntN(h-s+1), rng.IntN(w-s+1)
			img := out[i*size : (i+1)*size]
			for k := 0; k < ch; k++ {
				for r := top; r < top+s; r++ {
					clear(img[k*plane+r*w+left : k*plane+r*w+left+s])
				}
			}
		}
	case "saltpepper":
		for i := range out {
			// Two draws per value, as skimage draws the flipped and the
			// salted masks separately.
			flip := rng.Float64() < c.Strength
			salt := rng.Float64() < 0.5
			if flip {
				if salt {
					out[i] = 1
				} else {
					out[i] = 0
				}
			}
		}
	case "splitmerge":
		for i := 0; i < n; i++ {
			img := out[i*size : (i+1)*size]
			copy(img[:plane], x[i*size+plane:i*size+2*plane])
			copy(img[plane:2*plane], x[i*size:i*size+plane])
		}
	}
	return out, nil
}

func clamp01(v float64) float32 { return float32(min(max(v, 0), 1)) }

// boxBlurPlane blurs one H×W plane in place with PIL's box blur of radius
// r: rows first, then columns.
func boxBlurPlane(p, tmp []float32, h, w int, r float64) {
	if r == 0 {
		return
	}
	line := make([]float64, max(h, w))
	for y := 0; y < h; y++ {
		boxBlurLine(line[:w], p[y*w:(y+1)*w], 1, r)
		for x := 0; x < w; x++ {
			tmp[y*w+x] = float32(line[x])
		}
	}
	for x := 0; x < w; x++ {
		boxBlurLine(line[:h], tmp[x:], w, r)
		for y := 0; y < h; y++ {
			p[y*w+x] = clamp01(line[y])
		}
	}
}

// boxBlurLine writes into dst the 1-D box blur of the len(dst) values
// src[0], src[stride], src[2·stride], …, repeating the end values beyond
// the line.
func boxBlurLine(dst []float64, src []float32, stride int, r float64) {
	n := len(dst)
	ri := int(r)
	inner := 1 / (2*r + 1)
	far := (r - float64(ri)) * inner
	at := func(i int) float64 { return float64(src[min(max(i, 0), n-1)*stride]) }
	for i := range dst {
		var acc float64
		for k := -ri; k <= ri; k++ {
			acc += at(i + k)
		}
		v := acc * inner
		if far != 0 {
			v += (at(i-ri-1) + at(i+ri+1)) * far
		}
		dst[i] = v
	}
}

// defaultBlackBox is the default box side for an H×W image: 60 of DUMB's
// 300 pixels (the middle of its 10..200 grid, roughly), scaled.
func defaultBlackBox(shape []int) float64 {
	_, h, w := shapeCHW(shape)
	return math.Max(1, math.Round(60*float64(min(h, w))/300))
}

func init() {
	type corr struct {
		name, summary, extra string
		make                 func(s float64) *Corruption
		def                  func(shape []int) float64
		grid                 func(shape []int) []float64 // DUMB's strength grid
		max                  float64                     // the strength's upper bound
		help                 string                      // what the strength is
	}
	for _, k := range []corr{
		{"boxblur", "PIL box blur of the given radius (DUMB non-mathematical attack)", "radius",
			BoxBlur, func([]int) float64 { return 1 }, func([]int) []float64 { return BoxBlurGrid() }, 1000, "box-blur radius in pixels"},
		{"gaussnoise", "additive Gaussian noise of std sigma, clipped (skimage random_noise; DUMB)", "sigma",
			GaussNoise, func([]int) float64 { return 0.05 }, func([]int) []float64 { return GaussNoiseGrid() }, 10, "noise standard deviation"},
		{"greyscale", "ITU-R 601-2 luma copied to the three channels (PIL grayscale; DUMB)", "",
			func(float64) *Corruption { return Greyscale() }, nil, nil, 0, ""},
		{"invert", "1 − x (PIL ImageChops.invert; DUMB)", "",
			func(float64) *Corruption { return Invert() }, nil, nil, 0, ""},
		{"blackbox", "a black square of the given side in pixels at a random position (DUMB)", "size",
			BlackBox, defaultBlackBox, func(shape []int) []float64 {
				_, h, w := shapeCHW(shape)
				return BlackBoxGrid(min(h, w))
			}, 1 << 20, "black box side in pixels"},
		{"saltpepper", "salt-and-pepper noise on the given fraction of values (skimage random_noise s&p; DUMB)", "amount",
			SaltPepper, func([]int) float64 { return 0.05 }, func([]int) []float64 { return SaltPepperGrid() }, 1, "fraction of values replaced"},
		{"splitmerge", "swap the red and green channels (DUMB split-merge RGB)", "",
			func(float64) *Corruption { return SplitMerge() }, nil, nil, 0, ""},
	} {
		k := k
		var extras []Param
		if k.extra != "" {
			extras = append(extras, Param{Name: k.extra, Kind: Float, Min: 0, Max: k.max, Default: k.def, Help: k.help})
		}
		if k.name == "gaussnoise" {
			extras = append(extras, Param{Name: "mean", Kind: Float, Min: -1, Max: 1, Default: fixed(0), Help: "mean of the noise"})
		}
		var strength *Strength
		if k.grid != nil {
			strength = &Strength{Key: k.extra, Grid: k.grid}
		}
		Register(Spec{
			Name: k.name, Summary: k.summary, Extras: extras, Strength: strength,
			Defaults: func([]int) Params { return Params{} },
			New: func(p Params) (Attack, error) {
				var s float64
				if k.extra != "" {
					v, ok := p.Extra[k.extra]
					if !ok {
						return nil, fmt.Errorf("%s: missing %s", k.name, k.extra)
					}
					s = v
				}
				c := k.make(s)
				c.Mean = p.ExtraOr("mean", 0)
				if err := c.Validate(); err != nil {
					return nil, err
				}
				return c, nil
			},
		})
	}
}
