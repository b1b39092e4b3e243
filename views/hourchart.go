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

// hourBar is one hour's bar.
type hourBar struct {
	chartBar
	Title string // "25 Nov 14:00–15:00 UTC: 12 verifications"
	Hour  string // "25 Nov 14:00", for the data table
	Count string // "12", for the data table
}

// hourGeometry is everything hourchart.templ draws.
type hourGeometry struct {
	chartFrame
	Bars     []hourBar
	Ticks    []string // hour labels under the bars, one per column of TickCols
	TickCols string   // the grid class that spaces Ticks out under their bars
}

// hourGeometryFor lays out hours as bars (see layoutBars).
func hourGeometryFor(hours []UsageHour, peak int64) hourGeometry {
	counts := make([]int64, len(hours))
	for i, h := range hours {
		counts[i] = h.Count
	}
	frame, bars := layoutBars(counts, peak)
	g := hourGeometry{chartFrame: frame}
	if len(hours) == 0 {
		return g
	}
	g.Bars = make([]hourBar, len(hours))
	for i, h := range hours {
		g.Bars[i] = hourBar{
			chartBar: bars[i],
			Title:    hourSpan(h.Hour) + ": " + verifications(h.Count),
			Hour:     h.Hour.UTC().Format("2 Jan 15:04"),
			Count:    formatCount(h.Count),
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
