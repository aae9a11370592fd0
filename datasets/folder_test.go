package datasets

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func saveJPEG(t *testing.T, path string, img image.Image) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
}

func uniform(w, h int, c color.Color) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	return img
}

// folderFixture lays out two classes, "a" and "b" (read in that order
// although "b" is created first), with images of 3 colours.
func folderFixture(t *testing.T) string {
	dir := t.TempDir()
	rgb := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i, c := range []color.NRGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {10, 20, 30, 0}, {200, 100, 50, 128}, {255, 255, 255, 255}} {
		rgb.Set(i%3, i/3, c)
	}
	savePNG(t, filepath.Join(dir, "b", "2.png"), uniform(3, 2, color.NRGBA{0, 0, 255, 255}))
	savePNG(t, filepath.Join(dir, "b", "1.PNG"), image.NewGray(image.Rect(0, 0, 3, 2)))
	saveJPEG(t, filepath.Join(dir, "b", "0.jpg"), uniform(3, 2, color.NRGBA{128, 128, 128, 255}))
	savePNG(t, filepath.Join(dir, "a", "rgb.png"), rgb)
	os.WriteFile(filepath.Join(dir, "a", "notes.txt"), []byte("not an image"), 0o644)
	os.WriteFile(filepath.Join(dir, "a", ".DS_Store"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".cache"), 0o755)
	return dir
}

