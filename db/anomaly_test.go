package db

import (
	"context"
	"testing"
	"time"
)

// Each rule fires exactly at its threshold, from synthetic history written
// into the hourly buckets, on a fake clock.

func TestAnomalySpikeThreshold(t *testing.T) {
	cases := []struct {
		name string
		// history: uses in each of the 168 hours before (0: none), and
		// busy: that many of those hours have 10,000 uses instead.
		history, busy, uses int64
		want                bool
		typical             int64
		// busyAgo moves the busy hours this many hours further back.
		busyAgo int64
	}{
		{"factor times the typical hour", 100, 0, 500, false, 100, 0},
		{"one more", 100, 0, 501, true, 100, 0},
		{"eight busy hours stay above the 95th percentile", 100, 8, 501, true, 100, 0},
		{"nine busy hours make the typical hour", 100, 9, 501, false, 10_000, 0},
		{"nine busy hours four days ago", 100, 9, 501, false, 10_000, 96},
		{"eight busy hours four days ago", 100, 8, 501, true, 100, 96},
		{"no history, under the minimum volume", 0, 0, 99, false, 0, 0},
		{"no history, at the minimum volume", 0, 0, 100, true, 0, 0},
	}
	forEachEngine(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := newAnomalyFixture(t)
				k := f.key("api")
				if c.history > 0 {
					f.hours(k, c.history, span(f.h-spikeWindow, f.h)...)
				}
				f.hours(k, 10_000, span(f.h-c.busyAgo-c.busy, f.h-c.busyAgo)...)
				f.hours(k, 1_000_000, f.h-spikeWindow-1) // a week and an hour ago: outside the window
				f.hours(k, c.uses, f.h)
				f.evaluate(f.h)
				got := f.alerts(k)
				if (len(got) == 1) != c.want || len(got) > 1 {
					t.Fatalf("alerts: got %d, want fired=%v", len(got), c.want)
				}
				if !c.want {
					return
				}
				a := got[0]
				if a.Rule != RuleSpike || evidenceInt(a.Evidence, "uses") != c.uses || evidenceInt(a.Evidence, "typical_hour") != c.typical {
					t.Errorf("alert: got %s %v, want spike with uses %d, typical_hour %d", a.Rule, a.Evidence, c.uses, c.typical)
				}
				if h, _ := evidenceHour(a.Evidence, "hour"); h != f.h {
					t.Errorf("evidence hour: got %d, want %d", h, f.h)
				}
			})
		}
	})
}

func TestAnomalySpikeSummary(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		f := newAnomalyFixture(t)
		k := f.key("api")
		f.hours(k, 120, span(f.h-spikeWindow, f.h)...)
		f.hours(k, 4210, f.h)
		f.evaluate(f.h)
		got := f.alerts(k)
		if len(got) != 1 {
			t.Fatalf("alerts: got %d, want 1", len(got))
		}
		if want := "Unusual traffic: 4,210 uses in an hour, typically 120"; got[0].Summary != want {
			t.Errorf("summary: got %q, want %q", got[0].Summary, want)
		}
		if got := got[0].Evidence["factor"]; got != 35.0 {
			t.Errorf("factor: got %v, want 35", got)
		}
	})
}

func TestAnomalyDormantThreshold(t *testing.T) {
	const days = 30
	cases := []struct {
		name string
		// lastHour: the last hour with uses, hours before H (0: none);
		// dailyOnly: recorded as a daily count only (before hourly buckets).
		lastHour  int64
		dailyOnly bool
		want      bool
		summary   string
	}{
		{"exactly the dormancy", 24 * days, false, false, ""},
		{"the dormancy and an hour", 24*days + 1, false, true, "Used again after 30 days without use"},
		{"45 days", 24 * 45, false, true, "Used again after 45 days without use"},
		{"first use ever", 0, false, false, ""},
		{"45 days, daily counts only", 24 * 45, true, true, ""},
		{"yesterday, daily counts only", 24, true, false, ""},
	}
	forEachEngine(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := newAnomalyFixture(t)
				k := f.key("api")
				if c.lastHour > 0 {
					last := f.h - c.lastHour
					f.day(k, last/24, 3)
					if !c.dailyOnly {
						f.hours(k, 3, last)
					}
				}
				f.hours(k, 1, f.h)
				f.day(k, f.h/24, 1)
				f.evaluate(f.h)
				got := f.alerts(k)
				if (len(got) == 1) != c.want || len(got) > 1 {
					t.Fatalf("alerts: got %d, want fired=%v", len(got), c.want)
				}
				if c.want && got[0].Rule != RuleDormantUse {
					t.Errorf("rule: got %s, want %s", got[0].Rule, RuleDormantUse)
				}
				if c.summary != "" && got[0].Summary != c.summary {
					t.Errorf("summary: got %q, want %q", got[0].Summary, c.summary)
				}
			})
		}
	})
}

