package views

import (
	"testing"
	"time"
)

// TestRelativeTime pins the rounding: to the nearest unit, half up, and on
// to the next unit when the count reaches it. d is how long ago t is
// (negative: in the future).
func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 3, 5, 0, time.UTC)
	const day = 24 * time.Hour
	tests := []struct {
		name string
		d    time.Duration // t = now - d
		want string
	}{
		{"same instant", 0, "just now"},
		{"seconds ago", 59 * time.Second, "just now"},
		{"seconds ahead", -30 * time.Second, "just now"},
		{"one minute", time.Minute, "1 minute ago"},
		{"minutes, rounded up", 3*time.Minute + 30*time.Second, "4 minutes ago"},
		{"minutes, rounded down", 3*time.Minute + 29*time.Second, "3 minutes ago"},
		{"59 minutes 29 s", 59*time.Minute + 29*time.Second, "59 minutes ago"},
		{"59 minutes 40 s is an hour", 59*time.Minute + 40*time.Second, "1 hour ago"},
		{"in 59 minutes 40 s", -(59*time.Minute + 40*time.Second), "in 1 hour"},
		{"one hour", time.Hour, "1 hour ago"},
		{"an hour and a half", 90 * time.Minute, "2 hours ago"},
		{"hours", 23*time.Hour + 29*time.Minute, "23 hours ago"},
		{"23 h 30 min is a day", 23*time.Hour + 30*time.Minute, "1 day ago"},
		{"a day minus a second", day - time.Second, "1 day ago"},
		{"in a day minus a second", -(day - time.Second), "in 1 day"},
		{"one day", day, "1 day ago"},
		{"a day and a half", 36 * time.Hour, "2 days ago"},
		{"in 6.5 days", -(6*day + 12*time.Hour), "in 7 days"},
		{"in 6 days 11 h", -(6*day + 11*time.Hour), "in 6 days"},
		{"in 7 days minus a minute (a fresh invite)", -(7*day - time.Minute), "in 7 days"},
		{"in 7 days", -7 * day, "in 7 days"},
		{"days", 29 * day, "29 days ago"},
		{"29.5 days is a month", 29*day + 12*time.Hour, "1 month ago"},
		{"one month", 30 * day, "1 month ago"},
		{"a month and a half", 45 * day, "2 months ago"},
		{"months", 75 * day, "3 months ago"},
		{"in 89.9 days (a fresh 90-day key)", -(89*day + 21*time.Hour + 36*time.Minute), "in 3 months"},
		{"in 90 days", -90 * day, "in 3 months"},
		{"in 74 days", -74 * day, "in 2 months"},
		{"11 months", 330 * day, "11 months ago"},
		{"almost a year", 364 * day, "1 year ago"},
		{"one year", 365 * day, "1 year ago"},
		{"a year and a half", 548 * day, "2 years ago"},
		{"years", 3 * 365 * day, "3 years ago"},
		{"in minutes", -10 * time.Minute, "in 10 minutes"},
		{"in one hour", -time.Hour, "in 1 hour"},
		{"in days", -5 * day, "in 5 days"},
		{"in months", -90 * day, "in 3 months"},
		{"in a year", -400 * day, "in 1 year"},
		// now.Sub saturates: a zero time is the largest Duration, which
		// must not wrap around when rounded.
		{"the zero time", now.Sub(time.Time{}), "292 years ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RelativeTime(now.Add(-tt.d), now); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExactTimeAndDateOnly(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name      string
		t         time.Time
		wantExact string
		wantDate  string
	}{
		{"utc", time.Date(2026, 11, 25, 14, 3, 5, 0, time.UTC), "2026-11-25 14:03:05 UTC", "25 Nov 2026"},
		{"single-digit day", time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC), "2027-01-05 00:00:00 UTC", "5 Jan 2027"},
		{"other zone shown in utc", time.Date(2026, 12, 1, 0, 30, 0, 0, berlin), "2026-11-30 23:30:00 UTC", "30 Nov 2026"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExactTime(tt.t); got != tt.wantExact {
				t.Errorf("ExactTime: got %q, want %q", got, tt.wantExact)
			}
			if got := DateOnly(tt.t); got != tt.wantDate {
				t.Errorf("DateOnly: got %q, want %q", got, tt.wantDate)
			}
		})
	}
}
