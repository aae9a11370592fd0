package report

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"math"
	"regexp"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The HTML report's plots are drawn with gonum.org/v1/plot on its SVG
// canvas and inlined in the page. gonum lays text out with the metrics of
// Liberation Sans and names that font; the page's style sheet falls back
// to faces of the same widths (Arimo, Arial, Helvetica, Nimbus Sans) or
// nearly (DejaVu Sans Condensed), and the layouts leave room (fontSlack)
// for a wider fallback, so that no label is cut off or runs into a plot
// where the font itself is not installed.

var (
	inkColor   = color.RGBA{0x22, 0x22, 0x22, 0xff}
	gridColor  = color.RGBA{0xe3, 0xe3, 0xe3, 0xff}
	mutedColor = color.RGBA{0x6b, 0x6b, 0x6b, 0xff}
	noRunColor = color.RGBA{0xf2, 0xf2, 0xf2, 0xff}
	// attackColor and controlColor fill the per-case bars.
	attackColor  = color.RGBA{0x21, 0x66, 0xac, 0xff}
	controlColor = color.RGBA{0xb8, 0xb8, 0xb8, 0xff}
)

// caseColors are the series colours of the DUMB cases in the curves: the
// Okabe–Ito colour-blind-safe set (yellow replaced by a brown that reads on
// white), each series also with its own glyph.
var caseColors = map[string]color.RGBA{
	"C1": {0x00, 0x72, 0xb2, 0xff}, "C2": {0xe6, 0x9f, 0x00, 0xff}, "C3": {0x00, 0x9e, 0x73, 0xff},
	"C4": {0xd5, 0x5e, 0x00, 0xff}, "C5": {0xcc, 0x79, 0xa7, 0xff}, "C6": {0x56, 0xb4, 0xe9, 0xff},
	"C7": {0x8c, 0x61, 0x3c, 0xff}, "C8": {0x00, 0x00, 0x00, 0xff}, "C1-white-box": {0x88, 0x88, 0x88, 0xff},
}

// seriesColors are the colours of other series (attacker → victim pairs):
// Okabe–Ito's and two of Paul Tol's muted colours.
var seriesColors = []color.RGBA{
	{0x00, 0x72, 0xb2, 0xff}, {0xe6, 0x9f, 0x00, 0xff}, {0x00, 0x9e, 0x73, 0xff}, {0xd5, 0x5e, 0x00, 0xff},
	{0xcc, 0x79, 0xa7, 0xff}, {0x56, 0xb4, 0xe9, 0xff}, {0x8c, 0x61, 0x3c, 0xff}, {0x00, 0x00, 0x00, 0xff},
	{0x99, 0x99, 0x33, 0xff}, {0x88, 0x22, 0x55, 0xff},
}

var glyphShapes = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{},
	draw.RingGlyph{}, draw.BoxGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{},
}

func sans(size vg.Length, bold bool) font.Font {
	f := font.Font{Typeface: "Liberation", Variant: "Sans"}
	if bold {
		f.Weight = xfont.WeightBold
	}
	return font.From(f, size)
}

func textStyle(size vg.Length, bold bool, c color.Color) text.Style {
	return text.Style{Color: c, Font: sans(size, bold), XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
}

// newPlot is a plot in the report's style: sans-serif text, quiet axes
// (svgFigure sets the title, belowLegend the legend).
func newPlot() *plot.Plot {
	p := plot.New()
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(10, false)
		a.Label.TextStyle.Color = inkColor
		a.Tick.Label.Font = sans(9, false)
		a.Tick.Label.Color = inkColor
		a.Color = mutedColor
		a.Tick.Color = mutedColor
		a.Tick.Length = vg.Points(4)
	}
	return p
}

// percentTicks marks 0–100 % in steps of step percent.
type percentTicks struct{ step float64 }

func (t percentTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for v := math.Ceil(lo/t.step) * t.step; v <= hi+1e-9; v += t.step {
		ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%g%%", v)})
	}
	return ts
}

