package views

import "time"

// The admin overview's 24-hour chart shares the key page's approach (see
// chart.go): a server-side SVG whose geometry is computed here, in Go, so
// it is testable, renders under the strict CSP and needs no JavaScript.

// hourLabelEvery puts an hour label under every sixth bar: four or five
// labels fit the narrowest screen without overlapping.
const hourLabelEvery = 6

// hourBar is one hour's bar, its numbers already formatted for attributes.
type hourBar struct {
	X, Y, Width, Height string
	Class               string
	Title               string // "25 Nov 14:00–15:00 UTC: 12 verifications"
	Hour                string // "25 Nov 14:00", for the data table
	Count               string // "12", for the data table
}

// axisLabel is one label under the bars.
type axisLabel struct {
	X      string
	Anchor string // text-anchor: "start", "middle" or "end"
	Text   string
}

// hourGeometry is everything hourchart.templ draws.
type hourGeometry struct {
	ViewBox   string
	Width     string
	BaselineY string
	TopY      string
	LabelY    string
	Max       string // scale label at the top gridline
	HasMax    bool   // false when every hour is zero: no gridline worth drawing
	Bars      []hourBar
	Labels    []axisLabel
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
		LabelY:    chartNum(chartHeight - 6),
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
	g.Labels = hourLabels(hours, slot)
	return g
}

// hourLabels names every sixth hour under its bar, plus the last hour at
// the right edge, so the reader sees where the window starts and ends.
// Labels at the edges are anchored inward so they are never cut off.
func hourLabels(hours []UsageHour, slot float64) []axisLabel {
	n := len(hours)
	var labels []axisLabel
	for i := 0; i < n; i += hourLabelEvery {
		if i > 0 && n-1-i < hourLabelEvery/2 {
			break // too close to the last label
		}
		l := axisLabel{X: chartNum(float64(i)*slot + slot/2), Anchor: "middle", Text: hourClock(hours[i].Hour)}
		if i == 0 {
			l.X, l.Anchor = "0", "start"
		}
		labels = append(labels, l)
	}
	if n > 1 {
		labels = append(labels, axisLabel{X: chartNum(chartWidth), Anchor: "end", Text: hourClock(hours[n-1].Hour)})
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
