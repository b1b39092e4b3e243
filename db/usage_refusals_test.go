package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// storedActivity is what flushes wrote for one key: refusals per code,
// uses and refusals over its hours and over its (hour, address) rows, and
// the last refusal.
type storedActivity struct {
	byCode                     map[VerifyCode]int64
	hourUses, hourRefusals     int64
	ipUses, ipRefusals, ipRows int64
	last                       *time.Time
	ip, ua                     string
	code                       VerifyCode
}

func activityOf(t *testing.T, s *Store, id int64) storedActivity {
	t.Helper()
	a := storedActivity{byCode: map[VerifyCode]int64{}}
	rows, err := s.r.QueryContext(context.Background(), `SELECT code, CAST(SUM(count) AS BIGINT) FROM key_refusals_daily WHERE key_id = ? GROUP BY code`, id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			code string
			n    int64
		)
		if err := rows.Scan(&code, &n); err != nil {
			t.Fatal(err)
		}
		a.byCode[VerifyCode(code)] = n
	}
	rows.Close()
	if err := s.r.QueryRow(`SELECT CAST(COALESCE(SUM(uses), 0) AS BIGINT), CAST(COALESCE(SUM(refusals), 0) AS BIGINT)
		FROM key_usage_hourly WHERE key_id = ?`, id).Scan(&a.hourUses, &a.hourRefusals); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow(`SELECT CAST(COALESCE(SUM(uses), 0) AS BIGINT), CAST(COALESCE(SUM(refusals), 0) AS BIGINT), COUNT(*)
		FROM key_hour_ips WHERE key_id = ?`, id).Scan(&a.ipUses, &a.ipRefusals, &a.ipRows); err != nil {
		t.Fatal(err)
	}
	var (
		last sql.NullInt64
		code string
	)
	if err := s.r.QueryRow(`SELECT last_refused_at, last_refused_ip, last_refused_user_agent, last_refused_code FROM api_keys WHERE id = ?`, id).
		Scan(&last, &a.ip, &a.ua, &code); err != nil {
		t.Fatal(err)
	}
	a.last, a.code = timePtr(last), VerifyCode(code)
	return a
}

