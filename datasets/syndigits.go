package datasets

// SynDigits: digits 0–9 rendered from the Go fonts, a second source for the
// digits task in the way the synthetic-digits sets of the domain-adaptation
// literature are a second source beside MNIST.
//
// Each image is drawn from its own random stream, PCG(splitSeed, index), so
// any one image can be rebuilt from (seed, split, index) alone ([SynDigit])
// and a dataset of n images is the first n images of any larger one with
// the same split and seed. From that stream come, in this order:
//
//   - the font: one of the 12 Go fonts (Regular, Medium, Bold, Italic, …,
//     Mono, Mono Bold, Smallcaps, …), uniformly;
//   - the size: the larger side of the digit's box, uniform in 15–21 px
//     (MNIST fits each digit into a 20×20 box);
//   - the stroke weight: the outline is dilated (positive) or eroded
//     (negative) by a distance uniform in −0.35–+0.75 px;
//   - the rotation, uniform in ±15°, and the horizontal shear, uniform in
//     ±0.3;
//   - the translation of the centre of mass from the frame centre (14, 14),
//     uniform in ±2 px on each axis, to the nearest ¼ px;
//   - a Gaussian blur with σ uniform in 0–1 px;
//   - additive Gaussian noise with σ uniform in 0–0.05, clipped to [0,1].
//
// Rendering: the glyph outline, read from the TrueType data of
// golang.org/x/image/font/gofont, is flattened, mapped through the rotation,
// shear and scale as vectors (no resampling of pixels), filled with
// golang.org/x/image/vector at 4× resolution, dilated or eroded by a
// rasterised stroke along the outline, shifted so that its centre of mass
// lands where the translation says (with no translation at pixel (14, 14),
// where MNIST puts it), averaged down 4×4 to 28×28, blurred,
// scaled so its brightest pixel is 1, noised and rounded to bytes: a white
// digit on black, like MNIST. (The outline is read by a small TrueType
// reader here rather than golang.org/x/image/font/sfnt, which would pull
// in golang.org/x/text as a further module.)
//
// Labels are balanced: images 10b … 10b+9 carry the digits 0–9 in an order
// shuffled by a stream of their own, so every class has ⌊n/10⌋ or ⌈n/10⌉
// images. The train and test splits derive different stream seeds from the
// seed, so they share no image.
//
// Generation runs on GOMAXPROCS goroutines, each image independent, so the
// bytes do not depend on the number of goroutines. Results are bit for bit
// the same for a seed on one architecture; the geometry is float64
// arithmetic, which a compiler for another architecture may fuse
// differently, so a rare pixel may differ by one level across
// architectures. The Sources entry carries the SHA-256 of the generated
// pixels and labels, so results can cite exactly what they ran on.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gobolditalic"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/gofont/gomediumitalic"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/gomonobolditalic"
	"golang.org/x/image/font/gofont/gomonoitalic"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/gofont/gosmallcaps"
	"golang.org/x/image/font/gofont/gosmallcapsitalic"
	"golang.org/x/image/vector"
)

// SynDigitsSeed is the seed of the data spec syndigits when the spec names
// none.
const SynDigitsSeed uint64 = 1

// synDigitsVersion is part of every SynDigits Sources path; it changes
// whenever the images a seed gives change.
const synDigitsVersion = 1

// synDigitsMax bounds the number of images SynDigits makes (784 MB).
const synDigitsMax = 1_000_000

// The range of the stroke weight, the distance in output pixels by which
// the outline is dilated (positive) or eroded (negative).
const synWeightMin, synWeightMax = -0.35, 0.75

const (
	synSide   = 28         // output side in pixels
	synSS     = 4          // supersampling factor
	synCanvas = 26 * synSS // largest high-resolution canvas side
	synPix    = synSide * synSide
)

func init() {
	Register("syndigits", openSynDigits)
}

// openSynDigits parses the spec argument SPLIT[:N[:SEED]].
func openSynDigits(arg string, _ Options) (*Dataset, error) {
	parts := strings.Split(arg, ":")
	if len(parts) > 3 {
		return nil, fmt.Errorf("syndigits: %q has too many parts (want SPLIT[:N[:SEED]])", arg)
	}
	split, err := parseSplit("syndigits", parts[0])
	if err != nil {
		return nil, err
	}
	n, seed := 0, SynDigitsSeed
	if len(parts) > 1 {
		n, err = strconv.Atoi(parts[1])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("syndigits: image count %q is not a positive integer", parts[1])
		}
	}
	if len(parts) > 2 {
		seed, err = strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("syndigits: seed %q is not an unsigned integer", parts[2])
		}
	}
	return SynDigits(split, n, seed)
}

