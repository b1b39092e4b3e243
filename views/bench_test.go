package views

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkKeysPage renders /keys with a full page of 25 keys in a mix of
// states, the view's share of every visit to the keys list.
func BenchmarkKeysPage(b *testing.B) {
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	statuses := []string{"active", "expiring", "expired", "disabled", "revoked"}
	scopes := [][]string{nil, {"read"}, {"read", "write"}, {"deploy"}}
	m := KeysPage{
		Layout: Layout{
			Title:     "API keys",
			User:      &CurrentUser{Email: "ada@example.com"},
			CSRFToken: "csrf-token-1",
			Version:   "bench",
			Nav:       "keys",
			Now:       now,
		},
		Total: 10_000, AllKeys: 10_000, Page: 3, PerPage: 25, HasPrev: true, HasNext: true,
		Form: KeyForm{Expiry: "30", ExpiryChoices: []ExpiryChoice{
			{"7", "7 days"}, {"30", "30 days"}, {"90", "90 days"}, {"custom", "Custom date"}, {"never", "No expiry"},
		}, MinDate: "2026-11-26"},
		Notices: KeyNotices{ExpiringDays: 7, ExpiringSoon: 3, Stale: 12},
	}
	for i := range 25 {
		created := now.Add(-time.Duration(i*97) * time.Hour)
		row := KeyRow{
			ID: int64(10_000 - i), Name: fmt.Sprintf("deploy bot %d", i), Hint: "kw_…a1B2",
			Scopes: scopes[i%len(scopes)], CreatedAt: created, Status: statuses[i%len(statuses)],
		}
		if i%3 != 0 {
			used := now.Add(-time.Duration(i*13) * time.Hour)
			row.LastUsedAt = &used
		}
		if i%2 == 0 {
			exp := now.Add(time.Duration(i*50-200) * time.Hour)
			row.ExpiresAt = &exp
		}
		m.Keys = append(m.Keys, row)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := Keys(m).Render(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
