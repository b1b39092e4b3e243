package db

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// refuse writes what a flush of refusals leaves (the recorder's side is
// tested with the recorder): the key's last refusal and daily counts.
func refuse(t *testing.T, s *Store, keyID int64, at time.Time, ip, ua, code string, perDay map[int64]map[string]int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.w.ExecContext(ctx, `UPDATE api_keys SET last_refused_at = ?, last_refused_ip = ?, last_refused_user_agent = ?,
		last_refused_code = ? WHERE id = ?`, toMillis(at), ip, ua, code, keyID); err != nil {
		t.Fatal(err)
	}
	for day, codes := range perDay {
		for c, n := range codes {
			if _, err := s.w.ExecContext(ctx, `INSERT INTO key_refusals_daily (key_id, day, code, count) VALUES (?, ?, ?, ?)`,
				keyID, day, c, n); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestKeyRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env := newKeyTestEnv(t)
		k, _ := env.key(t, env.alice, "refused")
		quiet, _ := env.key(t, env.alice, "quiet")
		today := dayNumber(env.clock.Now())
		refuse(t, env.s, k.ID, env.clock.Now().Add(-time.Minute), "203.0.113.9", "curl/8.5.0", "REVOKED", map[int64]map[string]int64{
			today:      {"REVOKED": 1204},
			today - 1:  {"REVOKED": 3, "INSUFFICIENT_SCOPE": 2},
			today - 29: {"EXPIRED": 1},
			today - 30: {"EXPIRED": 99}, // before the window
		})

		days, err := env.s.KeyRefusals(ctx, OwnedBy(env.alice.ID), k.ID, 30)
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 30 || days[29].Day.Unix() != today*86400 {
			t.Fatalf("got %d days ending %v, want 30 ending today", len(days), days[len(days)-1].Day)
		}
		tests := []struct {
			i      int
			total  int64
			byCode map[string]int64
		}{
			{29, 1204, map[string]int64{"REVOKED": 1204}},
			{28, 5, map[string]int64{"REVOKED": 3, "INSUFFICIENT_SCOPE": 2}},
			{0, 1, map[string]int64{"EXPIRED": 1}},
			{10, 0, nil},
		}
		for _, tt := range tests {
			if d := days[tt.i]; d.Total != tt.total || !reflect.DeepEqual(d.ByCode, tt.byCode) {
				t.Errorf("day %d: got %d %v, want %d %v", tt.i, d.Total, d.ByCode, tt.total, tt.byCode)
			}
		}
		if _, err := env.s.KeyRefusals(ctx, OwnedBy(env.bob.ID), k.ID, 30); !errors.Is(err, ErrNotFound) {
			t.Errorf("another user's key: got %v, want ErrNotFound", err)
		}

		got, err := env.s.GetKey(ctx, AnyOwner(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastRefusedAt == nil || !got.LastRefusedAt.Equal(env.clock.Now().Add(-time.Minute)) ||
			got.LastRefusedIP != "203.0.113.9" || got.LastRefusedUserAgent != "curl/8.5.0" || got.LastRefusedCode != "REVOKED" {
			t.Errorf("last refusal: got %v %q %q %q, want a minute ago from 203.0.113.9, curl, REVOKED",
				got.LastRefusedAt, got.LastRefusedIP, got.LastRefusedUserAgent, got.LastRefusedCode)
		}
		if q, _ := env.s.GetKey(ctx, AnyOwner(), quiet.ID); q.LastRefusedAt != nil || q.LastRefusedCode != "" {
			t.Errorf("never refused: got %v %q, want nothing", q.LastRefusedAt, q.LastRefusedCode)
		}
	})
}

func TestKeyFilterRefusedSince(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env := newKeyTestEnv(t)
		now := env.clock.Now()
		recent, _ := env.key(t, env.alice, "recent")
		edge, _ := env.key(t, env.bob, "edge")
		old, _ := env.key(t, env.alice, "old")
		env.key(t, env.alice, "never")
		refuse(t, env.s, recent.ID, now.Add(-time.Hour), "192.0.2.1", "", "REVOKED", nil)
		refuse(t, env.s, edge.ID, now.Add(-7*24*time.Hour), "192.0.2.2", "", "EXPIRED", nil)
		refuse(t, env.s, old.ID, now.Add(-7*24*time.Hour-time.Millisecond), "192.0.2.3", "", "DISABLED", nil)

		week := 7 * 24 * time.Hour
		tests := []struct {
			name   string
			access KeyAccess
			want   []int64
		}{
			{"all", AnyOwner(), []int64{edge.ID, recent.ID}},
			{"alice's", OwnedBy(env.alice.ID), []int64{recent.ID}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				keys, err := env.s.ListKeys(ctx, tt.access, KeyFilter{RefusedWithin: week})
				if err != nil {
					t.Fatal(err)
				}
				if got := keyIDs(keys); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %v, want %v (newest first)", got, tt.want)
				}
			})
		}
		n, err := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{RefusedWithin: week})
		if err != nil || n != 2 {
			t.Errorf("CountKeys: got %d (%v), want 2", n, err)
		}
	})
}