// SynDigits returns n font-rendered digit images, 1×28×28 with labels 0–9,
// of split "train" or "test" for a seed; n = 0 means the size of the MNIST
// split, 60000 or 10000. The same arguments always give the same bytes.
// The data are generated on first use and kept for the life of the
// process; later calls with the same arguments share its pixels.
//
// As the data spec: syndigits[:SPLIT[:N[:SEED]]], split test by default,
// seed [SynDigitsSeed] by default.
func SynDigits(split string, n int, seed uint64) (*Dataset, error) {
	if _, err := synSplitSeed(split, seed); err != nil {
		return nil, err
	}
	switch {
	case n == 0 && split == "train":
		n = 60000
	case n == 0:
		n = 10000
	case n < 0 || n > synDigitsMax:
		return nil, fmt.Errorf("syndigits: %d images requested (want 1..%d)", n, synDigitsMax)
	}
	key := synKey{split, n, seed}
	synCacheMu.Lock()
	e := synCache[key]
	if e == nil {
		e = new(synEntry)
		synCache[key] = e
	}
	synCacheMu.Unlock()
	e.once.Do(func() { e.ds, e.err = generateSynDigits(split, n, seed) })
	if e.err != nil {
		return nil, e.err
	}
	ds := *e.ds
	ds.Labels = clone(ds.Labels)
	ds.ClassNames = clone(ds.ClassNames)
	ds.Sources = clone(ds.Sources)
	return &ds, nil
}

// SynDigit renders image i of a SynDigits split on its own: its 784 bytes,
// row after row, and its label. It equals image i of SynDigits(split, n,
// seed) for every n > i.
func SynDigit(split string, seed uint64, i int) ([]uint8, int, error) {
	ss, err := synSplitSeed(split, seed)
	if err != nil {
		return nil, 0, err
	}
	if i < 0 {
		return nil, 0, fmt.Errorf("syndigits: negative image index %d", i)
	}
	fonts, err := synFonts()
	if err != nil {
		return nil, 0, err
	}
	out := make([]uint8, synPix)
	label := newSynWorker(fonts).render(ss, i, out)
	return out, label, nil
}

type synKey struct {
	split string
	n     int
	seed  uint64
}

type synEntry struct {
	once sync.Once
	ds   *Dataset
	err  error
}

var (
	synCacheMu sync.Mutex
	synCache   = map[synKey]*synEntry{}
)

// mix64 is the SplitMix64 finaliser.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// synSplitSeed derives the stream seed of a split; train and test differ.
func synSplitSeed(split string, seed uint64) (uint64, error) {
	switch split {
	case "train":
		return mix64(mix64(seed) ^ 0x747261696e), nil // "train"
	case "test":
		return mix64(mix64(seed) ^ 0x74657374), nil // "test"
	}
	return 0, fmt.Errorf("syndigits: unknown split %q (want train or test)", split)
}

// synLabel is the label of image i: a shuffled 0–9 per block of ten.
func synLabel(splitSeed uint64, i int) int {
	r := rand.New(rand.NewPCG(splitSeed^0x6c6162656c73, uint64(i/10))) // "labels"
	perm := [10]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	r.Shuffle(10, func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
	return perm[i%10]
}

func generateSynDigits(split string, n int, seed uint64) (*Dataset, error) {
	ss, err := synSplitSeed(split, seed)
	if err != nil {
		return nil, err
	}
	fonts, err := synFonts()
	if err != nil {
		return nil, err
	}
	pix := make([]uint8, n*synPix)
	labels := make([]int, n)
	const chunk = 64
	var next atomic.Int64
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			w := newSynWorker(fonts)
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					labels[i] = w.render(ss, i, pix[i*synPix:(i+1)*synPix])
				}
			}
		})
	}
	wg.Wait()
	ds, err := NewUint8([3]int{1, synSide, synSide}, pix, labels, 10)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(pix)
	lb := make([]byte, n)
	for i, l := range labels {
		lb[i] = byte(l)
	}
	h.Write(lb)
	ds.Name = "syndigits:" + split
	if n != map[string]int{"train": 60000, "test": 10000}[split] || seed != SynDigitsSeed {
		ds.Name += ":" + strconv.Itoa(n)
		if seed != SynDigitsSeed {
			ds.Name += ":" + strconv.FormatUint(seed, 10)
		}
	}
	ds.ClassNames = digitNames
	ds.Sources = []Source{{
		Path:   fmt.Sprintf("generated:syndigits/%s?seed=%d&n=%d&v=%d", split, seed, n, synDigitsVersion),
		SHA256: hex.EncodeToString(h.Sum(nil)),
	}}
	return ds, nil
}

