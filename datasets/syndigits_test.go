package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// synPixels returns image i's bytes.
func synPixels(ds *Dataset, i int) []uint8 {
	p := ds.pos(i) * synPix
	return ds.u8[p : p+synPix]
}

func TestSynDigitsFonts(t *testing.T) {
	fonts, err := synFonts()
	if err != nil {
		t.Fatal(err)
	}
	if len(fonts) != 12 {
		t.Fatalf("%d fonts, want 12", len(fonts))
	}
	for f := range fonts {
		for d, g := range fonts[f] {
			// Every digit is about 0.7 em high and has a sensible number
			// of contours: 0, 6, 9 at least 2 (Mono's 0 has a dot or
			// slash), 8 at least 3, the others at least 1.
			y0, y1 := 1e9, -1e9
			for _, poly := range g {
				for _, p := range poly {
					y0, y1 = min(y0, p.y), max(y1, p.y)
				}
			}
			if h := y1 - y0; h < 0.5 || h > 1 {
				t.Errorf("font %d digit %d: height %.3f em", f, d, h)
			}
			want := map[int]int{0: 2, 6: 2, 9: 2, 8: 3}[d]
			if len(g) < max(1, want) {
				t.Errorf("font %d digit %d: %d contours", f, d, len(g))
			}
		}
	}
}

