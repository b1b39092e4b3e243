package views

import (
	"math"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// chartWithRefusals is chartDays with refusals on three days: one mixed,
// one of refusals only, one of two codes.
func chartWithRefusals() UsageChart {
	c := chartDays([]int64{0, 10, 0, 6, 0})
	set := func(i int, codes ...CodeCount) {
		for _, cc := range codes {
			c.Days[i].Refusals += cc.Count
			c.Refusals += cc.Count
		}
		c.Days[i].Codes = codes
		c.Max = max(c.Max, c.Days[i].Count+c.Days[i].Refusals)
	}
	set(1, CodeCount{"REVOKED", 10})
	set(2, CodeCount{"REVOKED", 1204})
	set(3, CodeCount{"EXPIRED", 2}, CodeCount{"INSUFFICIENT_SCOPE", 1})
	return c
}

func TestUsageGeometryStacked(t *testing.T) {
	g := usageGeometryFor(chartWithRefusals())
	if !g.Refusals {
		t.Fatalf("got Refusals false, want true")
	}
	baseline := attrFloat(t, g.BaselineY)
	tests := []struct {
		i                  int
		hasUses, hasRefuse bool
		total              float64 // the column's height
	}{
		{0, true, false, chartMinBar},
		{1, true, true, max(20.0/1204*chartPlot, 2*chartMinBar)},
		{2, false, true, chartPlot},
		{3, true, true, max(9.0/1204*chartPlot, 2*chartMinBar)},
	}
	for _, tt := range tests {
		b := g.Bars[tt.i]
		if b.HasUses != tt.hasUses || b.HasRefused != tt.hasRefuse {
			t.Errorf("day %d: got uses %v refused %v, want %v %v", tt.i, b.HasUses, b.HasRefused, tt.hasUses, tt.hasRefuse)
			continue
		}
		var usesH, refH float64
		top := baseline
		if tt.hasUses {
			usesH = attrFloat(t, b.Height)
			top = attrFloat(t, b.Y)
			if bottom := top + usesH; math.Abs(bottom-baseline) > 0.02 {
				t.Errorf("day %d: got verified bottom %v, want the baseline %v", tt.i, bottom, baseline)
			}
			if usesH < chartMinBar-0.01 {
				t.Errorf("day %d: got verified height %v, want at least %v", tt.i, usesH, chartMinBar)
			}
		}
		if tt.hasRefuse {
			refH = attrFloat(t, b.Refused.Height)
			if bottom := attrFloat(t, b.Refused.Y) + refH; math.Abs(bottom-top) > 0.02 {
				t.Errorf("day %d: got refused bottom %v, want it on the verified part's top %v", tt.i, bottom, top)
			}
			if refH < chartMinBar-0.01 {
				t.Errorf("day %d: got refused height %v, want at least %v", tt.i, refH, chartMinBar)
			}
			if b.Refused.Class != refusedBarClass {
				t.Errorf("day %d: got class %q, want %q", tt.i, b.Refused.Class, refusedBarClass)
			}
		}
		if got := usesH + refH; math.Abs(got-tt.total) > 0.03 {
			t.Errorf("day %d: got column height %v, want %v", tt.i, got, tt.total)
		}
	}
}

func TestUsageBarsRenderRefusals(t *testing.T) {
	doc, _ := renderKeysView(t, UsageBars(chartWithRefusals()))
	svg := doc.Find("svg[data-testid=usage-svg]")
	if got := strings.Join(strings.Fields(svg.ChildrenFiltered("desc").Text()), " "); got != "16 verifications and 1,217 refused in total." {
		t.Errorf("got desc %q", got)
	}
	if n := svg.Find(`rect[data-testid=usage-refused]`).Length(); n != 3 {
		t.Errorf("got %d refused segments, want 3", n)
	}
	if got := svg.Find(`rect[data-testid=usage-refused]`).Last().Find("title").Text(); got != "24 Nov 2026: 6 verifications, 3 refused (EXPIRED 2 · INSUFFICIENT_SCOPE 1)" {
		t.Errorf("got title %q", got)
	}
	legend := doc.Find("[data-testid=usage-legend]")
	if got := strings.Join(legend.Find("li").Map(func(_ int, li *goquery.Selection) string { return li.Text() }), " "); got != "Verified Refused" {
		t.Errorf("got legend %q, want Verified Refused", got)
	}
	if legend.Find(".bg-red-600.dark\\:bg-red-400").Length() != 1 {
		t.Errorf("got no red swatch matching the bars")
	}
	var rows []string
	doc.Find("[data-testid=usage-table] tbody tr").Each(func(_ int, tr *goquery.Selection) {
		rows = append(rows, strings.Join(tr.Find("td").Map(func(_ int, td *goquery.Selection) string { return strings.TrimSpace(td.Text()) }), " "))
	})
	want := []string{"21 Nov 2026 0 0 ", "22 Nov 2026 10 10 REVOKED 10", "23 Nov 2026 0 1,204 REVOKED 1,204",
		"24 Nov 2026 6 3 EXPIRED 2 · INSUFFICIENT_SCOPE 1", "25 Nov 2026 0 0 "}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Errorf("table rows:\ngot  %q\nwant %q", rows, want)
	}
	if n := doc.Find("[data-testid=usage-table] thead th").Length(); n != 4 {
		t.Errorf("got %d columns, want 4 (day, verifications, refused, by code)", n)
	}
}

func TestUsageBarsNoRefusalsNoLegend(t *testing.T) {
	doc, _ := renderKeysView(t, UsageBars(chartDays(thirtyCounts())))
	if doc.Find("[data-testid=usage-legend]").Length() != 0 || doc.Find("[data-testid=usage-table] thead th").Length() != 2 {
		t.Errorf("got a legend or refusal columns on a chart without refusals")
	}
}
