package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

// takeAway makes s's database unreachable for what follows: its writer
// pool, and its reader pool too when readers is set, are swapped for a
// closed *sql.DB, which answers every call with database/sql's "sql:
// database is closed", as a Store does after Close. The returned func
// brings the working pools back, as when the database is reachable again.
func takeAway(t *testing.T, s *Store, readers bool) (restore func()) {
	t.Helper()
	gone, err := sql.Open("sqlite", "never-opened")
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	w, r := s.w, s.r
	s.w = &conn{db: gone, d: s.d, writer: true}
	if readers {
		s.r = &conn{db: gone, d: s.d}
	}
	return func() { s.w, s.r = w, r }
}

// logCounter is a slog handler that counts records by message.
type logCounter struct {
	mu   sync.Mutex
	msgs map[string]int
	last map[string]slog.Record
}

func newLogCounter() *logCounter {
	return &logCounter{msgs: map[string]int{}, last: map[string]slog.Record{}}
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounter) WithGroup(string) slog.Handler            { return l }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs[r.Message]++
	l.last[r.Message] = r
	return nil
}

// count returns how many records have a message starting with prefix.
func (l *logCounter) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for m, c := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n += c
		}
	}
	return n
}

// attr returns attribute key of the last record whose message starts with
// prefix.
func (l *logCounter) attr(prefix, key string) slog.Value {
	l.mu.Lock()
	defer l.mu.Unlock()
	for m, r := range l.last {
		if !strings.HasPrefix(m, prefix) {
			continue
		}
		var v slog.Value
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v = a.Value
			}
			return true
		})
		return v
	}
	return slog.Value{}
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%s: err = %v, want ErrUnavailable", what, err)
	}
}

// TestVerifyThroughOutage: while the database is away a cached key keeps
// answering for at most CacheTTL after it was read, an uncached one is
// ErrUnavailable, flushes fail and are logged once, and when it is back
// the cache is dropped and every use served is written.
func TestVerifyThroughOutage(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env := newKeyTestEnv(t)
		logs := newLogCounter()
		v := NewVerifier(env.s, VerifierOptions{Logger: slog.New(logs)})
		cached, cachedSecret := env.key(t, env.alice, "cached")
		_, uncachedSecret := env.key(t, env.alice, "uncached")
		if err := v.PollChanges(ctx); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, cachedSecret, ""), "")
		served := 1

		restore := takeAway(t, env.s, true)
		wantUnavailable(t, "PollChanges", v.PollChanges(ctx))
		lookups := v.Lookups()
		for range 5 {
			wantCode(t, verify(t, v, cachedSecret, ""), "")
			served++
		}
		if got := v.Lookups(); got != lookups {
			t.Errorf("lookups during the outage = %d, want %d (cached key answered from the cache)", got, lookups)
		}
		_, err := v.Verify(ctx, VerifyRequest{Key: uncachedSecret})
		wantUnavailable(t, "Verify(uncached)", err)
		for range 3 {
			wantUnavailable(t, "Flush", v.Flush(ctx))
		}
		wantUnavailable(t, "Ping", env.s.Ping(ctx))
		env.clock.Advance(v.opt.CacheTTL)
		_, err = v.Verify(ctx, VerifyRequest{Key: cachedSecret})
		wantUnavailable(t, "Verify(cached) after CacheTTL", err)

		restore()
		if err := v.PollChanges(ctx); err != nil {
			t.Fatalf("PollChanges after the outage: %v", err)
		}
		lookups = v.Lookups()
		wantCode(t, verify(t, v, cachedSecret, ""), "")
		served++
		if got := v.Lookups(); got != lookups+1 {
			t.Errorf("lookups after the outage = %d, want %d (the cache is dropped once the database is back)", got, lookups+1)
		}
		flush(t, v)
		if u := usageOf(t, env.s, cached.ID); u.daily != int64(served) || u.hourly != int64(served) {
			t.Errorf("usage after the outage: daily %d, hourly %d, want %d and %d (every use served)", u.daily, u.hourly, served, served)
		}
		if v.UsageDropped() != 0 {
			t.Errorf("dropped = %d, want 0", v.UsageDropped())
		}
		for _, c := range []struct {
			prefix string
			want   int
		}{{"usage flush failed", 1}, {"usage flush works again", 1}, {"usage of keys not already pending", 0}} {
			if got := logs.count(c.prefix); got != c.want {
				t.Errorf("log lines %q = %d, want %d", c.prefix, got, c.want)
			}
		}
	})
}