func TestSynDigitsDeterminism(t *testing.T) {
	a, err := generateSynDigits("train", 300, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := generateSynDigits("train", 300, 7) // not through the cache
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.u8, b.u8) || !equalInts(a.Labels, b.Labels) || a.Sources[0] != b.Sources[0] {
		t.Fatal("same seed, different data")
	}
	// Any image alone, and any prefix, is the same.
	for _, i := range []int{0, 1, 137, 299} {
		pix, label, err := SynDigit("train", 7, i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pix, synPixels(a, i)) || label != a.Labels[i] {
			t.Errorf("SynDigit(train, 7, %d) differs from the dataset's image", i)
		}
	}
	short, err := generateSynDigits("train", 50, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(short.u8, a.u8[:50*synPix]) || !equalInts(short.Labels, a.Labels[:50]) {
		t.Error("50 images are not the first 50 of 300")
	}
	c, err := generateSynDigits("train", 300, 8)
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range 300 {
		if bytes.Equal(synPixels(a, i), synPixels(c, i)) {
			same++
		}
	}
	if same > 0 || a.Sources[0].SHA256 == c.Sources[0].SHA256 {
		t.Errorf("seeds 7 and 8 share %d images", same)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSynDigitsProvenance(t *testing.T) {
	ds, err := SynDigits("test", 120, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name != "syndigits:test:120:3" || ds.Shape != [3]int{1, 28, 28} || ds.Classes != 10 || len(ds.ClassNames) != 10 {
		t.Errorf("got %q %v %d classes %v", ds.Name, ds.Shape, ds.Classes, ds.ClassNames)
	}
	h := sha256.New()
	h.Write(ds.u8)
	for _, l := range ds.Labels {
		h.Write([]byte{byte(l)})
	}
	want := Source{Path: "generated:syndigits/test?seed=3&n=120&v=1", SHA256: hex.EncodeToString(h.Sum(nil))}
	if len(ds.Sources) != 1 || ds.Sources[0] != want {
		t.Errorf("sources %+v, want %+v", ds.Sources, want)
	}
	// A second call shares the pixels but not the exported slices.
	again, _ := SynDigits("test", 120, 3)
	if &again.u8[0] != &ds.u8[0] {
		t.Error("second call generated again")
	}
	again.Labels[0] = 9 - again.Labels[0]
	again.Sources[0].Path = "x"
	if ds.Labels[0] == again.Labels[0] || ds.Sources[0].Path == "x" {
		t.Error("calls share labels or sources")
	}
}

func TestSynDigitsLabels(t *testing.T) {
	for _, n := range []int{1000, 205} {
		ds, err := SynDigits("train", n, 11)
		if err != nil {
			t.Fatal(err)
		}
		for c, k := range ds.ClassCounts() {
			if k != n/10 && k != (n+9)/10 {
				t.Errorf("n=%d: class %d has %d images", n, c, k)
			}
		}
		// The order within each block of ten varies.
		if equalInts(ds.Labels[:10], ds.Labels[10:20]) && equalInts(ds.Labels[:10], ds.Labels[20:30]) {
			t.Errorf("labels not shuffled: %v", ds.Labels[:30])
		}
	}
}

// TestSynDigitsStatistics compares a moderate sample with MNIST: mean
// intensity, ink centred, every image bright with a dark border.
func TestSynDigitsStatistics(t *testing.T) {
	ds, err := SynDigits("train", 3000, SynDigitsSeed)
	if err != nil {
		t.Fatal(err)
	}
	stats := func(ds *Dataset, n int) (mean, cx, cy, edge float64) {
		for i := range n {
			var m, mx, my float64
			for p, v := range synPixels(ds, i) {
				f := float64(v) / 255
				m += f
				mx += f * (float64(p%28) + 0.5)
				my += f * (float64(p/28) + 0.5)
				if p%28 < 2 || p%28 >= 26 || p/28 < 2 || p/28 >= 26 {
					edge += f
				}
			}
			mean += m / synPix
			cx += mx / m
			cy += my / m
		}
		nf := float64(n)
		return mean / nf, cx / nf, cy / nf, edge / nf / (28*28 - 24*24)
	}
	mnist, err := MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	mMean, mCX, mCY, mEdge := stats(mnist, 3000)
	mean, cx, cy, edge := stats(ds, ds.Len())
	t.Logf("mean %.4f (MNIST %.4f), centre of mass (%.2f, %.2f) (MNIST (%.2f, %.2f)), border mean %.4f (MNIST %.4f)",
		mean, mMean, cx, cy, mCX, mCY, edge, mEdge)
	if mean < 0.09 || mean > 0.18 {
		t.Errorf("mean intensity %.4f, want near MNIST's %.4f", mean, mMean)
	}
	if cx < 13.5 || cx > 14.5 || cy < 13.5 || cy > 14.5 {
		t.Errorf("mean centre of mass (%.2f, %.2f), want near (14, 14)", cx, cy)
	}
	if edge > 0.03 {
		t.Errorf("the 2-pixel border has mean %.4f; the digits spill out", edge)
	}
	for i := range ds.Len() {
		pix := synPixels(ds, i)
		peak := uint8(0)
		for _, v := range pix {
			peak = max(peak, v)
		}
		if peak < 200 {
			t.Errorf("image %d: brightest pixel %d", i, peak)
		}
	}
	img := make([]float32, synPix)
	ds.Image(0, img)
	for _, v := range img {
		if v < 0 || v > 1 {
			t.Fatalf("value %v outside [0,1]", v)
		}
	}
}

func TestSynDigitsSplitsDisjoint(t *testing.T) {
	train, err := SynDigits("train", 2000, SynDigitsSeed)
	if err != nil {
		t.Fatal(err)
	}
	test, err := SynDigits("test", 1000, SynDigitsSeed)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[32]byte]int{}
	for i := range train.Len() {
		seen[sha256.Sum256(synPixels(train, i))] = i
	}
	if len(seen) != train.Len() {
		t.Errorf("train has %d distinct images of %d", len(seen), train.Len())
	}
	for i := range test.Len() {
		if j, ok := seen[sha256.Sum256(synPixels(test, i))]; ok {
			t.Errorf("test image %d equals train image %d", i, j)
		}
	}
}

func TestSynDigitsSpec(t *testing.T) {
	ds, err := Open("syndigits:test", Options{Shape: [3]int{1, 28, 28}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name != "syndigits:test" || ds.Len() != 10000 || ds.Sources[0].Path != "generated:syndigits/test?seed=1&n=10000&v=1" {
		t.Errorf("got %q with %d images from %v", ds.Name, ds.Len(), ds.Sources)
	}
	for c, k := range ds.ClassCounts() {
		if k != 1000 {
			t.Errorf("class %d has %d images", c, k)
		}
	}
	small, err := Open("syndigits:train:40:5", Options{})
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := SynDigits("train", 40, 5)
	if small.Name != "syndigits:train:40:5" || small.Len() != 40 || small.Sources[0] != direct.Sources[0] {
		t.Errorf("got %q with %d images", small.Name, small.Len())
	}
	for _, tt := range []struct{ spec, err string }{
		{"syndigits:valid", `unknown split "valid"`},
		{"syndigits:train:0", "not a positive integer"},
		{"syndigits:train:-3", "not a positive integer"},
		{"syndigits:train:x", "not a positive integer"},
		{"syndigits:train:5:-1", "not an unsigned integer"},
		{"syndigits:train:5:1:2", "too many parts"},
		{"syndigits:train:2000000", "want 1..1000000"},
		{"syndigits:test", "images are 1x28x28, but 3x28x28 was requested"},
	} {
		opt := Options{}
		if strings.HasPrefix(tt.err, "images are") {
			opt.Shape = [3]int{3, 28, 28}
		}
		if _, err := Open(tt.spec, opt); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Open(%q): error %v, want %q", tt.spec, err, tt.err)
		}
	}
	if _, err := SynDigits("valid", 10, 1); err == nil {
		t.Error("SynDigits(valid): no error")
	}
	if _, _, err := SynDigit("train", 1, -1); err == nil {
		t.Error("SynDigit(-1): no error")
	}
}

// TestSynDigitsSheet draws a contact sheet of 100 images, one row per
// digit, into the test's temporary folder; with ADVMATRIX_SHEET=FILE it is
// also written there for the eye.
func TestSynDigitsSheet(t *testing.T) {
	ds, err := SynDigits("train", 300, SynDigitsSeed)
	if err != nil {
		t.Fatal(err)
	}
	const scale, gap = 3, 2
	cell := 28*scale + gap
	sheet := image.NewGray(image.Rect(0, 0, 10*cell+gap, 10*cell+gap))
	for i := range sheet.Pix {
		sheet.Pix[i] = 96
	}
	var col [10]int
	for i := range ds.Len() {
		d := ds.Labels[i]
		if col[d] == 10 {
			continue
		}
		pix := synPixels(ds, i)
		x0, y0 := gap+col[d]*cell, gap+d*cell
		for y := range 28 * scale {
			for x := range 28 * scale {
				sheet.SetGray(x0+x, y0+y, color.Gray{pix[y/scale*28+x/scale]})
			}
		}
		col[d]++
	}
	for d, c := range col {
		if c != 10 {
			t.Fatalf("only %d images of digit %d among %d", c, d, ds.Len())
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, sheet); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(t.TempDir(), "syndigits_sheet.png")}
	if p := os.Getenv("ADVMATRIX_SHEET"); p != "" {
		paths = append(paths, p)
	}
	for _, path := range paths {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkSynDigit(b *testing.B) {
	fonts, err := synFonts()
	if err != nil {
		b.Fatal(err)
	}
	w := newSynWorker(fonts)
	ss, _ := synSplitSeed("train", 1)
	out := make([]uint8, synPix)
	for i := 0; b.Loop(); i++ {
		w.render(ss, i, out)
	}
}

// TestSynDigitsGolden pins the bytes of a small set, so that a change to
// the generator is noticed (and synDigitsVersion raised). Other
// architectures may fuse float operations differently; see the file
// comment.
func TestSynDigitsGolden(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("golden hash recorded on amd64, not %s", runtime.GOARCH)
	}
	ds, err := SynDigits("test", 100, SynDigitsSeed)
	if err != nil {
		t.Fatal(err)
	}
	const want = "bf55cbefd81b99ce66f6df290968ee9a327048aabfcf91058834303aee480707"
	if got := ds.Sources[0].SHA256; got != want {
		t.Errorf("SHA-256 %s, want %s", got, want)
	}
}
