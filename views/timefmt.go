package views

import (
	"fmt"
	"time"
)

// RelativeTime says how far t is from now in words people scan quickly:
// "just now", "3 minutes ago", "in 5 days", "2 months ago". It rounds to
// the nearest unit (half up), and moves to the larger unit when the
// rounded count reaches it: a key created a moment ago to expire in 90
// days says "in 3 months", a 7-day invite "in 7 days", and 59 minutes 40
// seconds is "1 hour". Rounding down would make every fresh expiry read a
// unit short ("in 2 months", "in 6 days") and hide a deadline's size.
// Months are 30 days and years 365: the exact time is one hover away (see
// RelTime), and pages where a decision depends on the date show it too.
func RelativeTime(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	if d < time.Minute {
		return "just now"
	}
	const day = 24 * time.Hour
	units := []struct {
		size time.Duration
		next int64 // the count at which the next unit takes over; 0: none
		name string
	}{
		{time.Minute, 60, "minute"},
		{time.Hour, 24, "hour"},
		{day, 30, "day"},
		{30 * day, 12, "month"},
		{365 * day, 0, "year"},
	}
	var n int64
	var unit string
	for _, u := range units {
		// Half up, without adding to d: a zero time is ~292 years
		// away, at the very end of time.Duration's range.
		n, unit = int64(d/u.size), u.name
		if d%u.size >= u.size/2 {
			n++
		}
		if u.next == 0 || n < u.next {
			break
		}
	}
	if n != 1 {
		unit += "s"
	}
	if future {
		return fmt.Sprintf("in %d %s", n, unit)
	}
	return fmt.Sprintf("%d %s ago", n, unit)
}

// ExactTime is the unambiguous UTC form shown on hover and in audit lists,
// e.g. "2026-11-25 14:03:05 UTC".
func ExactTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// DateOnly is a short UTC date for expiry dates, e.g. "25 Nov 2026".
func DateOnly(t time.Time) string {
	return t.UTC().Format("2 Jan 2006")
}

// isoTime is the machine-readable datetime attribute of <time>.
func isoTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