// synPt is a point of a glyph outline.
type synPt struct{ x, y float64 }

// synGlyph is a digit's outline, flattened to closed polygons, in em units
// with y pointing down.
type synGlyph [][]synPt

var synFonts = sync.OnceValues(func() ([][10]synGlyph, error) {
	ttfs := []struct {
		name string
		data []byte
	}{
		{"Go Regular", goregular.TTF}, {"Go Medium", gomedium.TTF}, {"Go Bold", gobold.TTF},
		{"Go Italic", goitalic.TTF}, {"Go Medium Italic", gomediumitalic.TTF}, {"Go Bold Italic", gobolditalic.TTF},
		{"Go Mono", gomono.TTF}, {"Go Mono Bold", gomonobold.TTF}, {"Go Mono Italic", gomonoitalic.TTF},
		{"Go Mono Bold Italic", gomonobolditalic.TTF}, {"Go Smallcaps", gosmallcaps.TTF},
		{"Go Smallcaps Italic", gosmallcapsitalic.TTF},
	}
	fonts := make([][10]synGlyph, len(ttfs))
	for f, t := range ttfs {
		for d := range 10 {
			g, err := ttDigit(t.data, '0'+rune(d))
			if err != nil {
				return nil, fmt.Errorf("syndigits: %s digit %d: %w", t.name, d, err)
			}
			fonts[f][d] = g
		}
	}
	return fonts, nil
})

// ttReader reads big-endian values from TrueType data; the first read out
// of bounds sets err and later reads return 0.
type ttReader struct {
	b   []byte
	err error
}

var errTTShort = errors.New("truncated or malformed font data")

func (r *ttReader) u8(off int) int {
	if off < 0 || off >= len(r.b) {
		r.err = errTTShort
		return 0
	}
	return int(r.b[off])
}

func (r *ttReader) u16(off int) int {
	if off < 0 || off+2 > len(r.b) {
		r.err = errTTShort
		return 0
	}
	return int(binary.BigEndian.Uint16(r.b[off:]))
}

func (r *ttReader) i16(off int) int { return int(int16(r.u16(off))) }

func (r *ttReader) u32(off int) int {
	if off < 0 || off+4 > len(r.b) {
		r.err = errTTShort
		return 0
	}
	return int(binary.BigEndian.Uint32(r.b[off:]))
}

// f2dot14 reads a 2.14 fixed-point number.
func (r *ttReader) f2dot14(off int) float64 { return float64(r.i16(off)) / 16384 }

// ttFont locates the tables of a TrueType font needed for outlines.
type ttFont struct {
	r                      ttReader
	unitsPerEm             float64
	longLoca               bool
	loca, glyf, cmap, nGly int
}

// ttDigit returns the flattened outline of character c of a TrueType font.
func ttDigit(data []byte, c rune) (synGlyph, error) {
	f := &ttFont{r: ttReader{b: data}}
	r := &f.r
	tables := map[string]int{}
	nt := r.u16(4)
	for i := range nt {
		rec := 12 + 16*i
		if rec+16 > len(data) {
			return nil, errTTShort
		}
		tables[string(data[rec:rec+4])] = r.u32(rec + 8)
	}
	for _, t := range []string{"head", "loca", "glyf", "cmap", "maxp"} {
		if _, ok := tables[t]; !ok {
			return nil, fmt.Errorf("no %s table", t)
		}
	}
	f.unitsPerEm = float64(r.u16(tables["head"] + 18))
	f.longLoca = r.i16(tables["head"]+50) != 0
	f.loca, f.glyf, f.cmap = tables["loca"], tables["glyf"], tables["cmap"]
	f.nGly = r.u16(tables["maxp"] + 4)
	if r.err != nil {
		return nil, r.err
	}
	if f.unitsPerEm == 0 {
		return nil, errors.New("unitsPerEm is 0")
	}
	gid, err := f.glyphIndex(c)
	if err != nil {
		return nil, err
	}
	contours, err := f.glyph(gid, 0)
	if err != nil {
		return nil, err
	}
	var g synGlyph
	for _, ct := range contours {
		if poly := flattenContour(ct, 1/f.unitsPerEm); len(poly) >= 3 {
			g = append(g, poly)
		}
	}
	if len(g) == 0 {
		return nil, errors.New("empty outline")
	}
	return g, nil
}

