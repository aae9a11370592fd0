package imgio

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestGridGrey(t *testing.T) {
	const n, h, w = 3, 28, 28
	clean := make([]float32, n*h*w)
	adv := make([]float32, n*h*w)
	for i := range clean {
		clean[i] = float32(i%7) / 6
		adv[i] = clean[i]
	}
	adv[5] = clean[5] + 0.1          // image 0: one value up
	adv[h*w+9] = clean[h*w+9] - 0.05 // image 1: one value down; image 2 unchanged
	g := Grid{C: 1, H: h, W: w}
	b, err := g.PNG(clean, adv)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// ×4 upscaling, 2 px separators: 3·112 + 4·2 wide, 3·112 + 4·2 high.
	if got := img.Bounds().Size(); got.X != 3*112+8 || got.Y != 3*112+8 {
		t.Fatalf("size %v", got)
	}
	if wantW, wantH := g.Size(n); wantW != 344 || wantH != 344 {
		t.Errorf("Size = %d×%d", wantW, wantH)
	}
	at := func(x, y int) uint32 { r, _, _, _ := img.At(x, y).RGBA(); return r >> 8 }
	// Top-left separator.
	if r, _, b, _ := img.At(0, 0).RGBA(); r>>8 != uint32(Separator.R) || b>>8 != uint32(Separator.B) {
		t.Errorf("separator pixel %v", img.At(0, 0))
	}
	// Row 0, difference panel: value 5 is +max → white; value 0 → mid-grey.
	x0, y0 := 2+2*(112+2), 2
	if v := at(x0+5*4+1, y0+2); v != 255 {
		t.Errorf("largest +δ drawn as %d, want 255", v)
	}
	if v := at(x0, y0); v != 128 {
		t.Errorf("δ = 0 drawn as %d, want 128", v)
	}
	// Row 1: its own scale, the −max value is black.
	y1 := 2 + 112 + 2
	if v := at(x0+9*4, y1); v != 0 {
		t.Errorf("largest −δ drawn as %d, want 0", v)
	}
	// Row 2 unchanged: mid-grey everywhere.
	y2 := 2 + 2*(112+2)
	if v := at(x0+50, y2+50); v != 128 {
		t.Errorf("unchanged image drawn as %d", v)
	}
	// Clean panel of row 0 reproduces the image: value 6 is 1.0 → 255.
	if v := at(2+6*4, 2); v != 255 {
		t.Errorf("clean pixel %d", v)
	}
}

func TestGridRGBAndFile(t *testing.T) {
	const n, h, w = 5, 8, 10
	clean := make([]float32, n*3*h*w)
	adv := make([]float32, len(clean))
	for i := range adv {
		adv[i] = float32(i%3) / 2
	}
	g := Grid{C: 3, H: h, W: w, Scale: 2, Sep: 1, Max: 2}
	path := filepath.Join(t.TempDir(), "g.png")
	if err := g.WriteFile(path, clean, adv); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got.X != 3*20+4 || got.Y != 2*16+3 {
		t.Fatalf("size %v", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestGridErrors(t *testing.T) {
	for name, c := range map[string]struct {
		g          Grid
		clean, adv []float32
	}{
		"channels": {Grid{C: 2, H: 2, W: 2}, make([]float32, 8), make([]float32, 8)},
		"lengths":  {Grid{C: 1, H: 2, W: 2}, make([]float32, 4), make([]float32, 8)},
		"partial":  {Grid{C: 1, H: 2, W: 2}, make([]float32, 6), make([]float32, 6)},
		"empty":    {Grid{C: 1, H: 2, W: 2}, nil, nil},
	} {
		if _, err := c.g.PNG(c.clean, c.adv); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	path := filepath.Join(t.TempDir(), "no", "such", "g.png")
	if err := (Grid{C: 1, H: 2, W: 2}).WriteFile(path, make([]float32, 4), make([]float32, 4)); err == nil {
		t.Error("write into a missing folder succeeded")
	}
}