// svgFigure renders a figure on a gonum SVG canvas: the title in bold at
// the top left, below it the body of w×h points that drawFn draws, all in
// a small margin. It returns the <svg> element for inlining in HTML:
// without the XML prolog and namespace declarations (HTML puts inline
// <svg> in the SVG namespace), with the title also as <title> for screen
// readers and tooltips. gonum panics on some bad input; the panic becomes
// an error.
func svgFigure(w, h vg.Length, title string, drawFn func(body draw.Canvas)) (out template.HTML, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("report: plot %q: %v", title, r)
		}
	}()
	sty := textStyle(11, true, inkColor)
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YTop
	titleH := sty.Height(title) + vg.Points(10)
	// Left-aligned, a title set wider than measured only needs room on
	// the right.
	cw := max(w, sty.Width(title)*fontSlack)
	c := vgsvg.NewWith(vgsvg.UseWH(cw+2*figureMargin, h+titleH+2*figureMargin))
	dc := draw.New(c)
	dc.FillText(sty, vg.Point{X: figureMargin, Y: figureMargin + h + titleH}, title)
	drawFn(draw.Canvas{Canvas: c, Rectangle: vg.Rectangle{
		Min: vg.Point{X: figureMargin, Y: figureMargin},
		Max: vg.Point{X: figureMargin + w, Y: figureMargin + h},
	}})
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("report: plot %q: no <svg> element in the canvas output", title)
	}
	s = s[i:]
	s = xmlnsAttr.ReplaceAllString(s, "")
	// vgsvg labels its PNG images as JPEG, and leaves them to keep their
	// aspect ratio (SVG's default) where gonum means them to fill their
	// rectangle (the colour bar is a 1×256 image).
	s = strings.ReplaceAll(s, `"data:image/jpg;base64,`, `"data:image/png;base64,`)
	s = strings.ReplaceAll(s, "<image ", `<image preserveAspectRatio="none" `)
	end := strings.Index(s, ">")
	s = s[:end] + ` role="img" focusable="false"><title>` + html.EscapeString(title) + "</title>" + s[end+1:]
	return template.HTML(s), nil
}

// figureMargin keeps text that gonum sets flush with a figure's edge (a
// title, a rotated axis label) clear of it when a fallback font has a
// taller or wider line box.
const figureMargin = vg.Length(4)

var xmlnsAttr = regexp.MustCompile(`\s+xmlns(:xlink)?="[^"]*"`)

// asrPalette is the heat maps' sequential palette: ColorBrewer's
// Yellow-Orange-Red (colour-blind safe), interpolated with luminance
// linear in the value (Moreland), light for low and dark red for high
// attack success.
var asrPalette = func() palette.Palette {
	cm := newASRColorMap()
	cm.SetMin(0)
	cm.SetMax(1)
	return cm.Palette(256)
}()

func newASRColorMap() palette.ColorMap {
	p, err := brewer.GetPalette(brewer.TypeSequential, "YlOrRd", 9)
	if err != nil {
		panic(err)
	}
	cs := p.Colors()
	rev := make([]color.Color, len(cs))
	for i, c := range cs {
		rev[len(cs)-1-i] = c
	}
	cm, err := moreland.NewLuminance(rev) // dark to light: increasing luminance
	if err != nil {
		panic(err)
	}
	return palette.Reverse(cm)
}

// paletteColor is the colour HeatMap gives v in [lo, hi].
func paletteColor(pal palette.Palette, lo, hi, v float64) color.Color {
	cs := pal.Colors()
	i := int((v-lo)*float64(len(cs)-1)/(hi-lo) + 0.5)
	return cs[max(0, min(len(cs)-1, i))]
}

// onColor is black or white, whichever reads better on c.
func onColor(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		x := float64(v) / 0xffff
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
	if (l+0.05)/0.05 >= 1.05/(l+0.05) { // contrast with black vs with white
		return inkColor
	}
	return color.White
}

// matrixGrid is a transfer matrix as gonum's GridXYZ: column c is victim
// c, row r counts attackers from the bottom so that the first attacker is
// the top row; NaN where a pair was not run or had no correct images.
type matrixGrid struct{ m *TransferMatrix }

