package metrics

// SSIM constants: scikit-image's structural_similarity defaults for float
// images in [0,1].
const (
	ssimWin   = 7    // side of the uniform window
	ssimK1    = 0.01 // luminance stabiliser: C1 = (K1·L)²
	ssimK2    = 0.03 // contrast stabiliser:  C2 = (K2·L)²
	ssimRange = 1.0  // data range L
)

// SSIM is the mean structural similarity of one pair of C×H×W images
// (float32 CHW in [0,1]), computed as scikit-image's
// skimage.metrics.structural_similarity(a, b, data_range=1, channel_axis=0)
// with its other defaults: a 7×7 uniform window (scipy.ndimage
// uniform_filter, mode "reflect", i.e. the edge pixel repeated: d c b a | a
// b c d), K1 = 0.01, K2 = 0.03, sample covariances (the NP/(NP−1)
// correction, NP = 49), the SSIM map averaged over the image without a
// border of (7−1)/2 = 3 pixels on each side, and for C > 1 the mean of
// the per-channel values.
//
// Differences from scikit-image, all deliberate:
//   - Arithmetic is float64 throughout. scikit-image keeps float32 inputs
//     in float32 until the final mean, so the two agree to about 1e-6 on
//     float32 images and to about 1e-12 on float64 ones.
//   - Images smaller than 7 pixels on a side, which scikit-image rejects
//     with a ValueError, are compared with the largest odd window that
//     fits, w = min(H,W) rounded down to odd, and the border cropped is
//     (w−1)/2. With w = 1 the sample covariance is undefined (NP−1 = 0);
//     the correction is then dropped, so every variance is 0 and SSIM
//     reduces to its luminance term (2ab+C1)/(a²+b²+C1) averaged over the
//     pixels.
//   - An empty image (C, H or W zero) has SSIM 1.
//
// SSIM panics if len(a) or len(b) is not C·H·W, as a slice index would.
func SSIM(a, b []float32, c, h, w int) float64 {
	if c < 0 || h < 0 || w < 0 || len(a) != c*h*w || len(b) != c*h*w {
		panic("metrics.SSIM: image lengths do not match C×H×W")
	}
	if c*h*w == 0 {
		return 1
	}
	return newSSIMScratch(h, w).image(a, b, c, h, w)
}

// MeanSSIM is the mean of SSIM over n image pairs stored one after the
// other (N×C×H×W). It is 1 when n is 0.
func MeanSSIM(a, b []float32, n, c, h, w int) float64 {
	if n < 0 || c < 0 || h < 0 || w < 0 || len(a) != n*c*h*w || len(b) != n*c*h*w {
		panic("metrics.MeanSSIM: batch lengths do not match N×C×H×W")
	}
	size := c * h * w
	if n == 0 || size == 0 {
		return 1
	}
	s := newSSIMScratch(h, w)
	var sum float64
	for i := 0; i < n; i++ {
		sum += s.image(a[i*size:(i+1)*size], b[i*size:(i+1)*size], c, h, w)
	}
	return sum / float64(n)
}

// ssimScratch holds the five filtered planes of one channel and a
// row-filtered temporary.
type ssimScratch struct {
	win    int
	in     [5][]float64 // x, y, x², y², xy
	out    [5][]float64
	tmp    []float64
	rowIdx []int // rowIdx[x·win+k]: the column read by tap k at x
	colIdx []int // colIdx[y·win+k]: the row read by tap k at y
}

func newSSIMScratch(h, w int) *ssimScratch {
	win := min(ssimWin, h, w)
	if win%2 == 0 {
		win--
	}
	s := &ssimScratch{win: win, tmp: make([]float64, h*w)}
	for i := range s.in {
		s.in[i] = make([]float64, h*w)
		s.out[i] = make([]float64, h*w)
	}
	taps := func(n int) []int {
		idx := make([]int, n*win)
		for x := 0; x < n; x++ {
			for k := 0; k < win; k++ {
				idx[x*win+k] = reflect(x+k-win/2, n)
			}
		}
		return idx
	}
	s.rowIdx, s.colIdx = taps(w), taps(h)
	return s
}

// image is the mean over channels of the per-channel mean SSIM.
func (s *ssimScratch) image(a, b []float32, c, h, w int) float64 {
	var sum float64
	for ch := 0; ch < c; ch++ {
		sum += s.channel(a[ch*h*w:(ch+1)*h*w], b[ch*h*w:(ch+1)*h*w], h, w, s.win)
	}
	return sum / float64(c)
}

// reflect maps an index outside [0, n) back inside as scipy.ndimage's
// mode "reflect" does (period 2n: d c b a | a b c d | d c b a).
func reflect(i, n int) int {
	p := 2 * n
	i %= p
	if i < 0 {
		i += p
	}
	if i >= n {
		i = p - 1 - i
	}
	return i
}

// uniform is scipy.ndimage.uniform_filter(src, size=win, mode="reflect")
// on an H×W plane: a 1-D mean of win samples centred on each pixel along
// the rows, then along the columns.
func (s *ssimScratch) uniform(dst, src []float64, h, w, win int) {
	inv := 1 / float64(win)
	for y := 0; y < h; y++ {
		row := src[y*w : (y+1)*w]
		for x := 0; x < w; x++ {
			var acc float64
			for _, j := range s.rowIdx[x*win : (x+1)*win] {
				acc += row[j]
			}
			s.tmp[y*w+x] = acc * inv
		}
	}
	for y := 0; y < h; y++ {
		out := dst[y*w : (y+1)*w]
		clear(out)
		for _, j := range s.colIdx[y*win : (y+1)*win] {
			for x, v := range s.tmp[j*w : (j+1)*w] {
				out[x] += v
			}
		}
		for x := range out {
			out[x] *= inv
		}
	}
}

// channel is the mean SSIM of one H×W plane pair.
func (s *ssimScratch) channel(a, b []float32, h, w, win int) float64 {
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		s.in[0][i], s.in[1][i] = x, y
		s.in[2][i], s.in[3][i], s.in[4][i] = x*x, y*y, x*y
	}
	for i := range s.in {
		s.uniform(s.out[i], s.in[i], h, w, win)
	}
	np := float64(win * win)
	covNorm := 1.0
	if win > 1 {
		covNorm = np / (np - 1)
	}
	c1 := (ssimK1 * ssimRange) * (ssimK1 * ssimRange)
	c2 := (ssimK2 * ssimRange) * (ssimK2 * ssimRange)
	pad := (win - 1) / 2
	var sum float64
	for y := pad; y < h-pad; y++ {
		for x := pad; x < w-pad; x++ {
			i := y*w + x
			ux, uy := s.out[0][i], s.out[1][i]
			vx := covNorm * (s.out[2][i] - ux*ux)
			vy := covNorm * (s.out[3][i] - uy*uy)
			vxy := covNorm * (s.out[4][i] - ux*uy)
			a1, a2 := 2*ux*uy+c1, 2*vxy+c2
			b1, b2 := ux*ux+uy*uy+c1, vx+vy+c2
			sum += (a1 * a2) / (b1 * b2)
		}
	}
	cnt := (h - 2*pad) * (w - 2*pad)
	if cnt <= 0 { // unreachable: win ≤ min(h,w) keeps at least one pixel
		return 1
	}
	return sum / float64(cnt)
}
