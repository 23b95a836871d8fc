package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"time"
)

// PlotConvergence draws, as a PNG written to w, the agents that ACKed each change (y, 0 to
// agents) over the milliseconds since the push returned (x), one line per change, and below
// it a stacked bar of the stage shares (Stages' order, colors as in StageColors). Tick labels
// are digits only, drawn with a built-in 3x5 pixel font (the standard library has none): the
// x axis is in ms, the y axis in agents; docs/benchmarks-whole-path.md explains the picture.
func PlotConvergence(w io.Writer, r *ConvergeReport) error {
	const (
		width, height    = 900, 560
		left, right, top = 70, 20, 20
		plotH            = 400
		barTop, barH     = plotH + top + 50, 30
	)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	plotW := width - left - right
	var xmax time.Duration
	for _, c := range r.Changes {
		for _, p := range c.Curve {
			xmax = max(xmax, p.At)
		}
	}
	xmaxMS := niceCeil(float64(xmax) / 1e6)
	ymax := max(r.Agents, 1)
	x := func(d time.Duration) int { return left + int(float64(d)/1e6/xmaxMS*float64(plotW)) }
	y := func(n int) int { return top + plotH - n*plotH/ymax }
	grey, black := color.RGBA{220, 220, 220, 255}, color.RGBA{0, 0, 0, 255}
	for k := 0; k <= 5; k++ {
		ms := xmaxMS * float64(k) / 5
		gx := left + k*plotW/5
		line(img, gx, top, gx, top+plotH, grey)
		text(img, gx-len(fmt.Sprint(int(ms)))*4, top+plotH+8, fmt.Sprint(int(ms)), black)
		n := ymax * k / 5
		line(img, left, y(n), left+plotW, y(n), grey)
		text(img, left-8-len(fmt.Sprint(n))*8, y(n)-5, fmt.Sprint(n), black)
	}
	line(img, left, top, left, top+plotH, black)
	line(img, left, top+plotH, left+plotW, top+plotH, black)
	for i, c := range r.Changes {
		col := palette[i%len(palette)]
		px, py := x(0), y(0)
		for _, p := range c.Curve {
			nx, ny := x(p.At), y(p.Agents)
			line(img, px, py, nx, py, col) // a step: the count holds until the next point
			line(img, nx, py, nx, ny, col)
			px, py = nx, ny
		}
	}
	// The stage shares, stacked left to right over the plot's width.
	bx := left
	for k, s := range r.Share {
		wd := int(s*float64(plotW) + 0.5)
		if k == len(r.Share)-1 {
			wd = left + plotW - bx
		}
		fill(img, image.Rect(bx, barTop, bx+wd, barTop+barH), StageColors[k%len(StageColors)])
		if wd > 30 {
			text(img, bx+3, barTop+barH+6, fmt.Sprint(int(100*s+0.5)), black)
		}
		bx += wd
	}
	return png.Encode(w, img)
}

// StageColors are the stage bar's colors, in Stages' order.
var StageColors = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := 1.0
	for p*10 < v {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for yy := r.Min.Y; yy < r.Max.Y; yy++ {
		for xx := r.Min.X; xx < r.Max.X; xx++ {
			img.SetRGBA(xx, yy, c)
		}
	}
}

// line draws a 2-pixel-wide line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0+1, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// digits is a 3x5 pixel font for 0-9, one row per 3 bits.
var digits = [10][5]uint8{
	{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
	{7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
}

// text draws the digits of s at (x, y), each pixel 2x2; other characters are skipped.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, ch := range s {
		if ch >= '0' && ch <= '9' {
			g := digits[ch-'0']
			for row := 0; row < 5; row++ {
				for col := 0; col < 3; col++ {
					if g[row]&(4>>col) != 0 {
						fill(img, image.Rect(x+2*col, y+2*row, x+2*col+2, y+2*row+2), c)
					}
				}
			}
		}
		x += 8
	}
}