func TestAnomalyDeadKeyThreshold(t *testing.T) {
	cases := []struct {
		name     string
		end      string        // "revoked", "expired" or "rolled"
		endAfter time.Duration // the end, from the start of the hour (negative: before it)
		refusals int64
		want     string // the summary; "" for no alert
	}{
		{"revoked, one under the minimum", "revoked", -7 * 24 * time.Hour, 9, ""},
		{"revoked, at the minimum", "revoked", -7 * 24 * time.Hour, 10,
			"A revoked key is still being used — 10 attempts from 1 address"},
		{"revoked as the hour began", "revoked", 0, 10,
			"A revoked key is still being used — 10 attempts from 1 address"},
		{"revoked during the hour", "revoked", 5 * time.Minute, 500, ""},
		{"expired", "expired", -time.Hour, 10, "An expired key is still being used — 10 attempts from 1 address"},
		{"expiring during the hour", "expired", time.Minute, 500, ""},
		{"rolled, grace over", "rolled", -2 * time.Hour, 12, "An expired key is still being used — 12 attempts from 1 address"},
	}
	forEachEngine(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := newAnomalyFixture(t)
				k := f.key("api")
				end := toMillis(hourTime(f.h).Add(c.endAfter))
				switch c.end {
				case "revoked":
					f.exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, end, k)
				case "expired":
					f.exec(`UPDATE api_keys SET expires_at = ? WHERE id = ?`, end, k)
				case "rolled": // rolled with no grace at the end: the old key expires then
					back := hourTime(f.h).Add(c.endAfter).Sub(f.clock.Now())
					f.clock.Advance(back)
					if _, _, _, err := f.s.RollKey(context.Background(), f.user.ID, k, 0, CLIActor()); err != nil {
						t.Fatal(err)
					}
					f.clock.Advance(-back)
				}
				f.refusals(k, f.h, c.refusals)
				f.ips(k, f.h, 0, c.refusals, "203.0.113.7")
				f.evaluate(f.h)
				got := f.alerts(k)
				if (len(got) == 1) != (c.want != "") || len(got) > 1 {
					t.Fatalf("alerts: got %d, want fired=%v", len(got), c.want != "")
				}
				if c.want != "" && got[0].Summary != c.want {
					t.Errorf("summary: got %q, want %q", got[0].Summary, c.want)
				}
			})
		}
	})
}

func TestAnomalyManyAddressesThreshold(t *testing.T) {
	cases := []struct {
		n    int
		want bool
	}{{20, false}, {21, true}, {40, true}}
	forEachEngine(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(grouped(int64(c.n)), func(t *testing.T) {
				f := newAnomalyFixture(t)
				k := f.key("api")
				f.hours(k, int64(c.n), f.h)
				f.ips(k, f.h, 1, 0, addresses(c.n)...)
				f.ips(k, f.h-1, 1, 0, addresses(50)...) // another hour's addresses do not count
				f.evaluate(f.h)
				got := f.alerts(k)
				if (len(got) == 1) != c.want || len(got) > 1 {
					t.Fatalf("alerts: got %d, want fired=%v", len(got), c.want)
				}
				if !c.want {
					return
				}
				listed := evidenceStrings(got[0].Evidence, "addresses")
				if evidenceInt(got[0].Evidence, "address_count") != int64(c.n) || len(listed) != min(c.n, maxListedAddresses) {
					t.Errorf("evidence: got count %v and %d listed, want %d and %d", got[0].Evidence["address_count"],
						len(listed), c.n, min(c.n, maxListedAddresses))
				}
				if want := "Used from " + grouped(int64(c.n)) + " addresses in one hour"; got[0].Summary != want {
					t.Errorf("summary: got %q, want %q", got[0].Summary, want)
				}
			})
		}
	})
}

// TestAnomalyRulesOff: a rule that is off finds nothing, whatever the
// history.
func TestAnomalyRulesOff(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		f := newAnomalyFixture(t)
		spike, dormant, dead, many := f.key("spike"), f.key("dormant"), f.key("dead"), f.key("many")
		f.hours(spike, 5000, f.h)
		f.hours(dormant, 1, f.h-24*90, f.h)
		f.day(dormant, (f.h-24*90)/24, 1)
		f.exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, toMillis(hourTime(f.h-48)), dead)
		f.refusals(dead, f.h, 100)
		f.hours(many, 30, f.h)
		f.ips(many, f.h, 1, 0, addresses(30)...)
		f.rules(func(r *ActivityRules) {
			r.SpikeOn, r.DormantOn, r.DeadKeyOn, r.ManyAddressesOn = false, false, false, false
		})
		f.evaluate(f.h)
		if got := f.alerts(0); len(got) != 0 {
			t.Fatalf("alerts with every rule off: got %d (%v), want none", len(got), got)
		}
		f.rules(func(r *ActivityRules) {})
		f.evaluate(f.h)
		if got := f.alerts(0); len(got) != 4 {
			t.Fatalf("alerts with every rule on: got %d, want 4 (one per rule)", len(got))
		}
	})
}
