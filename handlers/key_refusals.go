package handlers

import (
	"cmp"
	"slices"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// usageChart stacks a key's refusals on its verifications, day by day
// (KeyUsage and KeyRefusals cover the same days); the codes of a day are
// listed most first, then by name.
func usageChart(usage []db.DayCount, refusals []db.DayRefusals) views.UsageChart {
	var c views.UsageChart
	for i, d := range usage {
		day := views.UsageDay{Day: d.Day, Count: d.Count}
		if i < len(refusals) && refusals[i].Day.Equal(d.Day) {
			r := refusals[i]
			day.Refusals = r.Total
			for code, n := range r.ByCode {
				day.Codes = append(day.Codes, views.CodeCount{Code: code, Count: n})
			}
			slices.SortFunc(day.Codes, func(a, b views.CodeCount) int {
				return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
			})
		}
		c.Days = append(c.Days, day)
		c.Total += day.Count
		c.Refusals += day.Refusals
		c.Max = max(c.Max, day.Count+day.Refusals)
	}
	return c
}