// glyphIndex maps a character to a glyph through a cmap format 4 or 12
// subtable.
func (f *ttFont) glyphIndex(c rune) (int, error) {
	r := &f.r
	n := r.u16(f.cmap + 2)
	for i := range n {
		rec := f.cmap + 4 + 8*i
		platform, enc := r.u16(rec), r.u16(rec+2)
		if !(platform == 0 || platform == 3 && (enc == 1 || enc == 10)) {
			continue
		}
		sub := f.cmap + r.u32(rec+4)
		switch r.u16(sub) {
		case 4:
			segX2 := r.u16(sub + 6)
			ends := sub + 14
			starts := ends + segX2 + 2
			deltas := starts + segX2
			ranges := deltas + segX2
			for s := 0; s < segX2/2 && r.err == nil; s++ {
				if int(c) > r.u16(ends+2*s) {
					continue
				}
				start := r.u16(starts + 2*s)
				if int(c) < start {
					break
				}
				delta, ro := r.u16(deltas+2*s), r.u16(ranges+2*s)
				if ro == 0 {
					return (int(c) + delta) & 0xffff, r.err
				}
				g := r.u16(ranges + 2*s + ro + 2*(int(c)-start))
				if g != 0 {
					g = (g + delta) & 0xffff
				}
				return g, r.err
			}
		case 12:
			groups := r.u32(sub + 12)
			for k := 0; k < groups && r.err == nil; k++ {
				gr := sub + 16 + 12*k
				if lo, hi := r.u32(gr), r.u32(gr+4); int(c) >= lo && int(c) <= hi {
					return r.u32(gr+8) + int(c) - lo, r.err
				}
			}
		}
		if r.err != nil {
			return 0, r.err
		}
	}
	return 0, fmt.Errorf("no glyph for %q", c)
}

// ttPoint is a TrueType outline point in font units, y up.
type ttPoint struct {
	x, y float64
	on   bool
}

// glyph returns the contours of glyph gid, following composite glyphs.
func (f *ttFont) glyph(gid, depth int) ([][]ttPoint, error) {
	r := &f.r
	if gid >= f.nGly || depth > 8 {
		return nil, fmt.Errorf("bad glyph %d", gid)
	}
	var off, end int
	if f.longLoca {
		off, end = r.u32(f.loca+4*gid), r.u32(f.loca+4*gid+4)
	} else {
		off, end = 2*r.u16(f.loca+2*gid), 2*r.u16(f.loca+2*gid+2)
	}
	if r.err != nil || end <= off {
		return nil, r.err
	}
	p := f.glyf + off
	nc := r.i16(p)
	if nc < 0 {
		return f.composite(p+10, depth)
	}
	ends := make([]int, nc)
	for i := range ends {
		ends[i] = r.u16(p + 10 + 2*i)
	}
	if nc == 0 || r.err != nil {
		return nil, r.err
	}
	np := ends[nc-1] + 1
	if np > 0xffff {
		return nil, errTTShort
	}
	q := p + 12 + 2*nc + r.u16(p+10+2*nc)
	flags := make([]int, 0, np)
	for len(flags) < np && r.err == nil {
		fl := r.u8(q)
		q++
		flags = append(flags, fl)
		if fl&8 != 0 {
			rep := r.u8(q)
			q++
			for ; rep > 0 && len(flags) < np; rep-- {
				flags = append(flags, fl)
			}
		}
	}
	pts := make([]ttPoint, np)
	coord := func(short, same int, set func(i int, v float64)) {
		v := 0
		for i, fl := range flags {
			switch {
			case fl&short != 0:
				d := r.u8(q)
				q++
				if fl&same == 0 {
					d = -d
				}
				v += d
			case fl&same == 0:
				v += r.i16(q)
				q += 2
			}
			set(i, float64(v))
		}
	}
	coord(2, 16, func(i int, v float64) { pts[i].x = v })
	coord(4, 32, func(i int, v float64) { pts[i].y = v })
	if r.err != nil {
		return nil, r.err
	}
	var out [][]ttPoint
	start := 0
	for _, e := range ends {
		if e < start || e >= np {
			return nil, errTTShort
		}
		for i := start; i <= e; i++ {
			pts[i].on = flags[i]&1 != 0
		}
		out = append(out, pts[start:e+1])
		start = e + 1
	}
	return out, nil
}

