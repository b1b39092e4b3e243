package db

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Tests of the batched flush: multi-row statements across chunk boundaries
// and the memory of addresses already written.

func TestFlushManyKeysAcrossChunks(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		for _, n := range []int{1, flushChunk - 1, flushChunk, flushChunk + 1, 2*flushChunk + 7} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				env := newKeyTestEnv(t)
				v := quietVerifier(env.s)
				ids := make([]int64, n)
				for i := range ids {
					k, _ := env.key(t, env.alice, fmt.Sprintf("k%d", i))
					ids[i] = k.ID
				}
				now := env.clock.Now()
				for i, id := range ids {
					for range i%3 + 1 {
						v.usage.record(id, now.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("10.0.%d.%d", i/256, i%256), "ua")
					}
				}
				flush(t, v)
				for i, id := range ids {
					u := usageOf(t, env.s, id)
					wantAt := now.Add(time.Duration(i) * time.Millisecond)
					if u.daily != int64(i%3+1) || u.lastUsed == nil || !u.lastUsed.Equal(wantAt) ||
						u.ip != fmt.Sprintf("10.0.%d.%d", i/256, i%256) {
						t.Fatalf("key %d: got %+v, want %d uses, last at %v", i, u, i%3+1, wantAt)
					}
				}
				var ipRows int
				if err := env.s.r.QueryRow(`SELECT COUNT(*) FROM key_ips`).Scan(&ipRows); err != nil {
					t.Fatal(err)
				}
				if ipRows != n {
					t.Errorf("key_ips rows = %d, want %d", ipRows, n)
				}
			})
		}
	})
}

func TestFlushSkipsDeletedKeyInsideChunk(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		ctx := context.Background()
		var kept []int64
		var gone int64
		for i := range 5 {
			u := env.alice
			if i == 2 {
				u = env.bob
			}
			k, _ := env.key(t, u, fmt.Sprintf("k%d", i))
			if i == 2 {
				gone = k.ID
			} else {
				kept = append(kept, k.ID)
			}
			v.usage.record(k.ID, env.clock.Now(), "192.0.2.1", "ua")
		}
		if _, err := env.s.w.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, env.bob.ID); err != nil {
			t.Fatal(err)
		}
		flush(t, v)
		for _, id := range kept {
			if u := usageOf(t, env.s, id); u.daily != 1 {
				t.Errorf("key %d daily = %d, want 1", id, u.daily)
			}
		}
		var n int
		if err := env.s.r.QueryRow(`SELECT COUNT(*) FROM key_usage_daily WHERE key_id = ?`, gone).Scan(&n); err != nil || n != 0 {
			t.Errorf("rows for the deleted key = %d, %v, want 0", n, err)
		}
		if u := usageOf(t, env.s, kept[0]); u.hourly != 5 {
			t.Errorf("hourly = %d, want 5 (a deleted key's use still counts)", u.hourly)
		}
	})
}

func TestFlushRemembersWrittenAddresses(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "svc")
		use := func(ip string) {
			v.usage.record(k.ID, env.clock.Now(), ip, "ua")
			flush(t, v)
			env.clock.Advance(time.Second)
		}
		use("192.0.2.1")
		if _, ok := v.knownIPs[keyIP{k.ID, "192.0.2.1"}]; !ok {
			t.Fatalf("knownIPs = %v, want the written address", v.knownIPs)
		}
		use("192.0.2.1")
		clear(v.knownIPs) // as when the memory is full: the row is found again, not re-audited
		use("192.0.2.1")
		use("192.0.2.2")
		events, err := env.s.ListAudit(ctx, AuditFilter{Action: ActionKeyNewIP, TargetType: "key", TargetID: k.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 {
			t.Errorf("new-address events = %d, want 2 (one per address)", len(events))
		}
		if u := usageOf(t, env.s, k.ID); u.daily != 4 || u.ip != "192.0.2.2" {
			t.Errorf("usage = %+v, want 4 uses, last from 192.0.2.2", u)
		}
	})
}

func TestFlushFailureDoesNotRememberAddresses(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := quietVerifier(env.s)
		k, _ := env.key(t, env.alice, "svc")
		v.usage.record(k.ID, env.clock.Now(), "192.0.2.1", "ua")
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if err := v.Flush(cancelled); err == nil {
			t.Fatal("Flush(cancelled) = nil, want an error")
		}
		if len(v.knownIPs) != 0 {
			t.Errorf("knownIPs after a failed flush = %v, want empty", v.knownIPs)
		}
		flush(t, v)
		var n int
		if err := env.s.r.QueryRow(`SELECT COUNT(*) FROM key_ips WHERE key_id = ?`, k.ID).Scan(&n); err != nil || n != 1 {
			t.Errorf("key_ips rows = %d, %v, want 1", n, err)
		}
	})
}
