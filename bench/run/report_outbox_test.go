package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestWriteOutbox renders the notification rows and section from the
// figures of a real run and checks what a reader relies on: the events a
// second, both medians and the verdict against the load without webhooks.
func TestWriteOutbox(t *testing.T) {
	rounds := []newAddrRound{
		{Off: wrkResult{RPS: 13384}, On: wrkResult{RPS: 11621}, Bare: wrkResult{RPS: 23525}, RatioOff: 0.57, RatioOn: 0.49, Delivered: 1149},
		{Off: wrkResult{RPS: 15237}, On: wrkResult{RPS: 12858}, Bare: wrkResult{RPS: 21952}, RatioOff: 0.69, RatioOn: 0.59, Delivered: 1276, PendingAfter: 1},
		{Off: wrkResult{RPS: 11708}, On: wrkResult{RPS: 12819}, Bare: wrkResult{RPS: 23080}, RatioOff: 0.51, RatioOn: 0.56, Delivered: 1270, PendingAfter: 10},
	}
	tests := []struct {
		name     string
		on       float64
		want     []string
		unwanted string
	}{
		{"unchanged", 0.56, []string{"| 1282 events/s |", "median of 3 rounds; without the webhook 0.57 | 0.56 |", "| MEETS |",
			"Within one round's spread", "(125 a second of load)", "| 2 | 15237 | 12858 | 21952 | 0.69 | 0.59 | 1276 | 1 |"}, "MISSES"},
		{"lower", 0.40, []string{"| 0.40 |", "MISSES by 0.09", "Lower by 0.17"}, "Within one round's spread"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &harness{res: &results{Outbox: outboxResult{Events: 5000, Drain: 3900 * time.Millisecond,
				Span: 3140 * time.Millisecond, EventsPerSec: 1282, NewAddr: rounds, MedianOff: 0.57, MedianOn: tt.on,
				NewAddrEvents: 3754, RoundTime: 10 * time.Second}}}
			var b strings.Builder
			w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
			h.writeOutboxSummary(w)
			h.writeOutbox(w)
			got := b.String()
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("missing %q in:\n%s", want, got)
				}
			}
			if strings.Contains(got, tt.unwanted) {
				t.Errorf("got %q, want it absent:\n%s", tt.unwanted, got)
			}
			if strings.Contains(got, "%!") {
				t.Errorf("a format verb went wrong:\n%s", got)
			}
		})
	}
}