// composite reads the components of a composite glyph starting at p.
func (f *ttFont) composite(p, depth int) ([][]ttPoint, error) {
	r := &f.r
	var out [][]ttPoint
	for {
		fl, gi := r.u16(p), r.u16(p+2)
		p += 4
		var dx, dy float64
		if fl&1 != 0 {
			dx, dy = float64(r.i16(p)), float64(r.i16(p+2))
			p += 4
		} else {
			dx, dy = float64(int8(r.u8(p))), float64(int8(r.u8(p+1)))
			p += 2
		}
		if fl&2 == 0 {
			return nil, errors.New("composite glyph with point matching is not supported")
		}
		a, b, c, d := 1.0, 0.0, 0.0, 1.0
		switch {
		case fl&8 != 0:
			a = r.f2dot14(p)
			d = a
			p += 2
		case fl&0x40 != 0:
			a, d = r.f2dot14(p), r.f2dot14(p+2)
			p += 4
		case fl&0x80 != 0:
			a, b, c, d = r.f2dot14(p), r.f2dot14(p+2), r.f2dot14(p+4), r.f2dot14(p+6)
			p += 8
		}
		if r.err != nil {
			return nil, r.err
		}
		sub, err := f.glyph(gi, depth+1)
		if err != nil {
			return nil, err
		}
		for _, ct := range sub {
			t := make([]ttPoint, len(ct))
			for i, q := range ct {
				t[i] = ttPoint{a*q.x + c*q.y + dx, b*q.x + d*q.y + dy, q.on}
			}
			out = append(out, t)
		}
		if fl&0x20 == 0 {
			return out, nil
		}
	}
}

// flattenContour turns a TrueType contour of on- and off-curve points into
// a polygon, scaled by s and with y flipped to point down.
func flattenContour(ct []ttPoint, s float64) []synPt {
	n := len(ct)
	if n == 0 {
		return nil
	}
	pt := func(q ttPoint) synPt { return synPt{q.x * s, -q.y * s} }
	mid := func(a, b synPt) synPt { return synPt{(a.x + b.x) / 2, (a.y + b.y) / 2} }
	var start synPt
	var seq []ttPoint
	switch {
	case ct[0].on:
		start, seq = pt(ct[0]), ct[1:]
	case ct[n-1].on:
		start, seq = pt(ct[n-1]), ct[:n-1]
	default:
		start, seq = mid(pt(ct[n-1]), pt(ct[0])), ct
	}
	poly := []synPt{start}
	cur := start
	var ctrl synPt
	haveCtrl := false
	quad := func(p0, p1, p2 synPt) {
		// Subdivide so the chord error stays below 1/2000 em.
		dev := math.Hypot(p0.x-2*p1.x+p2.x, p0.y-2*p1.y+p2.y)
		k := min(16, 1+int(math.Sqrt(dev/(8*0.0005))))
		for j := 1; j <= k; j++ {
			t := float64(j) / float64(k)
			u := 1 - t
			poly = append(poly, synPt{u*u*p0.x + 2*u*t*p1.x + t*t*p2.x, u*u*p0.y + 2*u*t*p1.y + t*t*p2.y})
		}
	}
	visit := func(q synPt, on bool) {
		switch {
		case on && haveCtrl:
			quad(cur, ctrl, q)
			cur, haveCtrl = q, false
		case on:
			poly = append(poly, q)
			cur = q
		case haveCtrl:
			m := mid(ctrl, q)
			quad(cur, ctrl, m)
			cur, ctrl = m, q
		default:
			ctrl, haveCtrl = q, true
		}
	}
	for _, q := range seq {
		visit(pt(q), q.on)
	}
	visit(start, true)
	// The last point repeats the first; the polygon closes itself.
	return poly[:len(poly)-1]
}