func TestFolder(t *testing.T) {
	dir := folderFixture(t)
	ds, err := Open("folder:"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 4 || ds.Shape != [3]int{3, 2, 3} || ds.Classes != 2 {
		t.Fatalf("got %d images of %v, %d classes", ds.Len(), ds.Shape, ds.Classes)
	}
	if !reflect.DeepEqual(ds.ClassNames, []string{"a", "b"}) || !reflect.DeepEqual(ds.Labels, []int{0, 1, 1, 1}) {
		t.Errorf("classes %v labels %v", ds.ClassNames, ds.Labels)
	}
	var paths []string
	for _, s := range ds.Sources {
		paths = append(paths, strings.TrimPrefix(s.Path, dir+string(filepath.Separator)))
		if len(s.SHA256) != 64 {
			t.Errorf("source %+v", s)
		}
	}
	if want := []string{"a/rgb.png", "b/0.jpg", "b/1.PNG", "b/2.png"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("files read %v, want %v", paths, want)
	}
	img := make([]float32, 18)
	ds.Image(0, img)
	b := func(v uint8) float32 { return float32(v) / 255 }
	// CHW: red plane, green plane, blue plane; transparency dropped.
	want := []float32{
		1, 0, 0, b(10), b(200), 1,
		0, 1, 0, b(20), b(100), 1,
		0, 0, 1, b(30), b(50), 1,
	}
	if !reflect.DeepEqual(img, want) {
		t.Errorf("rgb image\n got %v\nwant %v", img, want)
	}
	ds.Image(2, img) // grey replicated to three channels
	for _, v := range img {
		if v != 0 {
			t.Fatalf("grey black image %v", img)
		}
	}
	ds.Image(1, img) // JPEG grey 128, give or take compression
	if img[0] < b(126) || img[0] > b(130) {
		t.Errorf("jpeg pixel %v", img[0]*255)
	}
}

func TestFolderGreyAndResize(t *testing.T) {
	dir := folderFixture(t)
	ds, err := Open("folder:"+dir, Options{Shape: [3]int{1, 0, 0}})
	if err != nil {
		t.Fatal(err)
	}
	img := make([]float32, 6)
	ds.Image(0, img)
	// Pillow's convert("L"): red 76, green 150, blue 29.
	lum := []uint8{76, 150, 29, 18, 124, 255}
	for i, v := range lum {
		if img[i] != float32(v)/255 {
			t.Errorf("grey pixel %d = %v, want %d", i, img[i]*255, v)
		}
	}
	ds.Image(3, img)
	if img[0] != 29.0/255 {
		t.Errorf("blue image grey = %v", img[0]*255)
	}

	big, err := Folder(dir, [3]int{3, 8, 5})
	if err != nil {
		t.Fatal(err)
	}
	if big.Shape != [3]int{3, 8, 5} {
		t.Fatalf("shape %v", big.Shape)
	}
	img = make([]float32, 3*8*5)
	big.Image(3, img) // uniform blue stays uniform blue
	for i, v := range img {
		want := float32(0)
		if i/40 == 2 {
			want = 1
		}
		if v != want {
			t.Fatalf("resized uniform image value %d = %v, want %v", i, v, want)
		}
	}
	small, err := Folder(dir, [3]int{1, 1, 1})
	if err != nil || small.Shape != [3]int{1, 1, 1} {
		t.Fatalf("shape %v, %v", small.Shape, err)
	}
}

func TestFolderErrors(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(p, 0o755)
		return p
	}
	noClasses := mk("noclasses")
	os.WriteFile(filepath.Join(noClasses, "x.png"), nil, 0o644)
	noImages := mk("noimages")
	mk("noimages/a")
	broken := mk("broken")
	savePNG(t, filepath.Join(broken, "a", "0.png"), uniform(2, 2, color.White))
	os.WriteFile(filepath.Join(broken, "a", "1.png"), []byte("\x89PNG\r\n\x1a\nnonsense"), 0o644)
	gif := mk("gif")
	os.MkdirAll(filepath.Join(gif, "a"), 0o755)
	os.WriteFile(filepath.Join(gif, "a", "0.png"), []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), 0o644)
	sizes := mk("sizes")
	savePNG(t, filepath.Join(sizes, "a", "0.png"), uniform(2, 2, color.White))
	savePNG(t, filepath.Join(sizes, "b", "0.png"), uniform(3, 2, color.White))

	tests := []struct {
		dir   string
		shape [3]int
		want  string
	}{
		{noClasses, [3]int{}, "no class sub-folders"},
		{noImages, [3]int{}, "no PNG or JPEG files in its 1 class folders"},
		{broken, [3]int{}, "decode " + filepath.Join(broken, "a", "1.png") + ": "},
		{gif, [3]int{}, "decode " + filepath.Join(gif, "a", "0.png")},
		{sizes, [3]int{}, "b/0.png is 3x2 but " + filepath.Join(sizes, "a", "0.png") + " is 2x2; request a size"},
		{sizes, [3]int{0, 2, 0}, "is 3x2 but"},
		{sizes, [3]int{2, 0, 0}, "2 channels requested"},
		{sizes, [3]int{1, -1, 2}, "invalid image size"},
		{sizes, [3]int{1, 1 << 20, 1 << 20}, "too large"},
		{filepath.Join(dir, "missing"), [3]int{}, "no such file"},
	}
	for _, tt := range tests {
		_, err := Folder(tt.dir, tt.shape)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Folder(%s, %v) error %v, want %q", tt.dir, tt.shape, err, tt.want)
		}
	}
	if _, err := Folder(sizes, [3]int{1, 2, 2}); err != nil {
		t.Errorf("resizing mixed sizes: %v", err)
	}
}

// The fast path for opaque images agrees with the pixel-by-pixel one.
func TestToRGBFastPath(t *testing.T) {
	dir := t.TempDir()
	src := image.NewNRGBA(image.Rect(0, 0, 17, 9))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 37)
	}
	for i := 3; i < len(src.Pix); i += 4 {
		src.Pix[i] = 255
	}
	p := filepath.Join(dir, "x.jpg")
	saveJPEG(t, p, src)
	b, _ := os.ReadFile(p)
	jpg, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, img := range map[string]image.Image{"nrgba": src, "ycbcr": jpg, "gray": image.NewGray(image.Rect(2, 3, 7, 8))} {
		fast := toRGB(img)
		bd := img.Bounds()
		for y := bd.Min.Y; y < bd.Max.Y; y++ {
			for x := bd.Min.X; x < bd.Max.X; x++ {
				r, g, bl := straight(img.At(x, y))
				i := (y-bd.Min.Y)*fast.Stride + 4*(x-bd.Min.X)
				if got := [4]uint8(fast.Pix[i : i+4]); got != [4]uint8{r, g, bl, 255} {
					t.Fatalf("%s: pixel (%d,%d) fast %v, slow %v", name, x, y, got, [3]uint8{r, g, bl})
				}
			}
		}
	}
}