// refusalKeys makes one key per refusal code a key can earn (and one that
// answers both ways by scope), for alice.
func refusalKeys(t *testing.T, env *keyTestEnv) (secrets map[VerifyCode]string, ids map[VerifyCode]int64) {
	t.Helper()
	ctx := context.Background()
	secrets, ids = map[VerifyCode]string{}, map[VerifyCode]int64{}
	for _, code := range []VerifyCode{CodeRevoked, CodeDisabled, CodeExpired, CodeInsufficientScope} {
		opts := []func(*KeyInput){func(in *KeyInput) { in.Scopes = []string{"read"} }}
		if code == CodeExpired {
			opts = append(opts, expiresIn(env.clock, time.Minute))
		}
		k, secret := env.key(t, env.alice, string(code), opts...)
		secrets[code], ids[code] = secret, k.ID
		var err error
		switch code {
		case CodeRevoked:
			_, err = env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor())
		case CodeDisabled:
			_, err = env.s.SetKeyDisabled(ctx, AnyOwner(), k.ID, true, "", CLIActor())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	env.clock.Advance(2 * time.Minute) // the EXPIRED key has
	return secrets, ids
}

// TestRefusalsExactUnderConcurrency: N refusals (four codes, four keys)
// and M valid uses from many goroutines are, after one flush, exactly N
// per code in key_refusals_daily and M in key_usage_daily, with the same
// totals per hour and per address; the global hourly total counts the M
// successes only.
func TestRefusalsExactUnderConcurrency(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		secrets, ids := refusalKeys(t, env)
		scoped := secrets[CodeInsufficientScope] // valid for read, refused for write
		const goroutines, perCode, valid = 12, 60, 90
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				ip := fmt.Sprintf("198.51.100.%d", g%4)
				for i := range perCode {
					for code, secret := range secrets {
						scope := "read"
						if code == CodeInsufficientScope {
							scope = "write"
						}
						res, err := v.Verify(context.Background(), VerifyRequest{Key: secret, Scope: scope, IP: ip, UserAgent: "loop/1"})
						if err != nil || res.Code != code {
							t.Errorf("Verify(%s) = %+v, %v", code, res, err)
							return
						}
					}
					if i < valid {
						if res, err := v.Verify(context.Background(), VerifyRequest{Key: scoped, Scope: "read", IP: ip, UserAgent: "svc/2"}); err != nil || !res.Valid {
							t.Errorf("Verify(read) = %+v, %v", res, err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		flush(t, v)
		const n = goroutines * perCode
		m := int64(goroutines * min(perCode, valid))
		for code, id := range ids {
			a := activityOf(t, env.s, id)
			want := map[VerifyCode]int64{code: n}
			if !maps.Equal(a.byCode, want) {
				t.Errorf("%s key: refusals per code = %v, want %v", code, a.byCode, want)
			}
			wantUses := int64(0)
			if code == CodeInsufficientScope {
				wantUses = m
			}
			if a.hourRefusals != n || a.hourUses != wantUses {
				t.Errorf("%s key: hourly refusals %d, uses %d, want %d and %d", code, a.hourRefusals, a.hourUses, n, wantUses)
			}
			if a.ipRefusals != n || a.ipUses != wantUses || a.ipRows != 4 {
				t.Errorf("%s key: per address refusals %d, uses %d in %d rows, want %d, %d in 4", code, a.ipRefusals, a.ipUses, a.ipRows, n, wantUses)
			}
			if a.last == nil || !a.last.Equal(env.clock.Now()) || a.code != code || a.ua != "loop/1" {
				t.Errorf("%s key: last refusal %v %q %q, want %v by loop/1", code, a.last, a.code, a.ua, env.clock.Now())
			}
			u := usageOf(t, env.s, id)
			if u.daily != wantUses || u.hourly != m {
				t.Errorf("%s key: daily uses %d, global hourly %d, want %d and %d", code, u.daily, u.hourly, wantUses, m)
			}
			if (u.lastUsed != nil) != (wantUses > 0) {
				t.Errorf("%s key: last used %v, want set only for a key that was used", code, u.lastUsed)
			}
		}

		// The last refusal moves forward only, whatever order flushes
		// write in.
		id := ids[CodeRevoked]
		later, earlier := env.clock.Now().Add(time.Minute), env.clock.Now().Add(30*time.Second)
		v.usage.refuse(id, later, "203.0.113.9", "late/1", CodeRevoked)
		flush(t, v)
		v.usage.refuse(id, earlier, "203.0.113.8", "early/1", CodeRevoked)
		flush(t, v)
		if a := activityOf(t, env.s, id); a.last == nil || !a.last.Equal(later) || a.ip != "203.0.113.9" || a.ua != "late/1" || a.byCode[CodeRevoked] != n+2 {
			t.Errorf("after two more: last refusal %v from %q (%q), %d refusals; want %v from 203.0.113.9 (late/1), %d", a.last, a.ip, a.ua, a.byCode[CodeRevoked], later, n+2)
		}
	})
}

// TestRefusalsUnknownAndMalformedNotCounted: only keys that exist have a
// row to count on.
func TestRefusalsUnknownAndMalformedNotCounted(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		unknown, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, unknown, ""), CodeNotFound)
		wantCode(t, verify(t, v, "kw_junk", ""), CodeMalformed)
		if got := v.usage.pending(); got != 0 {
			t.Errorf("pending keys = %d, want 0", got)
		}
	})
}

// TestRefusalsFlushFailurePutsBack: a flush that fails loses no refusal;
// what was refused meanwhile joins it.
func TestRefusalsFlushFailurePutsBack(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		secrets, ids := refusalKeys(t, env)
		for range 3 {
			wantCode(t, verify(t, v, secrets[CodeRevoked], ""), CodeRevoked)
		}
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if err := v.Flush(cancelled); !errors.Is(err, context.Canceled) {
			t.Fatalf("Flush(cancelled) = %v, want context.Canceled", err)
		}
		env.clock.Advance(24 * time.Hour) // the retried batch spans two days and many hours
		for range 2 {
			wantCode(t, verify(t, v, secrets[CodeRevoked], ""), CodeRevoked)
		}
		wantCode(t, verify(t, v, secrets[CodeDisabled], ""), CodeDisabled)
		flush(t, v)
		a := activityOf(t, env.s, ids[CodeRevoked])
		if a.byCode[CodeRevoked] != 5 || a.hourRefusals != 5 || a.ipRefusals != 5 || a.ipRows != 2 {
			t.Errorf("revoked key: %+v, want 5 refusals per code, hour and address (2 hours)", a)
		}
		if a.last == nil || !a.last.Equal(env.clock.Now()) {
			t.Errorf("last refusal = %v, want %v", a.last, env.clock.Now())
		}
		var days int
		if err := env.s.r.QueryRow(`SELECT COUNT(*) FROM key_refusals_daily WHERE key_id = ?`, ids[CodeRevoked]).Scan(&days); err != nil || days != 2 {
			t.Errorf("refusal days = %d, %v, want 2", days, err)
		}
		if got := activityOf(t, env.s, ids[CodeDisabled]).byCode[CodeDisabled]; got != 1 {
			t.Errorf("disabled key refusals = %d, want 1", got)
		}
	})
}

