package views

import "time"

// The admin overview's 24-hour chart shares the key page's approach (see
// chart.go): a server-side SVG whose geometry is computed here, in Go, so
// it is testable, renders under the strict CSP and needs no JavaScript.

// hourTicks is how many times label the axis under the 24-hour chart: one
// every six hours fits the narrowest phone at the page's text size.
const hourTicks = 4

// hourTickCols lays the tick labels out in as many equal columns, each
// label at the left edge of the bar its column starts with. The classes are
// written out in full so Tailwind finds them.
var hourTickCols = [hourTicks + 1]string{"", "grid-cols-1", "grid-cols-2", "grid-cols-3", "grid-cols-4"}

// hourBar is one hour's bar, its numbers already formatted for attributes.
type hourBar struct {
	X, Y, Width, Height string
	Class               string
	Title               string // "25 Nov 14:00–15:00 UTC: 12 verifications"
	Hour                string // "25 Nov 14:00", for the data table
	Count               string // "12", for the data table
}

// hourGeometry is everything hourchart.templ draws.
type hourGeometry struct {
	ViewBox   string
	Width     string
	BaselineY string
	TopY      string
	Max       string // the busiest hour's count, labelled above the top gridline
	HasMax    bool   // false when every hour is zero: no gridline worth drawing
	Bars      []hourBar
	Ticks     []string // hour labels under the bars, one per column of TickCols
	TickCols  string   // the grid class that spaces Ticks out under their bars
}

// hourGeometryFor lays out hours as bars proportional to the busiest hour.
// max is trusted only when it covers every hour, so a handler that forgets
// to set it still gets a correct chart.
func hourGeometryFor(hours []UsageHour, peak int64) hourGeometry {
	for _, h := range hours {
		peak = max(peak, h.Count)
	}
	g := hourGeometry{
		ViewBox:   "0 0 " + chartNum(chartWidth) + " " + chartNum(chartHeight),
		Width:     chartNum(chartWidth),
		BaselineY: chartNum(chartBaseline),
		TopY:      chartNum(chartTop),
		Max:       formatCount(peak),
		HasMax:    peak > 0,
	}
	n := len(hours)
	if n == 0 {
		return g
	}
	slot := chartWidth / float64(n)
	gap := slot * chartGapRatio
	g.Bars = make([]hourBar, n)
	for i, h := range hours {
		height := chartMinBar
		class := emptyBarClass
		if h.Count > 0 && peak > 0 {
			height = max(float64(h.Count)/float64(peak)*chartPlot, chartMinBar)
			class = usedBarClass
		}
		g.Bars[i] = hourBar{
			X:      chartNum(float64(i)*slot + gap/2),
			Y:      chartNum(chartBaseline - height),
			Width:  chartNum(slot - gap),
			Height: chartNum(height),
			Class:  class,
			Title:  hourSpan(h.Hour) + ": " + verifications(h.Count),
			Hour:   h.Hour.UTC().Format("2 Jan 15:04"),
			Count:  formatCount(h.Count),
		}
	}
	g.Ticks = hourTickLabels(hours)
	g.TickCols = hourTickCols[len(g.Ticks)]
	return g
}

// hourTickLabels names the hour of the bar that starts each of hourTicks
// equal columns (every sixth hour of 24), fewer when there are fewer hours.
// The columns' left edges fall exactly on those bars when the number of
// hours divides evenly, as the handler's 24 always do. Where the window ends
// is said by a "now" at the right edge (see hourchart.templ).
func hourTickLabels(hours []UsageHour) []string {
	n := len(hours)
	ticks := min(n, hourTicks)
	labels := make([]string, ticks)
	for k := range ticks {
		labels[k] = hourClock(hours[k*n/ticks].Hour)
	}
	return labels
}

// hourClock is an axis label: the hour of the day in UTC ("14:00").
func hourClock(t time.Time) string {
	return t.UTC().Format("15:04")
}

// hourSpan names the hour a bar covers, "25 Nov 14:00–15:00 UTC".
func hourSpan(t time.Time) string {
	t = t.UTC()
	return t.Format("2 Jan 15:04") + "–" + t.Add(time.Hour).Format("15:04") + " UTC"
}
