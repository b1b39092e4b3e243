package db

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestEvaluateActivityPosition: the first run looks back 24 hours; an hour
// is evaluated for the last time once it has settled, and never again; the
// position survives a restart.
func TestEvaluateActivityPosition(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newAnomalyFixture(t) // at H:10
		old, recent := f.key("old"), f.key("recent")
		for _, k := range []int64{old, recent} {
			f.exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, toMillis(hourTime(f.h-100)), k)
		}
		f.refusals(old, f.h-25, 50) // before the first run's look-back
		f.refusals(recent, f.h-24, 50)
		run := func(s *Store, step string, hours, final int) {
			t.Helper()
			rep, err := s.EvaluateActivity(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Hours != hours || rep.Final != final {
				t.Errorf("%s: got %d hours evaluated, %d final; want %d and %d", step, rep.Hours, rep.Final, hours, final)
			}
		}
		run(f.s, "first run", 25, 24)
		if got := f.alerts(0); len(got) != 1 || got[0].KeyID != recent {
			t.Fatalf("first run: got %+v, want one alert, on the key refused 24 hours ago", got)
		}
		run(f.s, "again at once", 1, 0)
		f.clock.Advance(50*time.Minute + 30*time.Second) // H+1:00:30: H has not settled
		run(f.s, "within the settling minute", 2, 0)
		f.clock.Advance(time.Minute)
		run(f.s, "after it", 2, 1)

		f.refusals(recent, f.h-24, 500) // an hour evaluated for the last time is never read again
		f.clock.Advance(5 * time.Minute)
		restarted := openAnomalyStore(t, f.target, f.clock)
		run(restarted, "after a restart", 1, 0)
		if got := f.alerts(0); len(got) != 1 || got[0].Occurrences != 1 {
			t.Fatalf("after a restart: got %+v, want the one alert, unchanged", got)
		}
		// A clock that went back evaluates nothing it already finished.
		f.clock.Advance(-3 * time.Hour)
		run(restarted, "clock set back", 0, 0)
	})
}

// TestEvaluateActivityTwoStores: two instances evaluating the same hours
// at once raise each alert once.
func TestEvaluateActivityTwoStores(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newAnomalyFixture(t)
		other := openAnomalyStore(t, f.target, f.clock)
		dead, spike, many := f.key("dead"), f.key("spike"), f.key("many")
		f.exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, toMillis(hourTime(f.h-100)), dead)
		for _, h := range []int64{f.h - 3, f.h - 2, f.h} {
			f.refusals(dead, h, 20)
			f.ips(dead, h, 0, 20, "203.0.113.1")
		}
		f.hours(spike, 700, f.h-1)
		f.ips(many, f.h, 1, 0, addresses(25)...)
		for range 2 {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, s := range []*Store{f.s, other} {
				wg.Go(func() { _, errs[i] = s.EvaluateActivity(ctx) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		got := f.alerts(0)
		rules := make([]string, len(got))
		for i, a := range got {
			rules[i] = a.Rule
		}
		slices.Sort(rules)
		if want := []string{RuleDeadKey, RuleManyAddresses, RuleSpike}; !slices.Equal(rules, want) {
			t.Fatalf("alerts: got %v, want one each of %v", rules, want)
		}
		for _, a := range got {
			wantOcc := int64(1)
			if a.Rule == RuleDeadKey {
				wantOcc = 3 // three hours with attempts, each added once
				if n := evidenceInt(a.Evidence, "attempts"); n != 60 {
					t.Errorf("dead key attempts: got %d, want 60", n)
				}
			}
			if a.Occurrences != wantOcc {
				t.Errorf("%s: got %d occurrences, want %d", a.Rule, a.Occurrences, wantOcc)
			}
		}
		if got := f.outboxAlerts(); got != 3 {
			t.Errorf("alert.opened events: got %d, want 3", got)
		}
	})
}

// TestEvaluateActivityRevokedKeyStory is the "done when": someone
// keeps calling with a key revoked last week, for four hours, from three
// addresses, while the job runs every five minutes and the flush fills the
// hour's buckets as it goes. The owner gets one alert that tells it all.
func TestEvaluateActivityRevokedKeyStory(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newAnomalyFixture(t)
		k := f.key("billing")
		f.exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, toMillis(f.clock.Now().Add(-7*24*time.Hour)), k)
		if _, err := f.s.EvaluateActivity(ctx); err != nil { // the job has been running all along
			t.Fatal(err)
		}
		f.clock.Advance(50 * time.Minute) // H+1:00
		hours := []struct {
			attempts int64
			ips      []string
		}{
			{301, []string{"198.51.100.23", "203.0.113.40"}},
			{302, []string{"198.51.100.23"}},
			{300, []string{"203.0.113.40", "192.0.2.77"}},
			{301, []string{"198.51.100.23", "192.0.2.77"}},
		}
		for i, hr := range hours {
			h := f.h + 1 + int64(i)
			for step := int64(1); step <= 12; step++ {
				n := hr.attempts * step / 12
				f.refusals(k, h, n)
				f.ips(k, h, 0, max(1, n/int64(len(hr.ips))), hr.ips...)
				f.clock.Advance(5 * time.Minute)
				if _, err := f.s.EvaluateActivity(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.clock.Advance(5 * time.Minute)
		if _, err := f.s.EvaluateActivity(ctx); err != nil {
			t.Fatal(err)
		}
		got := f.alerts(0)
		if len(got) != 1 {
			t.Fatalf("alerts: got %d, want 1", len(got))
		}
		a := got[0]
		if want := "A revoked key is still being used — 1,204 attempts from 3 addresses"; a.Summary != want || a.Status != AlertOpen {
			t.Errorf("alert: got %q (%s), want %q (open)", a.Summary, a.Status, want)
		}
		listed := evidenceStrings(a.Evidence, "addresses")
		slices.Sort(listed)
		if want := []string{"192.0.2.77", "198.51.100.23", "203.0.113.40"}; !slices.Equal(listed, want) {
			t.Errorf("addresses: got %v, want %v", listed, want)
		}
		if n := evidenceInt(a.Evidence, "attempts"); n != 1204 {
			t.Errorf("attempts: got %d, want 1204", n)
		}
		if got := f.outboxAlerts(); got != 1 {
			t.Errorf("alert.opened events: got %d, want 1", got)
		}
	})
}
