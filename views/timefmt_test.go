package views

import (
	"testing"
	"time"
)

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 3, 5, 0, time.UTC)
	tests := []struct {
		name string
		d    time.Duration // t = now - d
		want string
	}{
		{"same instant", 0, "just now"},
		{"seconds ago", 59 * time.Second, "just now"},
		{"seconds ahead", -30 * time.Second, "just now"},
		{"one minute", time.Minute, "1 minute ago"},
		{"minutes", 3*time.Minute + 59*time.Second, "3 minutes ago"},
		{"one hour", time.Hour, "1 hour ago"},
		{"hours", 23*time.Hour + 59*time.Minute, "23 hours ago"},
		{"one day", 24 * time.Hour, "1 day ago"},
		{"days", 29 * 24 * time.Hour, "29 days ago"},
		{"one month", 30 * 24 * time.Hour, "1 month ago"},
		{"months", 75 * 24 * time.Hour, "2 months ago"},
		{"almost a year", 364 * 24 * time.Hour, "12 months ago"},
		{"one year", 365 * 24 * time.Hour, "1 year ago"},
		{"years", 3 * 365 * 24 * time.Hour, "3 years ago"},
		{"in minutes", -10 * time.Minute, "in 10 minutes"},
		{"in one hour", -time.Hour, "in 1 hour"},
		{"in days", -5 * 24 * time.Hour, "in 5 days"},
		{"in months", -90 * 24 * time.Hour, "in 3 months"},
		{"in a year", -400 * 24 * time.Hour, "in 1 year"},
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