func (g matrixGrid) Dims() (c, r int) { return len(g.m.Victims), len(g.m.Attackers) }
func (g matrixGrid) X(c int) float64  { return float64(c) }
func (g matrixGrid) Y(r int) float64  { return float64(r) }
func (g matrixGrid) Z(c, r int) float64 {
	v := g.m.ASR[len(g.m.Attackers)-1-r][c]
	if v == nil {
		return math.NaN()
	}
	return *v
}

// cellAnnotations writes each heat-map cell's value and DUMB case in a
// colour that contrasts with the cell, separates the cells with thin white
// rules and outlines the white-box cells.
type cellAnnotations struct {
	m                   *TransferMatrix
	valueStyle, caseSty text.Style
}

func (a cellAnnotations) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	rows := len(a.m.Attackers)
	for i := range a.m.Attackers {
		y := float64(rows - 1 - i)
		for j := range a.m.Victims {
			x := float64(j)
			x0, x1 := trX(x-0.5), trX(x+0.5)
			y0, y1 := trY(y-0.5), trY(y+0.5)
			rect := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}, {X: x0, Y: y0}}
			c.StrokeLines(draw.LineStyle{Color: color.White, Width: vg.Points(1)}, rect)
			cs := a.m.Cases[i][j]
			white := strings.HasSuffix(cs, "*")
			v := a.m.ASR[i][j]
			bg := color.Color(noRunColor)
			val := "–"
			if v != nil {
				bg = paletteColor(asrPalette, 0, 1, *v)
				val = fmt.Sprintf("%.0f", 100**v)
			}
			fg := onColor(bg)
			vs, ks := a.valueStyle, a.caseSty
			vs.Color, ks.Color = fg, fg
			cx, cy := trX(x), trY(y)
			if cs != "" {
				h := (y1 - y0) / 2
				c.FillText(vs, vg.Point{X: cx, Y: cy + h*0.22}, val)
				c.FillText(ks, vg.Point{X: cx, Y: cy - h*0.45}, cs)
			} else {
				c.FillText(vs, vg.Point{X: cx, Y: cy}, val+" "+cs)
			}
			if white {
				in := vg.Points(1.6)
				c.StrokeLines(draw.LineStyle{Color: inkColor, Width: vg.Points(1.6)},
					[]vg.Point{{X: x0 + in, Y: y0 + in}, {X: x1 - in, Y: y0 + in}, {X: x1 - in, Y: y1 - in}, {X: x0 + in, Y: y1 - in}, {X: x0 + in, Y: y0 + in}})
			}
		}
	}
}

// heatmapSVG draws a transfer matrix: attackers down, victims across,
// asr_on_correct as colour on a fixed 0–100 % scale (so matrices compare)
// and as a number in each cell with its DUMB case below; white-box cells
// are outlined and their case carries "*". A colour bar on the right.
func heatmapSVG(m *TransferMatrix, title string) (svg template.HTML, width vg.Length, err error) {
	rows, cols := len(m.Attackers), len(m.Victims)
	if rows == 0 || cols == 0 {
		return "", 0, fmt.Errorf("report: matrix %s has no attackers or victims", title)
	}
	cell := vg.Points(math.Max(30, math.Min(46, 540/float64(max(rows, cols)))))
	tick := textStyle(8, false, inkColor)
	labelW := func(names []string) vg.Length {
		var w vg.Length
		for _, n := range names {
			w = max(w, tick.Width(n))
		}
		return w
	}
	yLab, xLab := labelW(m.Attackers), labelW(m.Victims)
	const barW, minBarH = 62, 150
	gridW, gridH := cell*vg.Length(cols), cell*vg.Length(rows)
	// The plot at its natural size (square cells), the colour bar right of
	// it.
	mainW, mainH := yLab*1.14+gridW+vg.Points(30), gridH+xLab*1.14+vg.Points(42)
	w, h := mainW+vg.Points(barW+10), max(mainH, vg.Points(minBarH+8))

	p := newPlot()
	p.X.Label.Text = "victim"
	p.Y.Label.Text = "attacker"
	hm := plotter.NewHeatMap(matrixGrid{m}, asrPalette)
	hm.Min, hm.Max = 0, 1
	hm.NaN = noRunColor
	p.Add(hm)
	p.Add(cellAnnotations{
		m:          m,
		valueStyle: textStyle(vg.Length(math.Min(11, float64(cell)*0.33)), true, inkColor),
		caseSty:    textStyle(vg.Length(math.Min(8, float64(cell)*0.235)), false, inkColor),
	})
	p.NominalX(m.Victims...)
	ys := make([]string, rows)
	for i, a := range m.Attackers {
		ys[rows-1-i] = a
	}
	p.NominalY(ys...)
	p.X.Tick.Label = tick
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.Y.Tick.Label = tick
	p.Y.Tick.Label.XAlign = draw.XRight
	// A gap between the names and the grid: room for a fallback font
	// wider than the one the names were measured in (DejaVu Sans sets
	// them 12–13% wider).
	p.X.Padding, p.Y.Padding = max(vg.Points(6), xLab*0.14), max(vg.Points(6), yLab*0.14)

	svg, err = svgFigure(w, h, title, func(dc draw.Canvas) {
		main := draw.Crop(dc, 0, mainW-w, h-mainH, 0)
		p.Draw(main)
		da := p.DataCanvas(main)
		// The colour bar spans the grid's height, or more for short grids.
		bar := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: main.Max.X + vg.Points(10), Y: max(dc.Min.Y, min(da.Min.Y, da.Max.Y-vg.Points(minBarH)))},
			Max: vg.Point{X: dc.Max.X, Y: da.Max.Y},
		}}
		colorBar(bar)
	})
	return svg, w, err
}

