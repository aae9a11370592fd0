package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/draw"

	"github.com/advmatrix/advmatrix/internal/safeio"
)

// maxImagePixels bounds the decoded size of one image file.
const maxImagePixels = 1 << 25

// maxImageFileBytes bounds the size of one image file: more than a PNG of
// maxImagePixels 16-bit RGBA pixels needs.
const maxImageFileBytes = 1 << 29

// Folder reads an image folder: dir holds one sub-folder per class, whose
// sorted names give the class indices 0, 1, … (recorded in ClassNames),
// each holding PNG and JPEG files (.png, .jpg, .jpeg in any case), read in
// sorted order. Hidden entries (names starting with '.') and other files
// are ignored.
//
// shape is the channels, height and width wanted. A zero entry means the
// images' own: 1 channel if every image is greyscale, else 3; the first
// image's height or width, which every other image must then share.
//
// Colour images become grey by ITU-R 601-2 luma as Pillow's convert("L")
// computes it; grey images are replicated to three channels; transparency
// is dropped, keeping the colour under it (as Pillow's convert("RGB")
// does). Images are then resized with bilinear interpolation
// (golang.org/x/image/draw.BiLinear) when their size differs from the one
// wanted.
func Folder(dir string, shape [3]int) (*Dataset, error) {
	if shape[0] != 0 && shape[0] != 1 && shape[0] != 3 {
		return nil, fmt.Errorf("folder %s: %d channels requested, want 1 or 3", dir, shape[0])
	}
	if shape[1] < 0 || shape[2] < 0 {
		return nil, fmt.Errorf("folder %s: invalid image size %dx%d requested", dir, shape[1], shape[2])
	}
	if shape[1] > maxImagePixels || shape[2] > maxImagePixels || shape[1]*shape[2] > maxImagePixels {
		return nil, fmt.Errorf("folder %s: image size %dx%d too large", dir, shape[1], shape[2])
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var classes []string
	var files [][]string
	total := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := os.Stat(filepath.Join(dir, e.Name())) // follow symlinks
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, e.Name()), err)
		}
		if !info.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		list, err := imageFiles(sub)
		if err != nil {
			return nil, err
		}
		classes = append(classes, e.Name())
		files = append(files, list)
		total += len(list)
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("folder %s: no class sub-folders", dir)
	}
	if total == 0 {
		return nil, fmt.Errorf("folder %s: no PNG or JPEG files in its %d class folders", dir, len(classes))
	}
	// First pass: headers only, to fix the shape and reject bad files early.
	native := shape
	first := ""
	for _, list := range files {
		for _, path := range list {
			cfg, err := config(path)
			if err != nil {
				return nil, err
			}
			if first == "" {
				first = path
				if native[1] == 0 {
					shape[1] = cfg.Height
				}
				if native[2] == 0 {
					shape[2] = cfg.Width
				}
			} else if (native[1] == 0 && cfg.Height != shape[1]) || (native[2] == 0 && cfg.Width != shape[2]) {
				return nil, fmt.Errorf("folder %s: %s is %dx%d but %s is %dx%d; request a size to resize them",
					dir, path, cfg.Width, cfg.Height, first, shape[2], shape[1])
			}
			if native[0] == 0 && (shape[0] == 0 || shape[0] == 1) {
				shape[0] = 3
				if isGreyModel(cfg.ColorModel) {
					shape[0] = 1
				}
			}
		}
	}
	chw := shape[0] * shape[1] * shape[2]
	if chw*total > maxIDXBytes || chw*total/total != chw {
		return nil, fmt.Errorf("folder %s: %d images of %dx%dx%d exceed %d bytes", dir, total, shape[0], shape[1], shape[2], int64(maxIDXBytes))
	}
	pix := make([]uint8, 0, chw*total)
	labels := make([]int, 0, total)
	sources := make([]Source, 0, total)
	for c, list := range files {
		for _, path := range list {
			b, err := safeio.ReadFile(path, maxImageFileBytes)
			if err != nil {
				return nil, err
			}
			img, err := decode(b)
			if err != nil {
				return nil, fmt.Errorf("decode %s: %w", path, err)
			}
			if pix, err = appendCHW(pix, img, shape); err != nil {
				return nil, fmt.Errorf("decode %s: %w", path, err)
			}
			labels = append(labels, c)
			sum := sha256.Sum256(b)
			sources = append(sources, Source{Path: path, SHA256: hex.EncodeToString(sum[:])})
		}
	}
	ds, err := NewUint8(shape, pix, labels, len(classes))
	if err != nil {
		return nil, fmt.Errorf("folder %s: %w", dir, err)
	}
	ds.Name = "folder:" + dir
	ds.ClassNames = classes
	ds.Sources = sources
	return ds, nil
}

