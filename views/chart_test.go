package views

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chartDays builds a 30-day chart ending 25 Nov 2026 from counts.
func chartDays(counts []int64) UsageChart {
	var c UsageChart
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1-len(counts))
	for i, n := range counts {
		c.Days = append(c.Days, UsageDay{Day: start.AddDate(0, 0, i), Count: n})
		c.Total += n
		c.Max = max(c.Max, n)
	}
	return c
}

func thirtyCounts() []int64 {
	counts := make([]int64, 30)
	for i := range counts {
		counts[i] = int64((i * 7) % 13)
	}
	counts[29] = 12
	return counts
}

func attrFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("got attribute %q, want a number", s)
	}
	return v
}

func TestUsageBarsRender(t *testing.T) {
	counts := thirtyCounts()
	doc, html := renderKeysView(t, UsageBars(chartDays(counts)))

	svg := doc.Find("svg[data-testid=usage-svg]")
	if got, _ := svg.Attr("role"); got != "img" {
		t.Errorf("got role %q, want img", got)
	}
	if got, _ := svg.Attr("viewBox"); got == "" {
		t.Errorf("got no viewBox, want one so the chart scales")
	}
	labelled, _ := svg.Attr("aria-labelledby")
	if labelled != "usage-chart-title usage-chart-desc" {
		t.Errorf("got aria-labelledby %q, want the title and desc ids", labelled)
	}
	if got := svg.ChildrenFiltered("title#usage-chart-title").Text(); got != "Verifications per day, last 30 days" {
		t.Errorf("got title %q, want %q", got, "Verifications per day, last 30 days")
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	wantDesc := strconv.FormatInt(total, 10) + " verifications in total."
	if got := svg.ChildrenFiltered("desc#usage-chart-desc").Text(); got != wantDesc {
		t.Errorf("got desc %q, want %q", got, wantDesc)
	}

	rects := svg.Find("rect")
	if rects.Length() != 30 {
		t.Fatalf("got %d bars, want 30", rects.Length())
	}
	last := rects.Last()
	if got := last.Find("title").Text(); got != "25 Nov 2026: 12 verifications" {
		t.Errorf("got last bar title %q, want %q", got, "25 Nov 2026: 12 verifications")
	}
	if got, _ := last.Attr("class"); !strings.Contains(got, "fill-indigo-500") || !strings.Contains(got, "dark:fill-indigo-400") {
		t.Errorf("got bar class %q, want the indigo fill classes", got)
	}
	// Labels are HTML beside the stretched SVG, so they keep the page's
	// text size on a phone.
	if n := svg.Find("text").Length(); n != 0 {
		t.Errorf("got %d SVG <text> labels, want 0 (labels are HTML)", n)
	}
	if got, _ := svg.Attr("preserveAspectRatio"); got != "none" {
		t.Errorf("got preserveAspectRatio %q, want none", got)
	}
	axis := doc.Find("[data-testid=usage-axis]")
	if got, _ := axis.Attr("aria-hidden"); got != "true" {
		t.Errorf("got axis aria-hidden %q, want true (the table has the days)", got)
	}
	labels := axis.Find("span")
	if got := labels.First().Text(); got != "27 Oct" {
		t.Errorf("got first axis label %q, want 27 Oct", got)
	}
	if got := labels.Last().Text(); got != "25 Nov" {
		t.Errorf("got last axis label %q, want 25 Nov", got)
	}
	if got := strings.Join(strings.Fields(doc.Find("[data-testid=usage-peak]").Text()), " "); got != "Peak 12 a day" {
		t.Errorf("got peak label %q, want Peak 12 a day", got)
	}

	table := doc.Find("details table[data-testid=usage-table]")
	rows := table.Find("tbody tr")
	if rows.Length() != 30 {
		t.Fatalf("got %d table rows, want 30", rows.Length())
	}
	cells := rows.Last().Find("td")
	if day, n := cells.Eq(0).Text(), cells.Eq(1).Text(); day != "25 Nov 2026" || n != "12" {
		t.Errorf("got last table row %q, %q, want 25 Nov 2026, 12", day, n)
	}
	if strings.Contains(html, "style=") {
		t.Errorf("got a style attribute, want Tailwind classes only")
	}
}

func TestUsageGeometryProportional(t *testing.T) {
	counts := thirtyCounts()
	g := usageGeometryFor(chartDays(counts))
	if len(g.Bars) != 30 {
		t.Fatalf("got %d bars, want 30", len(g.Bars))
	}
	baseline := attrFloat(t, g.BaselineY)
	for i, b := range g.Bars {
		h := attrFloat(t, b.Height)
		want := float64(counts[i]) / 12 * chartPlot
		if counts[i] == 0 {
			want = chartMinBar
		}
		if math.Abs(h-want) > 0.01 {
			t.Errorf("bar %d (count %d): got height %v, want %v", i, counts[i], h, want)
		}
		if y := attrFloat(t, b.Y); math.Abs(y+h-baseline) > 0.01 {
			t.Errorf("bar %d: got bottom %v, want it on the baseline %v", i, y+h, baseline)
		}
		wantClass := usedBarClass
		if counts[i] == 0 {
			wantClass = emptyBarClass
		}
		if b.Class != wantClass {
			t.Errorf("bar %d (count %d): got class %q, want %q", i, counts[i], b.Class, wantClass)
		}
		if i > 0 && attrFloat(t, b.X) <= attrFloat(t, g.Bars[i-1].X) {
			t.Errorf("bar %d: got x %s not after bar %d's %s", i, b.X, i-1, g.Bars[i-1].X)
		}
	}
	if got := attrFloat(t, g.Bars[29].Height); got != chartPlot {
		t.Errorf("got tallest bar %v, want the full plot height %v", got, chartPlot)
	}
}

func TestUsageGeometryEdgeCases(t *testing.T) {
	tests := []struct {
		name       string
		chart      UsageChart
		wantBars   int
		wantHeight []float64
		wantMax    bool
	}{
		{"no days", UsageChart{}, 0, nil, false},
		{"all zero", chartDays([]int64{0, 0, 0}), 3, []float64{1, 1, 1}, false},
		{"max left unset", func() UsageChart { c := chartDays([]int64{5, 10}); c.Max = 0; return c }(), 2, []float64{chartPlot / 2, chartPlot}, true},
		{"tiny day keeps a visible bar", chartDays([]int64{1, 100000}), 2, []float64{chartMinBar, chartPlot}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := usageGeometryFor(tt.chart)
			if len(g.Bars) != tt.wantBars {
				t.Fatalf("got %d bars, want %d", len(g.Bars), tt.wantBars)
			}
			for i, want := range tt.wantHeight {
				if got := attrFloat(t, g.Bars[i].Height); math.Abs(got-want) > 0.01 {
					t.Errorf("bar %d: got height %v, want %v", i, got, want)
				}
			}
			if g.HasMax != tt.wantMax {
				t.Errorf("got HasMax %v, want %v", g.HasMax, tt.wantMax)
			}
		})
	}
}

func TestUsageBarsWithoutData(t *testing.T) {
	doc, _ := renderKeysView(t, UsageBars(UsageChart{}))
	if n := doc.Find("svg, [data-testid=usage-table]").Length(); n != 0 {
		t.Errorf("got %d chart elements without data, want 0", n)
	}
	if got := doc.Find("[data-testid=usage-chart]").Text(); !strings.Contains(got, "No usage data yet.") {
		t.Errorf("got %q, want the no-data message", got)
	}
}

func TestFormatCount(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {123456, "123,456"}, {1234567, "1,234,567"}, {-4200, "-4,200"},
	}
	for _, tt := range tests {
		if got := formatCount(tt.n); got != tt.want {
			t.Errorf("formatCount(%d): got %q, want %q", tt.n, got, tt.want)
		}
	}
	for n, want := range map[int64]string{0: "0 verifications", 1: "1 verification", 2500: "2,500 verifications"} {
		if got := verifications(n); got != want {
			t.Errorf("verifications(%d): got %q, want %q", n, got, want)
		}
	}
}