// TestRefusalsAddUpAcrossInstances: two Verifiers on one database flush
// refusals and uses of the same keys in either order; the counts sum and
// the last refusal is the latest of either.
func TestRefusalsAddUpAcrossInstances(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		st := openInstances(t, 2, clock)
		u := ktUser(t, st[0], "alice@example.com")
		k, secret, err := st[0].CreateKey(ctx, u.ID, KeyInput{Name: "shared"}, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st[0].RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		vs := []*Verifier{quietVerifier(st[0]), quietVerifier(st[1])}
		const rounds, per = 4, 23
		for r := range rounds {
			for i, v := range vs {
				for range per {
					res, err := v.Verify(ctx, VerifyRequest{Key: secret, IP: fmt.Sprintf("192.0.2.%d", i), UserAgent: fmt.Sprintf("instance/%d", i)})
					if err != nil || res.Code != CodeRevoked {
						t.Fatalf("verify on %d: %+v %v", i, res, err)
					}
				}
				clock.Advance(time.Second)
			}
			order := []int{0, 1}
			if r%2 == 1 {
				order = []int{1, 0}
			}
			for _, i := range order {
				flush(t, vs[i])
			}
		}
		a := activityOf(t, st[1], k.ID)
		const want = rounds * 2 * per
		if a.byCode[CodeRevoked] != want || a.hourRefusals != want || a.ipRefusals != want || a.ipRows != 2 {
			t.Errorf("got %+v, want %d refusals per code, hour and address (2 addresses)", a, want)
		}
		if w := clock.Now().Add(-time.Second); a.last == nil || !a.last.Equal(w) || a.ua != "instance/1" {
			t.Errorf("last refusal %v by %q, want %v by instance/1", a.last, a.ua, w)
		}
	})
}

// TestRecorderRefusalsBoundAndMerge: refusals obey MaxPendingKeys like
// uses (dropped and counted beyond it), and a failed batch merges back
// with everything recorded meanwhile.
func TestRecorderRefusalsBoundAndMerge(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 59, 59, 0, time.UTC)
	var r usageRecorder
	r.reset(2)
	r.refuse(1, now, "192.0.2.1", "a", CodeRevoked)
	r.record(2, now, "192.0.2.2", "b")
	r.refuse(3, now, "192.0.2.3", "c", CodeExpired) // beyond the bound
	inFlight := r.take()
	next := now.Add(time.Second) // the next hour
	r.refuse(1, next, "192.0.2.9", "z", CodeDisabled)
	r.refuse(2, next, "192.0.2.2", "b", CodeIPNotAllowed)
	r.refuse(3, next, "192.0.2.3", "c", CodeExpired) // new while two keys are in flight
	r.putBack(inFlight)

	if d := r.dropped.Load(); d != 2 {
		t.Errorf("dropped = %d, want 2", d)
	}
	k1, k2 := r.batch.keys[1], r.batch.keys[2]
	if k1 == nil || k2 == nil || len(r.batch.keys) != 2 {
		t.Fatalf("pending keys = %v, want 1 and 2", slices.Collect(maps.Keys(r.batch.keys)))
	}
	if k1.refused.at != next.UnixMilli() || k1.refused.code != CodeDisabled || k1.refused.ip != "192.0.2.9" {
		t.Errorf("key 1 latest refusal = %+v, want the DISABLED one at %v", k1.refused, next)
	}
	if k1.refusals() != 2 || len(k1.refDays) != 2 || len(k1.hours) != 2 || len(k1.hourIPs) != 2 {
		t.Errorf("key 1: %d refusals in %d (day, code), %d hours, %d (hour, address); want 2 in 2, 2, 2",
			k1.refusals(), len(k1.refDays), len(k1.hours), len(k1.hourIPs))
	}
	if k2.uses() != 1 || k2.refusals() != 1 || len(k2.hours) != 2 {
		t.Errorf("key 2: %d uses, %d refusals over %d hours; want 1, 1, 2", k2.uses(), k2.refusals(), len(k2.hours))
	}
	if h := r.batch.hours[now.UnixMilli()/msPerHour]; h != 1 {
		t.Errorf("global hourly = %d, want 1 (successes only)", h)
	}
}

func TestRecorderRefusalNoAllocationWhenPending(t *testing.T) {
	var r usageRecorder
	r.reset(10)
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	r.refuse(7, now, "192.0.2.1", "ua", CodeRevoked)
	r.record(7, now, "192.0.2.1", "ua")
	if n := testing.AllocsPerRun(100, func() {
		r.refuse(7, now, "192.0.2.1", "ua", CodeRevoked)
		r.record(7, now, "192.0.2.1", "ua")
	}); n != 0 {
		t.Errorf("allocations per refusal and use of a pending key = %v, want 0", n)
	}
}
