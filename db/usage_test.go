package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func quietVerifier(s *Store) *Verifier {
	return NewVerifier(s, VerifierOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func flush(t *testing.T, v *Verifier) {
	t.Helper()
	if err := v.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// usageOf reads what the flush wrote for key id.
type storedUsage struct {
	daily, hourly int64
	lastUsed      *time.Time
	ip, ua        string
}

func usageOf(t *testing.T, s *Store, id int64) storedUsage {
	t.Helper()
	var (
		u    storedUsage
		last sql.NullInt64
	)
	if err := s.r.QueryRow(`SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM key_usage_daily WHERE key_id = ?`, id).Scan(&u.daily); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow(`SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM usage_hourly`).Scan(&u.hourly); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow(`SELECT last_used_at, last_used_ip, last_used_user_agent FROM api_keys WHERE id = ?`, id).
		Scan(&last, &u.ip, &u.ua); err != nil {
		t.Fatal(err)
	}
	u.lastUsed = timePtr(last)
	return u
}

func TestUsageConcurrentVerifications(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		k, secret := env.key(t, env.alice, "busy")
		const goroutines, perGoroutine = 16, 500 / 16
		n := 0
		var wg sync.WaitGroup
		for g := range goroutines {
			count := perGoroutine
			if g < 500%goroutines {
				count++
			}
			n += count
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range count {
					res, err := v.Verify(context.Background(), VerifyRequest{
						Key: secret, IP: fmt.Sprintf("198.51.100.%d", g), UserAgent: fmt.Sprintf("worker/%d.%d", g, i),
					})
					if err != nil || !res.Valid {
						t.Errorf("Verify = %+v, %v", res, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if n != 500 {
			t.Fatalf("verifications = %d, want 500", n)
		}
		if u := usageOf(t, env.s, k.ID); u.daily != 0 || u.lastUsed != nil {
			t.Fatalf("before Flush: %+v, want nothing written", u)
		}
		flush(t, v)
		u := usageOf(t, env.s, k.ID)
		if u.daily != 500 || u.hourly != 500 {
			t.Errorf("daily = %d, hourly = %d, want 500 and 500", u.daily, u.hourly)
		}
		if u.lastUsed == nil || !u.lastUsed.Equal(env.clock.Now()) || u.ip == "" || u.ua == "" {
			t.Errorf("last use = %+v, want %v with ip and user agent", u, env.clock.Now())
		}
		got, err := env.s.KeyUsage(context.Background(), AnyOwner(), k.ID, 30)
		if err != nil {
			t.Fatal(err)
		}
		if today := got[len(got)-1].Count; today != 500 {
			t.Errorf("KeyUsage today = %d, want 500", today)
		}
		flush(t, v) // nothing pending: a no-op
		if u := usageOf(t, env.s, k.ID); u.daily != 500 {
			t.Errorf("after empty flush: daily = %d, want 500", u.daily)
		}
	})
}

func TestUsageOnlyValidVerificationsCount(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		k, secret := env.key(t, env.alice, "scoped", func(in *KeyInput) { in.Scopes = []string{"read"} })
		verify(t, v, secret, "write")
		verify(t, v, "kw_junk", "")
		verify(t, v, secret, "read")
		flush(t, v)
		if u := usageOf(t, env.s, k.ID); u.daily != 1 {
			t.Errorf("daily = %d, want 1", u.daily)
		}
	})
}

func TestUsageLastUsedNeverMovesBackward(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		k, _ := env.key(t, env.alice, "svc")
		later := env.clock.Now().Add(time.Minute)
		earlier := env.clock.Now()

		v.usage.record(k.ID, later, "203.0.113.2", "new")
		flush(t, v)
		v.usage.record(k.ID, earlier, "203.0.113.1", "old")
		flush(t, v)

		u := usageOf(t, env.s, k.ID)
		if u.lastUsed == nil || !u.lastUsed.Equal(later) || u.ip != "203.0.113.2" || u.ua != "new" {
			t.Errorf("last use = %v from %q (%q), want %v from 203.0.113.2 (new)", u.lastUsed, u.ip, u.ua, later)
		}
		if u.daily != 2 {
			t.Errorf("daily = %d, want 2", u.daily)
		}
	})
}

func TestUsageNewIPAuditedOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		ctx := context.Background()
		k, secret := env.key(t, env.alice, "svc")
		use := func(ip string) {
			if _, err := v.Verify(ctx, VerifyRequest{Key: secret, IP: ip, UserAgent: "agent " + ip}); err != nil {
				t.Fatal(err)
			}
		}
		use("192.0.2.1")
		use("192.0.2.1")
		use("192.0.2.2")
		use("") // no address (e.g. a local call): never audited
		flush(t, v)
		env.clock.Advance(time.Minute)
		use("192.0.2.1")
		use("192.0.2.3")
		flush(t, v)

		events, err := env.s.ListAudit(ctx, AuditFilter{Action: ActionKeyNewIP, TargetType: "key", TargetID: k.ID})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, e := range events {
			got[e.IP]++
			// The key itself was used: it is the actor, not "system".
			if e.Actor != fmt.Sprintf("key #%d (svc)", k.ID) || e.ActorID != 0 || e.Target != "svc" || e.Detail["user_agent"] != "agent "+e.IP {
				t.Errorf("event = %+v, want the key as actor, target svc, the user agent", e)
			}
		}
		want := map[string]int{"192.0.2.1": 1, "192.0.2.2": 1, "192.0.2.3": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("new-IP events per address = %v, want %v", got, want)
		}
	})
}

func TestUsageIPsPerFlushAreBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		k, _ := env.key(t, env.alice, "svc")
		for i := range 100 {
			v.usage.record(k.ID, env.clock.Now(), fmt.Sprintf("10.0.0.%d", i), "ua")
		}
		flush(t, v)
		var n int
		if err := env.s.r.QueryRow(`SELECT COUNT(*) FROM key_ips WHERE key_id = ?`, k.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != maxIPsPerFlush {
			t.Errorf("key_ips rows = %d, want %d", n, maxIPsPerFlush)
		}
		if u := usageOf(t, env.s, k.ID); u.daily != 100 || u.ip != "10.0.0.99" {
			t.Errorf("usage = %+v, want 100 uses, last from 10.0.0.99", u)
		}
	})
}

func TestUsageFlushFailureKeepsData(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		logs := newLogCounter()
		v := NewVerifier(env.s, VerifierOptions{Logger: slog.New(logs)})
		k, secret := env.key(t, env.alice, "svc")
		for range 3 {
			verify(t, v, secret, "")
		}
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if err := v.Flush(cancelled); !errors.Is(err, context.Canceled) {
			t.Fatalf("Flush(cancelled) = %v, want context.Canceled", err)
		}
		// A flush its caller stopped (a shutdown) failed at nothing: no
		// "flush failed" line, and no "works again" after it.
		if n := logs.count("usage flush"); n != 0 {
			t.Errorf("got %d usage flush log lines after a cancelled flush, want 0", n)
		}
		env.clock.Advance(24 * time.Hour) // the retried batch spans two days
		for range 2 {
			verify(t, v, secret, "")
		}
		flush(t, v)
		if n := logs.count("usage flush"); n != 0 {
			t.Errorf("got %d usage flush log lines, want 0", n)
		}
		u := usageOf(t, env.s, k.ID)
		if u.daily != 5 || u.hourly != 5 {
			t.Errorf("daily = %d, hourly = %d, want 5 and 5", u.daily, u.hourly)
		}
		if u.lastUsed == nil || !u.lastUsed.Equal(env.clock.Now()) {
			t.Errorf("last used = %v, want %v", u.lastUsed, env.clock.Now())
		}
		days, err := env.s.KeyUsage(context.Background(), AnyOwner(), k.ID, 2)
		if err != nil {
			t.Fatal(err)
		}
		if days[0].Count != 3 || days[1].Count != 2 {
			t.Errorf("per day = %v, want 3 then 2", days)
		}
	})
}

func TestUsageFlushSkipsDeletedKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		gone, goneSecret := env.key(t, env.bob, "gone")
		kept, keptSecret := env.key(t, env.alice, "kept")
		verify(t, v, goneSecret, "")
		verify(t, v, keptSecret, "")
		if _, err := env.s.w.Exec(`DELETE FROM users WHERE id = ?`, env.bob.ID); err != nil {
			t.Fatal(err)
		}
		flush(t, v)
		if u := usageOf(t, env.s, kept.ID); u.daily != 1 {
			t.Errorf("kept key daily = %d, want 1", u.daily)
		}
		var n int
		if err := env.s.r.QueryRow(`SELECT COUNT(*) FROM key_usage_daily WHERE key_id = ?`, gone.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("rows for the deleted key = %d, %v, want 0", n, err)
		}
	})
}

func TestUsageRunFlushesOnShutdown(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := NewVerifier(env.s, VerifierOptions{FlushInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		k, secret := env.key(t, env.alice, "svc")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			v.Run(ctx)
			close(done)
		}()
		verify(t, v, secret, "")
		cancel()
		<-done
		if u := usageOf(t, env.s, k.ID); u.daily != 1 {
			t.Errorf("daily after shutdown = %d, want 1", u.daily)
		}
	})
}

func TestUsageRunFlushesPeriodically(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := NewVerifier(env.s, VerifierOptions{FlushInterval: 10 * time.Millisecond})
		k, secret := env.key(t, env.alice, "svc")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			v.Run(ctx)
			close(done)
		}()
		defer func() { cancel(); <-done }()
		verify(t, v, secret, "")
		deadline := time.Now().Add(10 * time.Second)
		for usageOf(t, env.s, k.ID).daily != 1 {
			if time.Now().After(deadline) {
				t.Fatal("usage not flushed by Run within 10s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},
		{"éé", 3, "é"},
	}
	for _, tt := range tests {
		if got := truncateUTF8(tt.in, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
