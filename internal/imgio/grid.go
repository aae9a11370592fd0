// Package imgio writes images for people to look at: a PNG grid of clean
// images, their adversarial versions and the amplified difference.
package imgio

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"github.com/advmatrix/advmatrix/internal/atomicfile"
)

// Grid lays out one row per image: clean | adversarial | difference.
// Images are float32 C×H×W in [0,1], C = 1 (grey) or 3 (RGB).
type Grid struct {
	C, H, W int
	// Scale is the nearest-neighbour upscaling factor (default 4 for
	// images up to 64 pixels a side, else 1).
	Scale int
	// Sep is the separator width in output pixels (default 2).
	Sep int
	// Max is the number of rows (0: every image).
	Max int
}

// Separator is the colour between panels and rows: a blue that neither a
// grey image nor the mid-grey difference uses.
var Separator = color.NRGBA{R: 48, G: 96, B: 192, A: 255}

func (g Grid) defaults() Grid {
	if g.Scale <= 0 {
		g.Scale = 1
		if g.H <= 64 && g.W <= 64 {
			g.Scale = 4
		}
	}
	if g.Sep <= 0 {
		g.Sep = 2
	}
	return g
}

// Size returns the width and height of the grid image for n rows.
func (g Grid) Size(n int) (w, h int) {
	g = g.defaults()
	if g.Max > 0 {
		n = min(n, g.Max)
	}
	return 3*g.W*g.Scale + 4*g.Sep, n*g.H*g.Scale + (n+1)*g.Sep
}

// Image draws the grid for the images in clean and adv (same length, a
// whole number of images). The difference panel shows δ = adv − clean of
// each image scaled by its own largest |δ|: mid-grey is 0, black and white
// are ∓max|δ| (each channel separately for RGB, with one scale for all
// three); an unchanged image is uniformly mid-grey.
func (g Grid) Image(clean, adv []float32) (*image.NRGBA, error) {
	g = g.defaults()
	if g.C != 1 && g.C != 3 {
		return nil, fmt.Errorf("grid: %d channels; only grey (1) and RGB (3) images can be drawn", g.C)
	}
	if g.H < 1 || g.W < 1 {
		return nil, fmt.Errorf("grid: images of %d×%d", g.H, g.W)
	}
	size := g.C * g.H * g.W
	if len(clean) != len(adv) || len(clean)%size != 0 || len(clean) == 0 {
		return nil, fmt.Errorf("grid: %d clean and %d adversarial values are not a positive number of %d×%d×%d images", len(clean), len(adv), g.C, g.H, g.W)
	}
	n := len(clean) / size
	if g.Max > 0 {
		n = min(n, g.Max)
	}
	if int64(g.W)*int64(g.Scale) > 1<<14 || int64(n)*int64(g.H)*int64(g.Scale) > 1<<16 {
		return nil, fmt.Errorf("grid: %d rows of %d×%d at ×%d is too large to draw", n, g.H, g.W, g.Scale)
	}
	W, H := g.Size(n)
	img := image.NewNRGBA(image.Rect(0, 0, W, H))
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			img.SetNRGBA(x, y, Separator)
		}
	}
	diff := make([]float32, size)
	for i := 0; i < n; i++ {
		c, a := clean[i*size:(i+1)*size], adv[i*size:(i+1)*size]
		var m float64
		for j := range c {
			m = max(m, math.Abs(float64(a[j])-float64(c[j])))
		}
		for j := range c {
			d := 0.5
			if m > 0 {
				d = 0.5 + (float64(a[j])-float64(c[j]))/(2*m)
			}
			diff[j] = float32(d)
		}
		y0 := g.Sep + i*(g.H*g.Scale+g.Sep)
		for p, panel := range [][]float32{c, a, diff} {
			x0 := g.Sep + p*(g.W*g.Scale+g.Sep)
			g.draw(img, panel, x0, y0)
		}
	}
	return img, nil
}

func (g Grid) draw(img *image.NRGBA, v []float32, x0, y0 int) {
	plane := g.H * g.W
	for y := 0; y < g.H; y++ {
		for x := 0; x < g.W; x++ {
			var col color.NRGBA
			if g.C == 1 {
				b := toByte(v[y*g.W+x])
				col = color.NRGBA{R: b, G: b, B: b, A: 255}
			} else {
				col = color.NRGBA{R: toByte(v[y*g.W+x]), G: toByte(v[plane+y*g.W+x]), B: toByte(v[2*plane+y*g.W+x]), A: 255}
			}
			for dy := 0; dy < g.Scale; dy++ {
				for dx := 0; dx < g.Scale; dx++ {
					img.SetNRGBA(x0+x*g.Scale+dx, y0+y*g.Scale+dy, col)
				}
			}
		}
	}
}

func toByte(v float32) uint8 {
	f := float64(v)
	if math.IsNaN(f) {
		return 0
	}
	return uint8(math.Round(min(max(f, 0), 1) * 255))
}

// Encode writes the grid as PNG.
func (g Grid) Encode(w io.Writer, clean, adv []float32) error {
	img, err := g.Image(clean, adv)
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// PNG returns the encoded grid.
func (g Grid) PNG(clean, adv []float32) ([]byte, error) {
	var buf bytes.Buffer
	if err := g.Encode(&buf, clean, adv); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteFile writes the grid to path atomically (temporary file, rename).
func (g Grid) WriteFile(path string, clean, adv []float32) error {
	b, err := g.PNG(clean, adv)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}
