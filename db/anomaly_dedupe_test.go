package db

import (
	"testing"
	"time"
)

// TestAnomalyDeduplicates: evaluating an hour again raises nothing unless
// the finding grew; the next hour updates the open alert; once resolved,
// the same hour stays quiet and the next finding opens a new alert.
func TestAnomalyDeduplicates(t *testing.T) {
	cases := []struct {
		rule string
		// setup prepares the key; fire writes a finding of size n in hour h.
		setup      func(f *anomalyFixture, k int64)
		fire       func(f *anomalyFixture, k, h, n int64)
		small, big int64
		measure    string
		// afterNext is the measure once the next hour (small) was added.
		afterNext int64
	}{
		{RuleSpike, func(*anomalyFixture, int64) {},
			func(f *anomalyFixture, k, h, n int64) { f.hours(k, n, h) },
			200, 300, "uses", 200},
		{RuleManyAddresses, func(*anomalyFixture, int64) {},
			func(f *anomalyFixture, k, h, n int64) { f.ips(k, h, 1, 0, addresses(int(n))...) },
			21, 25, "address_count", 21},
		{RuleDeadKey, func(f *anomalyFixture, k int64) {
			f.exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, toMillis(f.clock.Now().Add(-7*24*time.Hour)), k)
		}, func(f *anomalyFixture, k, h, n int64) {
			f.refusals(k, h, n)
			f.ips(k, h, 0, n, "203.0.113.9")
		}, 10, 15, "attempts", 25},
	}
	forEachEngine(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.rule, func(t *testing.T) {
				f := newAnomalyFixture(t)
				k := f.key("api")
				c.setup(f, k)
				h := f.h
				check := func(step string, alerts int, occurrences, measure int64) testAlert {
					t.Helper()
					got := f.alerts(k)
					if len(got) != alerts {
						t.Fatalf("%s: got %d alerts, want %d", step, len(got), alerts)
					}
					a := got[len(got)-1]
					if a.Rule != c.rule || a.Occurrences != occurrences || evidenceInt(a.Evidence, c.measure) != measure {
						t.Fatalf("%s: got %s alert, %d occurrences, %s %v; want %s, %d, %d", step, a.Rule, a.Occurrences,
							c.measure, a.Evidence[c.measure], c.rule, occurrences, measure)
					}
					return a
				}

				c.fire(f, k, h, c.small)
				f.evaluate(h)
				first := check("first evaluation", 1, 1, c.small)
				f.clock.Advance(5 * time.Minute)
				f.evaluate(h)
				check("the same hour again", 1, 1, c.small)

				c.fire(f, k, h, c.big)
				f.clock.Advance(5 * time.Minute)
				f.evaluate(h)
				a := check("the hour grew", 1, 2, c.big)
				if a.LastSeen != toMillis(f.clock.Now()) || a.FirstSeen != first.FirstSeen {
					t.Errorf("after growing: got first/last seen %d/%d, want %d/%d", a.FirstSeen, a.LastSeen, first.FirstSeen, toMillis(f.clock.Now()))
				}
				f.evaluate(h)
				check("grown, again", 1, 2, c.big)

				f.clock.Advance(time.Hour)
				c.fire(f, k, h+1, c.small)
				f.evaluate(h + 1)
				a = check("the next hour while open", 1, 3, c.afterNext)
				if got, _ := evidenceHour(a.Evidence, map[bool]string{true: "last_hour", false: "hour"}[c.rule == RuleDeadKey]); got != h+1 {
					t.Errorf("evidence hour: got %d, want %d", got, h+1)
				}

				f.resolve()
				f.evaluate(h + 1)
				check("resolved, the same hour again", 1, 3, c.afterNext)

				f.clock.Advance(time.Hour)
				c.fire(f, k, h+2, c.small)
				f.evaluate(h + 2)
				check("resolved, the next hour", 2, 1, c.small)
				if got := f.outboxAlerts(); got != 2 {
					t.Errorf("alert.opened events: got %d, want 2", got)
				}
			})
		}
	})
}

func TestAnomalyDormantDeduplicates(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		f := newAnomalyFixture(t)
		k := f.key("api")
		f.hours(k, 1, f.h-24*60, f.h)
		f.evaluate(f.h)
		f.hours(k, 50, f.h) // more uses in the same hour: still the one return
		f.clock.Advance(5 * time.Minute)
		f.evaluate(f.h)
		if got := f.alerts(k); len(got) != 1 || got[0].Occurrences != 1 {
			t.Fatalf("evaluated twice: got %+v, want one alert with one occurrence", got)
		}
		f.resolve()
		f.evaluate(f.h)
		f.clock.Advance(time.Hour)
		f.hours(k, 1, f.h+1)
		f.evaluate(f.h + 1) // used an hour ago: not dormant
		if got := f.alerts(k); len(got) != 1 || got[0].Status != AlertResolved {
			t.Fatalf("after resolving: got %+v, want the one resolved alert", got)
		}
	})
}

// TestAnomalyDeadKeyAccumulates: while a dead-key alert is open, an hour
// under the threshold still adds its attempts and addresses; with no
// alert open, it opens none.
func TestAnomalyDeadKeyAccumulates(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		f := newAnomalyFixture(t)
		k := f.key("api")
		f.exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, toMillis(hourTime(f.h-100)), k)
		f.refusals(k, f.h-2, 3)
		f.ips(k, f.h-2, 0, 3, "192.0.2.1")
		f.evaluate(f.h - 2)
		if got := f.alerts(k); len(got) != 0 {
			t.Fatalf("under the threshold, nothing open: got %d alerts, want none", len(got))
		}
		f.refusals(k, f.h-1, 40)
		f.ips(k, f.h-1, 0, 40, "192.0.2.2", "192.0.2.3")
		f.evaluate(f.h - 1)
		f.refusals(k, f.h, 2)
		f.ips(k, f.h, 0, 2, "192.0.2.4")
		f.evaluate(f.h)
		got := f.alerts(k)
		if len(got) != 1 {
			t.Fatalf("alerts: got %d, want 1", len(got))
		}
		a := got[0]
		if want := "A revoked key is still being used — 42 attempts from 3 addresses"; a.Summary != want {
			t.Errorf("summary: got %q, want %q", a.Summary, want)
		}
		if fh, _ := evidenceHour(a.Evidence, "first_hour"); fh != f.h-1 {
			t.Errorf("first_hour: got %d, want %d", fh, f.h-1)
		}
		if got := evidenceStrings(a.Evidence, "addresses"); len(got) != 3 || got[2] != "192.0.2.4" {
			t.Errorf("addresses: got %v, want the three, the newest last", got)
		}
	})
}
