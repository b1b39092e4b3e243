package views

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The usage chart is drawn on the server as a plain SVG so a key page needs
// neither a chart library nor JavaScript, and renders under the strict CSP.
// The geometry is computed here, in Go, where it can be tested; chart.templ
// only writes the numbers out.
//
// The SVG holds only shapes. It is stretched to its box
// (preserveAspectRatio="none"), so it keeps a readable height on a phone
// and does not grow tall on a wide screen; text inside it would be
// stretched and scaled with it (to ~6 px on a phone), so the date and peak
// labels are HTML around it, at the page's own text size.
const (
	chartWidth    = 600.0 // viewBox units; the SVG scales to its container
	chartTop      = 2.0   // the peak gridline, just inside the top edge
	chartPlot     = 112.0 // height of the tallest bar
	chartBaseline = chartTop + chartPlot
	chartHeight   = chartBaseline + 1.0 // room for the baseline's stroke
	chartGapRatio = 0.25                // share of each slot left empty between bars
	chartMinBar   = 1.0                 // a zero day still shows a 1-unit baseline
)

// Bar colours: days with traffic in the brand colour, empty days as a faint
// baseline so a gap in usage reads as a gap rather than as missing data.
const (
	usedBarClass  = "fill-indigo-500 dark:fill-indigo-400"
	emptyBarClass = "fill-slate-300 dark:fill-slate-600"
	// Refusals sit on top of the day's verifications in red: red-600 on
	// white and red-400 on slate-900 both clear 3:1 (WCAG 1.4.11), and
	// differ from the indigo below them in lightness too.
	refusedBarClass = "fill-red-600 dark:fill-red-400"
)

// chartFrame is the part of the SVG both charts (days on the key page,
// hours on the admin overview) share: the viewBox, the baseline, and the
// peak gridline with its label.
type chartFrame struct {
	ViewBox   string
	Width     string
	BaselineY string
	TopY      string
	Max       string // the busiest bar's count, labelled above the top gridline
	HasMax    bool   // false when every bar is zero: no gridline worth drawing
}

// chartBar is one bar's rectangle and colour, formatted for attributes.
type chartBar struct {
	X, Y, Width, Height string
	Class               string
}

// layoutBars lays counts out as bars whose heights are proportional to the
// busiest one. peak is trusted only when it covers every count, so a
// handler that forgets to set it still gets a correct chart.
func layoutBars(counts []int64, peak int64) (chartFrame, []chartBar) {
	for _, c := range counts {
		peak = max(peak, c)
	}
	f := chartFrame{
		ViewBox:   "0 0 " + chartNum(chartWidth) + " " + chartNum(chartHeight),
		Width:     chartNum(chartWidth),
		BaselineY: chartNum(chartBaseline),
		TopY:      chartNum(chartTop),
		Max:       formatCount(peak),
		HasMax:    peak > 0,
	}
	if len(counts) == 0 {
		return f, nil
	}
	slot := chartWidth / float64(len(counts))
	gap := slot * chartGapRatio
	bars := make([]chartBar, len(counts))
	for i, c := range counts {
		h := chartMinBar
		class := emptyBarClass
		if c > 0 && peak > 0 {
			h = max(float64(c)/float64(peak)*chartPlot, chartMinBar)
			class = usedBarClass
		}
		bars[i] = chartBar{
			X:      chartNum(float64(i)*slot + gap/2),
			Y:      chartNum(chartBaseline - h),
			Width:  chartNum(slot - gap),
			Height: chartNum(h),
			Class:  class,
		}
	}
	return f, bars
}

// usageBar is one day's column: the verifications (chartBar) with the
// refusals stacked on top (Refused, when HasRefused).
type usageBar struct {
	chartBar
	// HasUses: the verifications' part is drawn; false on a day with
	// refusals only (its column is all red).
	HasUses    bool
	Refused    chartBar
	HasRefused bool
	Title      string // "25 Nov 2026: 12 verifications, 3 refused (REVOKED 3)"
	Day        string // "25 Nov 2026", for the data table
	Count      string // "12", for the data table
	Refusals   string // "3"
	Codes      string // "REVOKED 3 · EXPIRED 1"; "" without refusals
}

// usageGeometry is everything chart.templ draws.
type usageGeometry struct {
	chartFrame
	FirstLabel string // date under the first bar
	LastLabel  string // date under the last bar
	Bars       []usageBar
	// Refusals: some day has refusals, so the legend and the table's
	// refusal columns are shown.
	Refusals bool
}

// usageGeometryFor lays out c's days as columns of verifications and
// refusals stacked (see layoutBars): a column's height is the day's
// attempts, split between the two in proportion.
func usageGeometryFor(c UsageChart) usageGeometry {
	counts := make([]int64, len(c.Days))
	for i, d := range c.Days {
		counts[i] = d.Count + d.Refusals
	}
	frame, bars := layoutBars(counts, c.Max)
	g := usageGeometry{chartFrame: frame}
	if len(c.Days) == 0 {
		return g
	}
	g.FirstLabel = shortDay(c.Days[0].Day)
	g.LastLabel = shortDay(c.Days[len(c.Days)-1].Day)
	g.Bars = make([]usageBar, len(c.Days))
	for i, d := range c.Days {
		b := usageBar{
			chartBar: bars[i], HasUses: true,
			Title:    DateOnly(d.Day) + ": " + verifications(d.Count),
			Day:      DateOnly(d.Day),
			Count:    formatCount(d.Count),
			Refusals: formatCount(d.Refusals),
			Codes:    refusalCodes(d.Codes),
		}
		if d.Refusals > 0 {
			g.Refusals = true
			b.Title += ", " + formatCount(d.Refusals) + " refused (" + b.Codes + ")"
			h := attrNum(b.Height)
			refH := max(h*float64(d.Refusals)/float64(counts[i]), chartMinBar)
			if d.Count > 0 {
				// Both parts stay visible, however small the day.
				h = max(h, 2*chartMinBar)
				refH = min(max(h*float64(d.Refusals)/float64(counts[i]), chartMinBar), h-chartMinBar)
			}
			top := chartBaseline - h
			usesH := h - refH
			b.Refused = chartBar{X: b.X, Width: b.Width, Y: chartNum(top), Height: chartNum(refH), Class: refusedBarClass}
			b.HasRefused = true
			b.HasUses = d.Count > 0 && usesH > 0
			b.Y, b.Height = chartNum(top+refH), chartNum(usesH)
		}
		g.Bars[i] = b
	}
	return g
}

// refusalCodes writes a day's refusals by code, most first.
func refusalCodes(codes []CodeCount) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = c.Code + " " + formatCount(c.Count)
	}
	return strings.Join(parts, " · ")
}

// attrNum reads back a coordinate chartNum wrote.
func attrNum(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// chartNum formats an SVG coordinate with at most two decimals: enough
// precision for a crisp bar, short enough to keep the markup small.
func chartNum(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// shortDay is an axis label: the day and month, the year being in every
// bar's title and in the data table.
func shortDay(t time.Time) string {
	return t.UTC().Format("2 Jan")
}

// verifications says "1 verification" or "1,204 verifications".
func verifications(n int64) string {
	if n == 1 {
		return "1 verification"
	}
	return formatCount(n) + " verifications"
}

// formatCount groups thousands with commas ("12,345") so large counts stay
// readable in titles, tables and the card heading.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
