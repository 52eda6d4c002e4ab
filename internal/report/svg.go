package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units; the page scales the SVG to its width.
const (
	chartW      = 960
	chartH      = 260
	marginLeft  = 64
	marginRight = 16
	marginTop   = 16
	marginBot   = 36
	yTicks      = 5
)

// palette is colour-blind safe (Okabe–Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}

// series is one line of a line chart: a value per x position; NaN leaves a gap.
type series struct {
	Name   string
	Values []float64
}

// lineChart draws series over the dates xs as an SVG element. Every series becomes one
// <polyline class="series"> whose data-points attribute counts its drawn points.
func lineChart(label, unit string, xs []string, ss []series) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, html.EscapeString(label))
	hi := 0.0
	for _, s := range ss {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				hi = max(hi, v)
			}
		}
	}
	top := niceCeil(hi)
	plotW := float64(chartW - marginLeft - marginRight)
	plotH := float64(chartH - marginTop - marginBot)
	x := func(i int) float64 {
		if len(xs) <= 1 {
			return marginLeft + plotW/2
		}
		return marginLeft + plotW*float64(i)/float64(len(xs)-1)
	}
	y := func(v float64) float64 { return marginTop + plotH*(1-v/top) }

	// Grid and y labels.
	for i := 0; i <= yTicks; i++ {
		v := top * float64(i) / yTicks
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, marginLeft, chartW-marginRight, y(v), y(v))
		fmt.Fprintf(&b, `<text class="ylabel" x="%d" y="%.1f">%s</text>`, marginLeft-6, y(v)+4, html.EscapeString(formatNumber(v)+unit))
	}
	// X labels: the first day of each month, or every date when there are few.
	for i, d := range xs {
		if len(xs) > 31 && !strings.HasSuffix(d, "-01") {
			continue
		}
		text := d
		if len(xs) > 31 {
			text = d[:7]
		}
		fmt.Fprintf(&b, `<line class="tick" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x(i), x(i), chartH-marginBot, chartH-marginBot+4)
		fmt.Fprintf(&b, `<text class="xlabel" x="%.1f" y="%d">%s</text>`, x(i), chartH-marginBot+18, html.EscapeString(text))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`, marginLeft, chartW-marginRight, chartH-marginBot, chartH-marginBot)

	legendX := marginLeft + 12
	for si, s := range ss {
		colour := palette[si%len(palette)]
		var pts strings.Builder
		n := 0
		for i, v := range s.Values {
			if math.IsNaN(v) || i >= len(xs) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(v))
			n++
		}
		fmt.Fprintf(&b, `<polyline class="series" data-series="%s" data-points="%d" fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`,
			html.EscapeString(s.Name), n, colour, strings.TrimSpace(pts.String()))
		if n <= 62 { // few points: mark each so a single day still shows
			for i, v := range s.Values {
				if !math.IsNaN(v) && i < len(xs) {
					fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s %s: %s</title></circle>`,
						x(i), y(v), colour, html.EscapeString(s.Name), html.EscapeString(xs[i]), html.EscapeString(formatNumber(v)+unit))
				}
			}
		}
		// Legend, top left inside the plot.
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text class="legend" x="%d" y="%d">%s</text>`,
			legendX, marginTop+6, colour, legendX+16, marginTop+10, html.EscapeString(s.Name))
		legendX += 16 + 7*len(s.Name) + 24 // about 7 units per character at the legend's size
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// bar is one horizontal bar: a share in [0, 1] and the text shown beside it.
type bar struct {
	Label string
	Share float64
	Text  string
}

// barChart draws horizontal bars of shares as an SVG element, one <rect class="bar"> per bar.
func barChart(label string, bars []bar) string {
	const rowH, labelW, textW = 22, 150, 300
	h := rowH*len(bars) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart bars" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, h, html.EscapeString(label))
	plotW := float64(chartW - labelW - textW)
	for i, br := range bars {
		y := 4 + i*rowH
		w := plotW * min(max(br.Share, 0), 1)
		fmt.Fprintf(&b, `<text class="blabel" x="%d" y="%d">%s</text>`, labelW-8, y+15, html.EscapeString(br.Label))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
			labelW, y+3, w, rowH-6, palette[i%len(palette)], html.EscapeString(br.Label+": "+br.Text))
		fmt.Fprintf(&b, `<text class="btext" x="%.1f" y="%d">%s</text>`, float64(labelW)+w+6, y+15, html.EscapeString(br.Text))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// niceCeil rounds v up to 1, 2, 2.5, 4 or 5 times a power of ten, so axis labels are round; 1 for v ≤ 0.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 4, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// formatNumber writes v with thousands separators, and with two decimals when it is not whole.
func formatNumber(v float64) string {
	if v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return formatInt(int64(v))
}

func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
