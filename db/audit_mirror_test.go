package db

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// mirrorLines reads the JSON lines of a mirror file.
func mirrorLines(t *testing.T, path string) []AuditRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func TestAuditMirrorCommittedOnly(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env := newKeyTestEnv(t)
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		m, err := OpenAuditMirror(path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		before, err := env.s.ListAudit(ctx, AuditFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		env.s.SetAuditMirror(m)

		// Committed: a plain Audit, a key change, and a bulk action
		// (execAudit's prepared path).
		if err := env.s.Audit(ctx, AuditEvent{Actor: "cli", Action: ActionLoginFailure, IP: "192.0.2.9",
			Detail: map[string]string{"reason": "wrong password"}}); err != nil {
			t.Fatal(err)
		}
		k1, _ := env.key(t, env.alice, "one")
		k2, _ := env.key(t, env.alice, "two")
		if _, err := env.s.BulkRevokeKeys(ctx, []int64{k1.ID, k2.ID}, "leaked", CLIActor()); err != nil {
			t.Fatal(err)
		}
		// Rolled back: the audit row is written, then the change fails.
		boom := errors.New("boom")
		err = env.s.inWriteTx(ctx, "doomed", func(tx *Tx, now time.Time) error {
			if err := insertAudit(ctx, tx, now, AuditEvent{Actor: "cli", Action: ActionSettingChange, Target: "doomed"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("inWriteTx: got %v, want boom", err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		stored, err := env.s.ListAudit(ctx, AuditFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(before) > 0 {
			stored = slices.DeleteFunc(stored, func(e AuditEvent) bool { return e.ID <= before[0].ID })
		}
		slices.Reverse(stored) // oldest first, as the mirror writes them
		got := mirrorLines(t, path)
		if len(got) != len(stored) {
			t.Fatalf("got %d mirrored lines, want the %d committed events", len(got), len(stored))
		}
		for i, e := range stored {
			want := e.Record()
			gb, _ := json.Marshal(got[i])
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Errorf("line %d: got %s, want %s", i, gb, wb)
			}
			if e.Target == "doomed" {
				t.Errorf("the rolled-back event was mirrored")
			}
		}
		if got[0].Action != ActionLoginFailure || got[0].Detail["reason"] != "wrong password" || got[0].ActorID != 0 {
			t.Errorf("first line: got %+v, want the failed sign-in with its reason", got[0])
		}
		if got[len(got)-1].Action != ActionKeyRevoke || got[len(got)-1].TargetID != k2.ID {
			t.Errorf("last line: got %+v, want key %d revoked", got[len(got)-1], k2.ID)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("mirror file mode: got %v (%v), want 0600", fi.Mode().Perm(), err)
		}
		// Reopened, the file is appended to, never truncated.
		m2, err := OpenAuditMirror(path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		env.s.SetAuditMirror(m2)
		if err := env.s.Audit(ctx, AuditEvent{Actor: "cli", Action: ActionLogout}); err != nil {
			t.Fatal(err)
		}
		if err := m2.Close(); err != nil {
			t.Fatal(err)
		}
		if n := len(mirrorLines(t, path)); n != len(stored)+1 {
			t.Errorf("after reopening: got %d lines, want %d", n, len(stored)+1)
		}
		env.s.SetAuditMirror(nil)
	})
}

// TestAuditMirrorDropsWhenStuck: a writer that does not move fills the
// queue; further events are dropped and counted, and the commit never
// waits.
func TestAuditMirrorDropsWhenStuck(t *testing.T) {
	pr, pw := io.Pipe()
	m := NewAuditMirror(pw, pw, 1, nil)
	events := make([]AuditEvent, 10)
	for i := range events {
		events[i] = AuditEvent{ID: int64(i + 1), Actor: "cli", Action: ActionLogout}
	}
	m.add(events) // returns although nobody reads the pipe
	dropped := m.Dropped()
	if dropped < 7 {
		t.Errorf("got %d dropped, want at least 7 of 10 with a queue of 1", dropped)
	}
	read := make(chan int)
	go func() {
		n := 0
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			n++
		}
		read <- n
	}()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := <-read; int64(n)+dropped != 10 {
		t.Errorf("got %d written + %d dropped, want 10", n, dropped)
	}
	m.add(events[:1])
	if got := m.Dropped(); got != dropped+1 {
		t.Errorf("after Close: got %d dropped, want %d", got, dropped+1)
	}
}

func TestEachAudit(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		// More than two pages of one action, interleaved with another.
		const n = 2*auditExportPage + 3
		err := s.inWriteTx(ctx, "seed", func(tx *Tx, now time.Time) error {
			for i := range n {
				for _, a := range []string{ActionLoginFailure, ActionLogout} {
					if err := insertAudit(ctx, tx, now, AuditEvent{Actor: "cli", Action: a, TargetID: int64(i + 1)}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		last := int64(1 << 62)
		err = s.EachAudit(ctx, AuditFilter{Action: ActionLogout}, func(e AuditEvent) error {
			if e.Action != ActionLogout || e.ID >= last {
				t.Fatalf("got %s #%d after #%d, want logouts by descending id", e.Action, e.ID, last)
			}
			last = e.ID
			got = append(got, e.TargetID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n || got[0] != n || got[n-1] != 1 {
			t.Errorf("got %d events (%v … %v), want %d from %d down to 1", len(got), got[:1], got[len(got)-1:], n, n)
		}
		stop := errors.New("stop")
		calls := 0
		if err := s.EachAudit(ctx, AuditFilter{}, func(AuditEvent) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
			t.Errorf("got %v after %d calls, want fn's error after 1", err, calls)
		}
	})
}
