package db

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestKeyCursorWalk: for every order, walking a list two keys at a time
// with cursors gives exactly the list read in one go (ties on the sorted
// date and keys without one included), on both engines.
func TestKeyCursorWalk(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		now := env.clock.Now()
		at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
		dates := []*time.Time{nil, at(time.Hour), at(time.Hour), nil, at(2 * time.Hour), at(time.Hour), nil}
		for i, d := range dates {
			k, _ := env.key(t, env.alice, "k", func(in *KeyInput) { in.ExpiresAt = d })
			if d != nil && i%2 == 0 {
				if _, err := env.s.w.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`, toMillis(d.Add(-3*time.Hour)), k.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		env.key(t, env.bob, "not alice's")
		access := ManagedBy(env.alice.ID)
		for _, sort := range []KeySort{"", KeySortCreated, KeySortLastUsed, KeySortExpires} {
			all, err := env.s.ListKeys(ctx, access, KeyFilter{Sort: sort, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var walked []int64
			f := KeyFilter{Sort: sort, Limit: 2}
			for range 10 {
				page, err := env.s.ListKeys(ctx, access, f)
				if err != nil {
					t.Fatalf("sort %q: %v", sort, err)
				}
				walked = append(walked, keyIDs(page)...)
				if len(page) < 2 {
					break
				}
				cur, err := ParseKeyCursor(CursorAfter(page[len(page)-1], sort).String(), sort)
				if err != nil {
					t.Fatalf("sort %q: cursor does not parse back: %v", sort, err)
				}
				f.After = &cur
			}
			if want := keyIDs(all); !slices.Equal(walked, want) || len(want) != len(dates) {
				t.Errorf("sort %q: walked %v, want %v", sort, walked, want)
			}
		}
	})
}

func TestParseKeyCursorRefuses(t *testing.T) {
	good := KeyCursor{Sort: KeySortLastUsed, ID: 5}.String()
	for _, tt := range []struct {
		name, cursor string
		sort         KeySort
	}{
		{"not base64", "%%%", ""},
		{"other sort", good, KeySortExpires},
		{"garbage inside", "Zm9vOmJhcg", ""},
		{"created with a value", base64.RawURLEncoding.EncodeToString([]byte("created:5:3")), ""},
		{"zero id", KeyCursor{Sort: KeySortCreated, ID: 0}.String(), ""},
	} {
		if _, err := ParseKeyCursor(tt.cursor, tt.sort); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("%s: got %v, want ErrInvalidCursor", tt.name, err)
		}
	}
	if _, err := ParseKeyCursor(good, KeySortLastUsed); err != nil {
		t.Errorf("a cursor this server made: %v", err)
	}
}