// synWorker holds one goroutine's buffers.
type synWorker struct {
	fonts      [][10]synGlyph
	pcg        rand.PCG
	rng        *rand.Rand
	fill, strk vector.Rasterizer
	a, b       *image.Alpha
	lo, tmp    []float64
	pts        []synPt
}

func newSynWorker(fonts [][10]synGlyph) *synWorker {
	w := &synWorker{
		fonts: fonts,
		a:     image.NewAlpha(image.Rect(0, 0, synCanvas, synCanvas)),
		b:     image.NewAlpha(image.Rect(0, 0, synCanvas, synCanvas)),
		lo:    make([]float64, synPix),
		tmp:   make([]float64, synPix),
	}
	w.rng = rand.New(&w.pcg)
	return w
}

// synCircle holds the vertices of a unit 12-gon, clockwise on screen to
// match the winding of the stroke rectangles.
var synCircle = func() (c [12]synPt) {
	for j := range c {
		t := -2 * math.Pi * float64(j) / float64(len(c))
		c[j] = synPt{math.Cos(t), math.Sin(t)}
	}
	return c
}()

// render draws image i of the split with stream seed ss into out and
// returns its label.
func (w *synWorker) render(ss uint64, i int, out []uint8) int {
	label := synLabel(ss, i)
	w.pcg.Seed(ss, uint64(i))
	r := w.rng
	uni := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	font := r.IntN(len(w.fonts))
	size := uni(15, 21)
	weight := uni(synWeightMin, synWeightMax)
	rot := uni(-15, 15) * math.Pi / 180
	shear := uni(-0.3, 0.3)
	tx, ty := uni(-2, 2), uni(-2, 2)
	sigma := uni(0, 1)
	noise := uni(0, 0.05)

	// Rotate and shear the outline (y down), then scale it so that the
	// larger side of its box, stroke included, is size pixels, and place
	// it in a canvas just large enough, at synSS× resolution.
	sin, cos := math.Sincos(rot)
	g := w.fonts[font][label]
	w.pts = w.pts[:0]
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, poly := range g {
		for _, p := range poly {
			sx := p.x - shear*p.y // y points down: a positive shear leans right
			q := synPt{cos*sx - sin*p.y, sin*sx + cos*p.y}
			w.pts = append(w.pts, q)
			x0, y0, x1, y1 = min(x0, q.x), min(y0, q.y), max(x1, q.x), max(y1, q.y)
		}
	}
	k := synSS * (size - 2*weight) / max(x1-x0, y1-y0)
	rad := synSS * weight
	pad := math.Ceil(max(rad, 0)) + 2
	cw := min(synCanvas, int(math.Ceil((x1-x0)*k+2*pad)))
	ch := min(synCanvas, int(math.Ceil((y1-y0)*k+2*pad)))
	for j, q := range w.pts {
		w.pts[j] = synPt{(q.x-x0)*k + pad, (q.y-y0)*k + pad}
	}
	bounds := image.Rect(0, 0, cw, ch)

	w.fill.Reset(cw, ch)
	w.fill.DrawOp = draw.Src
	j := 0
	for _, poly := range g {
		ps := w.pts[j : j+len(poly)]
		j += len(poly)
		w.fill.MoveTo(float32(ps[0].x), float32(ps[0].y))
		for _, q := range ps[1:] {
			w.fill.LineTo(float32(q.x), float32(q.y))
		}
		w.fill.ClosePath()
	}
	w.fill.Draw(w.a, bounds, image.Opaque, image.Point{})

	// The stroke: a rectangle along every edge and a disc at every corner,
	// all wound the same way so overlaps add up instead of cancelling.
	// The fill with the stroke added is the outline dilated by |rad|; with
	// it taken away, eroded.
	stroke := math.Abs(rad) > 0.05
	if stroke {
		R := math.Abs(rad)
		w.strk.Reset(cw, ch)
		w.strk.DrawOp = draw.Src
		j = 0
		for _, poly := range g {
			ps := w.pts[j : j+len(poly)]
			j += len(poly)
			var pdx, pdy float64
			for e := range ps {
				p, q := ps[e], ps[(e+1)%len(ps)]
				dx, dy := q.x-p.x, q.y-p.y
				l := math.Hypot(dx, dy)
				if l < 1e-9 {
					continue
				}
				dx, dy = dx/l, dy/l
				nx, ny := -dy*R, dx*R
				w.strk.MoveTo(float32(p.x+nx), float32(p.y+ny))
				w.strk.LineTo(float32(q.x+nx), float32(q.y+ny))
				w.strk.LineTo(float32(q.x-nx), float32(q.y-ny))
				w.strk.LineTo(float32(p.x-nx), float32(p.y-ny))
				w.strk.ClosePath()
				// A disc where the outline turns by more than ~15°
				// (always at the first vertex, whose turn is unknown).
				if e == 0 || dx*pdx+dy*pdy < 0.966 {
					w.strk.MoveTo(float32(p.x+R*synCircle[0].x), float32(p.y+R*synCircle[0].y))
					for _, c := range synCircle[1:] {
						w.strk.LineTo(float32(p.x+R*c.x), float32(p.y+R*c.y))
					}
					w.strk.ClosePath()
				}
				pdx, pdy = dx, dy
			}
		}
		w.strk.Draw(w.b, bounds, image.Opaque, image.Point{})
		for y := range ch {
			a := w.a.Pix[y*w.a.Stride : y*w.a.Stride+cw]
			b := w.b.Pix[y*w.b.Stride : y*w.b.Stride+cw]
			for x := range a {
				if rad > 0 {
					a[x] = max(a[x], b[x])
				} else {
					a[x] -= min(a[x], b[x])
				}
			}
		}
	}

	// The centre of mass, with pixel x covering [x, x+1).
	var m, mx, my int
	for y := range ch {
		var rm, rmx int
		for x, v := range w.a.Pix[y*w.a.Stride : y*w.a.Stride+cw] {
			rm += int(v)
			rmx += int(v) * x
		}
		m += rm
		mx += rmx
		my += rm * y
	}
	clear(out)
	if m == 0 {
		return label
	}
	// Output pixel X covers canvas columns synSS*X+ox … synSS*X+ox+synSS-1;
	// put the centre of mass at (14+tx, 14+ty) in pixel-index coordinates
	// (pixel centres at integers), where MNIST puts it.
	com := func(s int) float64 { return float64(s)/float64(m) + 0.5 }
	ox := int(math.Round(com(mx) - synSS*(synSide/2+0.5+tx)))
	oy := int(math.Round(com(my) - synSS*(synSide/2+0.5+ty)))
	clear(w.lo)
	for y := max(0, oy); y < min(ch, oy+synSS*synSide); y++ {
		row := w.lo[(y-oy)/synSS*synSide:]
		for x := max(0, ox); x < min(cw, ox+synSS*synSide); x++ {
			row[(x-ox)/synSS] += float64(w.a.Pix[y*w.a.Stride+x])
		}
	}
	if sigma > 0.05 {
		synBlur(w.lo, w.tmp, sigma)
	}
	peak := 0.0
	for _, v := range w.lo {
		peak = max(peak, v)
	}
	if peak == 0 {
		return label
	}
	for p, v := range w.lo {
		v = v/peak + noise*r.NormFloat64()
		out[p] = uint8(math.Round(255 * min(1, max(0, v))))
	}
	return label
}