// TestUsageBoundedWhileWritesFail: reads work but writes fail (a full
// disk, a read-only failover), so new keys keep being looked up and
// recorded while nothing is flushed. Pending usage stops at
// MaxPendingKeys keys: uses of pending keys still count, others are
// dropped and counted, and the recovered flush writes exactly the rest.
func TestUsageBoundedWhileWritesFail(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env := newKeyTestEnv(t)
		logs := newLogCounter()
		v := NewVerifier(env.s, VerifierOptions{MaxPendingKeys: 3, Logger: slog.New(logs)})
		keys := make([]Key, 5)
		secrets := make([]string, 5)
		for i := range keys {
			keys[i], secrets[i] = env.key(t, env.alice, fmt.Sprintf("svc-%d", i))
		}
		restore := takeAway(t, env.s, false)
		for _, s := range secrets[:3] {
			verify(t, v, s, "")
			verify(t, v, s, "")
		}
		wantUnavailable(t, "Flush", v.Flush(ctx))
		for _, s := range secrets {
			wantCode(t, verify(t, v, s, ""), "") // 3 and 4 are answered, their usage dropped
		}
		wantUnavailable(t, "Flush", v.Flush(ctx))
		if got := v.UsageDropped(); got != 2 {
			t.Errorf("dropped = %d, want 2 (one use each of the two keys beyond the bound)", got)
		}
		if got := v.usage.pending(); got != 3 {
			t.Errorf("pending keys = %d, want 3", got)
		}

		restore()
		flush(t, v)
		for i, k := range keys {
			want := int64(3)
			if i >= 3 {
				want = 0
			}
			u := usageOf(t, env.s, k.ID)
			if u.daily != want || (want == 0) != (u.lastUsed == nil) {
				t.Errorf("key %d: daily %d, last used %v, want %d uses", i, u.daily, u.lastUsed, want)
			}
			if i == 0 && u.hourly != 11 {
				t.Errorf("hourly total = %d, want 11 (dropped uses still count there)", u.hourly)
			}
		}
		for _, c := range []struct {
			prefix string
			want   int
		}{{"usage flush failed", 1}, {"usage of keys not already pending", 1}, {"usage flush works again", 1}} {
			if got := logs.count(c.prefix); got != c.want {
				t.Errorf("log lines %q = %d, want %d", c.prefix, got, c.want)
			}
		}
		if got := logs.attr("usage flush works again", "dropped_uses").Int64(); got != 2 {
			t.Errorf("recovery log dropped_uses = %d, want 2", got)
		}
	})
}

// TestUsagePutBackKeepsBound: uses recorded while a batch is being written
// join it when the write fails, the failed batch first: a key it holds
// always adds up, a new one only within the bound.
func TestUsagePutBackKeepsBound(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	var r usageRecorder
	r.reset(2)
	r.record(1, now, "", "")
	r.record(2, now, "", "")
	r.record(3, now, "", "") // beyond the bound
	inFlight := r.take()
	r.record(2, now, "", "") // pending in the batch being written
	r.record(3, now, "", "") // new, while two keys are in flight
	r.putBack(inFlight)

	got := map[int64]int64{}
	for id, u := range r.batch.keys {
		got[id] = u.uses()
	}
	want := map[int64]int64{1: 1, 2: 2}
	if !maps.Equal(got, want) {
		t.Errorf("pending uses = %v, want %v", got, want)
	}
	if d := r.dropped.Load(); d != 2 {
		t.Errorf("dropped = %d, want 2 (key 3 before and during the flush)", d)
	}
	if h := r.batch.hours[now.UnixMilli()/msPerHour]; h != 5 {
		t.Errorf("hourly = %d, want 5", h)
	}
}