// fontSlack is how much wider than the Liberation Sans gonum measures
// with a browser's font may set text and still fit: bold DejaVu Sans
// Condensed is 5–9% wider, DejaVu Sans (the fallback of minimal Linux
// systems) 10–21%.
const fontSlack = 1.22

// asrColorMap is asrPalette's colour map over 0–100 (%), for the colour
// bar.
var asrColorMap = func() palette.ColorMap {
	cm := newASRColorMap()
	cm.SetMin(0)
	cm.SetMax(100)
	return cm
}()

// colorBar draws the heat maps' scale, 0–100 %, with gonum's ColorBar (a
// 256-pixel image the browser smooths).
func colorBar(c draw.Canvas) {
	p := newPlot()
	p.Add(&plotter.ColorBar{ColorMap: asrColorMap, Vertical: true, Colors: 256})
	p.HideX()
	p.X.Padding, p.Y.Padding = 0, 0
	p.Y.Tick.Marker = percentTicks{20}
	p.Y.Label.Text = "ASR on correct"
	p.Y.Tick.Length = vg.Points(3)
	p.Y.Tick.Label.Font = sans(7.5, false)
	p.Draw(c)
}

// series is one line of a curve plot: y values in percent at x, with a
// band [lo, hi].
type series struct {
	name     string
	color    color.Color
	glyph    draw.GlyphDrawer
	dashed   bool
	noBand   bool
	x, y     []float64
	lo, hi   []float64
	thinLine bool
}

// colorIndex is a series' colour and glyph.
type colorIndex struct {
	color color.Color
	glyph draw.GlyphDrawer
}

// Curve and bar figures are figureW points wide, which a two-column page
// shows at about their natural size; their legends sit below the plot.
const figureW, plotH = 400, 230

// legendItem is one legend entry.
type legendItem struct {
	name   string
	thumbs []plot.Thumbnailer
}