// synBlur applies a separable Gaussian blur of standard deviation sigma pixels
// to a 28×28 image, treating the outside as black; tmp is scratch space.
func synBlur(img, tmp []float64, sigma float64) {
	rad := int(math.Ceil(3 * sigma))
	var kern [8]float64
	sum := 0.0
	for d := 0; d <= rad; d++ {
		kern[d] = math.Exp(-float64(d*d) / (2 * sigma * sigma))
		sum += kern[d]
		if d > 0 {
			sum += kern[d]
		}
	}
	for d := 0; d <= rad; d++ {
		kern[d] /= sum
	}
	for y := range synSide {
		for x := range synSide {
			s := 0.0
			for d := -rad; d <= rad; d++ {
				if xx := x + d; xx >= 0 && xx < synSide {
					s += kern[synAbs(d)] * img[y*synSide+xx]
				}
			}
			tmp[y*synSide+x] = s
		}
	}
	for y := range synSide {
		for x := range synSide {
			s := 0.0
			for d := -rad; d <= rad; d++ {
				if yy := y + d; yy >= 0 && yy < synSide {
					s += kern[synAbs(d)] * tmp[yy*synSide+x]
				}
			}
			img[y*synSide+x] = s
		}
	}
}

func synAbs(d int) int {
	if d < 0 {
		return -d
	}
	return d
}
