package db

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// anomalyFixture is a store on a fake clock set to the start of an hour
// plus ten minutes, with one user whose keys the tests write synthetic
// history for, straight into the buckets the usage flush fills.
type anomalyFixture struct {
	t     *testing.T
	s     *Store
	clock *fakeClock
	user  User
	// target is the database, for a second store on it (a restart,
	// another instance).
	target string
	// h is the current hour (hours since the epoch).
	h int64
}

// openAnomalyStore opens a store on target with the fake clock, closed
// when the test ends.
func openAnomalyStore(t *testing.T, target string, clock *fakeClock) *Store {
	t.Helper()
	s, err := Open(context.Background(), target, Options{Argon2: testArgon2, Now: clock.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newAnomalyFixture(t *testing.T) *anomalyFixture {
	t.Helper()
	clock := newFakeClock()
	now := clock.Now()
	clock.Advance(now.Truncate(time.Hour).Add(10 * time.Minute).Sub(now))
	target := engineOf(t)(t)
	s := openAnomalyStore(t, target, clock)
	f := &anomalyFixture{t: t, s: s, clock: clock, target: target, h: hourNumber(clock.Now())}
	f.user = mustCreateUser(t, s, "owner@example.com", RoleMember)
	return f
}

// key creates a key created 60 days ago.
func (f *anomalyFixture) key(name string) int64 {
	f.t.Helper()
	k, _, err := f.s.CreateKey(context.Background(), f.user.ID, KeyInput{Name: name}, CLIActor())
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(`UPDATE api_keys SET created_at = ? WHERE id = ?`, toMillis(f.clock.Now().Add(-60*24*time.Hour)), k.ID)
	return k.ID
}

func (f *anomalyFixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.s.w.ExecContext(context.Background(), q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// hours sets a key's uses in each hour of hours (replacing any bucket).
func (f *anomalyFixture) hours(keyID int64, uses int64, hours ...int64) {
	f.t.Helper()
	for i := 0; i < len(hours); i += 200 {
		chunk := hours[i:min(i+200, len(hours))]
		args := make([]any, 0, 4*len(chunk))
		for _, h := range chunk {
			args = append(args, keyID, h, uses, 0)
		}
		f.exec(`INSERT INTO key_usage_hourly (key_id, hour, uses, refusals) VALUES `+valuesList(len(chunk), 4)+
			` ON CONFLICT (key_id, hour) DO UPDATE SET uses = excluded.uses`, args...)
	}
}

// refusals sets a key's refusals in hour h.
func (f *anomalyFixture) refusals(keyID, h, n int64) {
	f.t.Helper()
	f.exec(`INSERT INTO key_usage_hourly (key_id, hour, uses, refusals) VALUES (?, ?, 0, ?)
		ON CONFLICT (key_id, hour) DO UPDATE SET refusals = excluded.refusals`, keyID, h, n)
}

// day sets a key's daily count on day d.
func (f *anomalyFixture) day(keyID, d, n int64) {
	f.t.Helper()
	f.exec(`INSERT INTO key_usage_daily (key_id, day, count) VALUES (?, ?, ?)
		ON CONFLICT (key_id, day) DO UPDATE SET count = excluded.count`, keyID, d, n)
}

// ips sets a key's addresses in hour h, each with uses and refusals.
func (f *anomalyFixture) ips(keyID, h, uses, refusals int64, ips ...string) {
	f.t.Helper()
	for _, ip := range ips {
		f.exec(`INSERT INTO key_hour_ips (key_id, hour, ip, uses, refusals) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key_id, hour, ip) DO UPDATE SET uses = excluded.uses, refusals = excluded.refusals`,
			keyID, h, ip, uses, refusals)
	}
}

// addresses returns n distinct addresses.
func addresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("198.51.%d.%d", i/250, 1+i%250)
	}
	return out
}

// rules stores the rules changed by fn from the defaults.
func (f *anomalyFixture) rules(fn func(r *ActivityRules)) {
	f.t.Helper()
	r := DefaultActivityRules()
	fn(&r)
	if err := f.s.SetActivityRules(context.Background(), r, SystemActor()); err != nil {
		f.t.Fatal(err)
	}
}

// evaluate runs the rules over hour h at the fake clock's time.
func (f *anomalyFixture) evaluate(h int64) ActivityReport {
	f.t.Helper()
	ctx := context.Background()
	r, err := f.s.ActivityRules(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	var rep ActivityReport
	if err := f.s.evaluateHour(ctx, h, f.clock.Now(), r, &rep); err != nil {
		f.t.Fatal(err)
	}
	return rep
}

// testAlert is an alert row as the tests compare it.
type testAlert struct {
	ID          int64
	Rule        string
	KeyID       int64
	Status      string
	Summary     string
	Evidence    map[string]any
	Occurrences int64
	FirstSeen   int64
	LastSeen    int64
}

// alerts lists the alerts of keyID (every key when 0), oldest first.
func (f *anomalyFixture) alerts(keyID int64) []testAlert {
	f.t.Helper()
	rows, err := f.s.r.QueryContext(context.Background(), `SELECT id, rule, key_id, status, summary, evidence,
		occurrences, first_seen_at, last_seen_at FROM alerts WHERE ? = 0 OR key_id = ? ORDER BY id`, keyID, keyID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []testAlert
	for rows.Next() {
		var a testAlert
		var ev string
		if err := rows.Scan(&a.ID, &a.Rule, &a.KeyID, &a.Status, &a.Summary, &ev, &a.Occurrences, &a.FirstSeen, &a.LastSeen); err != nil {
			f.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(ev), &a.Evidence); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// resolve resolves every unresolved alert.
func (f *anomalyFixture) resolve() {
	f.t.Helper()
	f.exec(`UPDATE alerts SET status = 'resolved', resolved_at = ? WHERE resolved_at IS NULL`, toMillis(f.clock.Now()))
}

// outboxAlerts counts the alert.opened events.
func (f *anomalyFixture) outboxAlerts() int {
	f.t.Helper()
	var n int
	if err := f.s.r.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM outbox_events WHERE type = ?`,
		EventAlertOpened).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// span returns the hours from..to-1.
func span(from, to int64) []int64 {
	var out []int64
	for h := from; h < to; h++ {
		out = append(out, h)
	}
	return out
}