// belowLegend lays legend entries out in one or two columns under a plot
// of width w: its height, and how to draw it into a canvas of that height
// (entries start at x0, the data area's left edge).
func belowLegend(items []legendItem, w, x0 vg.Length) (vg.Length, func(c draw.Canvas)) {
	if len(items) == 0 {
		return 0, func(draw.Canvas) {}
	}
	sty := textStyle(9, false, inkColor)
	const thumbW, gap = 22, 18
	var textW vg.Length
	for _, it := range items {
		textW = max(textW, sty.Width(it.name)*fontSlack)
	}
	colW := vg.Points(thumbW+6) + textW
	cols := 1
	if len(items) > 1 && x0+2*colW+vg.Points(gap) <= w {
		cols = 2
	}
	rows := (len(items) + cols - 1) / cols
	rowH := sty.FontExtents().Height + vg.Points(3)
	h := vg.Length(rows)*rowH + vg.Points(10)
	return h, func(c draw.Canvas) {
		for col := range cols {
			leg := plot.NewLegend()
			leg.TextStyle = sty
			leg.TextStyle.XAlign, leg.TextStyle.YAlign = draw.XLeft, draw.YBottom
			leg.Top, leg.Left = true, true
			leg.ThumbnailWidth = vg.Points(thumbW)
			leg.Padding = vg.Points(3)
			for i := col * rows; i < min(len(items), (col+1)*rows); i++ {
				leg.Add(items[i].name, items[i].thumbs...)
			}
			left := c.Min.X + x0 + vg.Length(col)*(colW+vg.Points(gap))
			leg.Draw(draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
				Min: vg.Point{X: left, Y: c.Min.Y},
				Max: vg.Point{X: left + colW, Y: c.Max.Y - vg.Points(4)},
			}})
		}
	}
}

// withLegendBelow renders a plot with its legend under it.
func withLegendBelow(title string, p *plot.Plot, items []legendItem) (template.HTML, error) {
	w := vg.Points(figureW)
	// Where the data area starts, for aligning the legend with it.
	probe := vgsvg.NewWith(vgsvg.UseWH(w, vg.Points(plotH)))
	da := p.DataCanvas(draw.New(probe))
	legH, drawLegend := belowLegend(items, w, da.Min.X)
	return svgFigure(w, vg.Points(plotH)+legH, title, func(dc draw.Canvas) {
		p.Draw(draw.Crop(dc, 0, 0, legH, 0))
		drawLegend(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: dc.Min, Max: vg.Point{X: dc.Max.X, Y: dc.Min.Y + legH}}})
	})
}

