package views

import (
	"fmt"
	"time"
)

// RelativeTime says how far t is from now in words people scan quickly:
// "just now", "3 minutes ago", "in 5 days", "2 months ago". It rounds down, so
// "1 hour ago" means at least an hour. Months are 30 days and years 365: the
// exact time is always one hover away (see RelTime).
func RelativeTime(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	if d < time.Minute {
		return "just now"
	}
	var n int64
	var unit string
	switch {
	case d < time.Hour:
		n, unit = int64(d/time.Minute), "minute"
	case d < 24*time.Hour:
		n, unit = int64(d/time.Hour), "hour"
	case d < 30*24*time.Hour:
		n, unit = int64(d/(24*time.Hour)), "day"
	case d < 365*24*time.Hour:
		n, unit = int64(d/(30*24*time.Hour)), "month"
	default:
		n, unit = int64(d/(365*24*time.Hour)), "year"
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