// imageFiles lists the PNG and JPEG files of dir in sorted order.
func imageFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".png", ".jpg", ".jpeg":
			out = append(out, filepath.Join(dir, name))
		}
	}
	slices.Sort(out)
	return out, nil
}

// config reads the header of the image file at path and checks its format
// and size.
func config(path string) (image.Config, error) {
	f, err := safeio.Open(path, maxImageFileBytes)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	cfg, err := checkConfig(f)
	if err != nil {
		return image.Config{}, fmt.Errorf("decode %s: %w", path, err)
	}
	return cfg, nil
}

func checkConfig(r io.Reader) (image.Config, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return cfg, err
	}
	if format != "png" && format != "jpeg" {
		return cfg, fmt.Errorf("format %s is not PNG or JPEG", format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImagePixels/cfg.Height {
		return cfg, fmt.Errorf("image size %dx%d is empty or too large", cfg.Width, cfg.Height)
	}
	return cfg, nil
}

// decode decodes a PNG or JPEG image after checking its size.
func decode(b []byte) (image.Image, error) {
	if _, err := checkConfig(bytes.NewReader(b)); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	return img, err
}

// isGreyModel reports whether m is a greyscale colour model.
func isGreyModel(m color.Model) bool {
	return m == color.GrayModel || m == color.Gray16Model
}

// appendCHW converts img to shape's channels, resizes it to shape's size
// and appends it to pix in CHW order.
func appendCHW(pix []uint8, img image.Image, shape [3]int) ([]uint8, error) {
	c, h, w := shape[0], shape[1], shape[2]
	b := img.Bounds()
	if shape[0] == 1 {
		g := toGrey(img)
		if b.Dx() != w || b.Dy() != h {
			dst := image.NewGray(image.Rect(0, 0, w, h))
			draw.BiLinear.Scale(dst, dst.Bounds(), g, g.Bounds(), draw.Src, nil)
			g = dst
		}
		for y := 0; y < h; y++ {
			pix = append(pix, g.Pix[y*g.Stride:y*g.Stride+w]...)
		}
		return pix, nil
	}
	if c != 3 {
		return nil, fmt.Errorf("%d channels requested, want 1 or 3", c)
	}
	rgb := toRGB(img)
	if b.Dx() != w || b.Dy() != h {
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.BiLinear.Scale(dst, dst.Bounds(), rgb, rgb.Bounds(), draw.Src, nil)
		rgb = dst
	}
	for ch := 0; ch < 3; ch++ {
		for y := 0; y < h; y++ {
			row := rgb.Pix[y*rgb.Stride:]
			for x := 0; x < w; x++ {
				pix = append(pix, row[4*x+ch])
			}
		}
	}
	return pix, nil
}

// straight returns the 8-bit colour of c without premultiplied alpha.
func straight(c color.Color) (r, g, b uint8) {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return n.R, n.G, n.B
}

// toGrey converts img to 8-bit grey; colour pixels use Pillow's fixed-point
// ITU-R 601-2 luma, L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16.
func toGrey(img image.Image) *image.Gray {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	if g, ok := img.(*image.Gray); ok {
		for y := 0; y < b.Dy(); y++ {
			copy(out.Pix[y*out.Stride:y*out.Stride+b.Dx()], g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):])
		}
		return out
	}
	if isGreyModel(img.ColorModel()) {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				out.Pix[(y-b.Min.Y)*out.Stride+(x-b.Min.X)] = color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
			}
		}
		return out
	}
	rgb := toRGB(img)
	for y := 0; y < b.Dy(); y++ {
		src := rgb.Pix[y*rgb.Stride:]
		dst := out.Pix[y*out.Stride:]
		for x := 0; x < b.Dx(); x++ {
			r, g, bl := uint32(src[4*x]), uint32(src[4*x+1]), uint32(src[4*x+2])
			dst[x] = uint8((19595*r + 38470*g + 7471*bl + 0x8000) >> 16)
		}
	}
	return out
}

// toRGB converts img to opaque 8-bit RGB, dropping any alpha channel but
// keeping the colour under it.
func toRGB(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		// Without transparency, premultiplied and straight colour agree:
		// use draw's fast paths.
		draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl := straight(img.At(x, y))
			i := (y-b.Min.Y)*out.Stride + 4*(x-b.Min.X)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = r, g, bl, 255
		}
	}
	return out
}