// curveSVG draws ASR (in %) against ε: a translucent 95% band, a line and
// points per series; extra legend entries (for series drawn without an
// entry of their own) go last.
func curveSVG(title, xLabel string, ss []series, extra []legendItem) (template.HTML, error) {
	p := newPlot()
	p.X.Label.Text = xLabel
	p.Y.Label.Text = "ASR on correct (%)"
	p.Y.Min, p.Y.Max = 0, 100
	p.Y.Tick.Marker = percentTicks{20}
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = gridColor, gridColor
	p.Add(g)
	var items []legendItem
	for _, s := range ss {
		if len(s.x) == 0 {
			continue
		}
		if !s.noBand {
			band := make(plotter.XYs, 0, 2*len(s.x))
			for i := range s.x {
				band = append(band, plotter.XY{X: s.x[i], Y: s.hi[i]})
			}
			for i := len(s.x) - 1; i >= 0; i-- {
				band = append(band, plotter.XY{X: s.x[i], Y: s.lo[i]})
			}
			poly, err := plotter.NewPolygon(band)
			if err != nil {
				return "", err
			}
			r, g, b, _ := s.color.RGBA()
			poly.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0x33}
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		xys := make(plotter.XYs, len(s.x))
		for i := range s.x {
			xys[i] = plotter.XY{X: s.x[i], Y: s.y[i]}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return "", err
		}
		line.Color = s.color
		line.Width = vg.Points(1.6)
		if s.thinLine {
			line.Width = vg.Points(1.1)
		}
		if s.dashed {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(line)
		it := legendItem{name: s.name, thumbs: []plot.Thumbnailer{line}}
		if s.glyph != nil {
			points, err := plotter.NewScatter(xys)
			if err != nil {
				return "", err
			}
			points.Color = s.color
			points.Shape = s.glyph
			points.Radius = vg.Points(2.6)
			p.Add(points)
			it.thumbs = append(it.thumbs, points)
		}
		if s.name != "" {
			items = append(items, it)
		}
	}
	return withLegendBelow(title, p, append(items, extra...))
}

// dashedThumb is a legend thumbnail of a dashed grey line.
func dashedThumb() plot.Thumbnailer {
	l := &plotter.Line{LineStyle: draw.LineStyle{Color: mutedColor, Width: vg.Points(1.1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}}
	return l
}

// caseBar is one DUMB case's pooled attack and noise-control rates.
type caseBar struct {
	label      string
	attack     *rateBar
	control    *rateBar
	meanExcess *float64
}

type rateBar struct{ v, lo, hi float64 }

// errs is XYs with asymmetric Y errors, for plotter.YErrorBars.
type errs struct {
	plotter.XYs
	plotter.YErrors
}

// barsSVG draws, per DUMB case, the pooled asr_on_correct of the attack
// and of the noise control side by side with their 95% Wilson intervals,
// and the mean excess over noise above them.
func barsSVG(title string, cs []caseBar) (template.HTML, error) {
	p := newPlot()
	p.Y.Label.Text = "ASR on correct (%), pooled"
	p.Y.Min, p.Y.Max = 0, 100
	p.Y.Tick.Marker = percentTicks{20}
	g := plotter.NewGrid()
	g.Vertical.Width = 0
	g.Horizontal.Color = gridColor
	p.Add(g)
	n := len(cs)
	dataW := vg.Points(figureW - 60)
	barW := dataW / vg.Length(n) * 0.36
	hasControl := false
	for _, c := range cs {
		hasControl = hasControl || c.control != nil
	}
	var items []legendItem
	add := func(name string, off float64, col color.Color, get func(caseBar) *rateBar) error {
		var vals plotter.Values
		var e errs
		for i, c := range cs {
			r := get(c)
			if r == nil {
				vals = append(vals, 0)
				continue
			}
			vals = append(vals, 100*r.v)
			e.XYs = append(e.XYs, plotter.XY{X: float64(i) + off, Y: 100 * r.v})
			e.YErrors = append(e.YErrors, struct{ Low, High float64 }{100 * (r.v - r.lo), 100 * (r.hi - r.v)})
		}
		bc, err := plotter.NewBarChart(vals, barW)
		if err != nil {
			return err
		}
		bc.XMin = off
		bc.Color = col
		bc.LineStyle.Width = 0
		p.Add(bc)
		items = append(items, legendItem{name, []plot.Thumbnailer{bc}})
		if len(e.XYs) > 0 {
			eb, err := plotter.NewYErrorBars(e)
			if err != nil {
				return err
			}
			eb.Color = inkColor
			eb.Width = vg.Points(1)
			eb.CapWidth = min(barW*0.5, vg.Points(8))
			p.Add(eb)
		}
		return nil
	}
	off := 0.0
	if hasControl {
		off = 0.2
	}
	if err := add("attack: pooled ASR on correct, 95% Wilson interval", -off, attackColor, func(c caseBar) *rateBar { return c.attack }); err != nil {
		return "", err
	}
	if hasControl {
		if err := add("noise control: the same victims on random noise", off, controlColor, func(c caseBar) *rateBar { return c.control }); err != nil {
			return "", err
		}
	}
	// The mean excess over noise, in points, above each case's bars.
	var ex plotter.XYLabels
	for i, c := range cs {
		if c.meanExcess == nil {
			continue
		}
		top := 0.0
		for _, r := range []*rateBar{c.attack, c.control} {
			if r != nil {
				top = math.Max(top, 100*r.hi)
			}
		}
		ex.XYs = append(ex.XYs, plotter.XY{X: float64(i), Y: math.Min(top+2, 96)})
		ex.Labels = append(ex.Labels, fmt.Sprintf("%+.1f", 100**c.meanExcess))
	}
	if len(ex.XYs) > 0 {
		l, err := plotter.NewLabels(ex)
		if err != nil {
			return "", err
		}
		for i := range l.TextStyle {
			l.TextStyle[i] = textStyle(8, false, inkColor)
			l.TextStyle[i].YAlign = draw.YBottom
		}
		p.Add(l)
		items = append(items, legendItem{name: "+x.x above the bars: mean excess of the attack over noise, in points"})
	}
	labels := make([]string, n)
	for i, c := range cs {
		labels[i] = c.label
	}
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(n)-0.4
	p.X.Padding, p.Y.Padding = 0, 0
	return withLegendBelow(title, p, items)
}
