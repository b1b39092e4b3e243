package db

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestActionLabel(t *testing.T) {
	seen := map[string]string{}
	for _, a := range Actions() {
		l := ActionLabel(a)
		if l == "" || l == a {
			t.Errorf("ActionLabel(%q) = %q, want a human label", a, l)
		}
		if other, dup := seen[l]; dup {
			t.Errorf("label %q used by %q and %q", l, other, a)
		}
		seen[l] = a
	}
	if got := ActionLabel("future.action"); got != "future.action" {
		t.Errorf("unknown action: got %q, want the raw name", got)
	}
	for a, want := range map[string]string{ActionLoginSuccess: "Signed in", ActionKeyRevoke: "Key revoked", ActionKeyNewIP: "Used from a new IP"} {
		if got := ActionLabel(a); got != want {
			t.Errorf("ActionLabel(%q) = %q, want %q", a, got, want)
		}
	}
}

func TestAuditInsertAndRead(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))

		e := AuditEvent{ActorID: 3, Actor: "ann@example.com", Action: ActionKeyRevoke, TargetType: "key", TargetID: 42,
			Target: "deploy bot", IP: "2001:db8::1", Detail: map[string]string{"reason": "leaked", "hint": "kw_…abcd"}}
		if err := s.Audit(ctx, e); err != nil {
			t.Fatalf("Audit: %v", err)
		}
		explicit := clock.Now().Add(-time.Hour)
		if err := s.Audit(ctx, AuditEvent{At: explicit, Actor: "system", Action: ActionKeyNewIP}); err != nil {
			t.Fatalf("Audit: %v", err)
		}
		got, err := s.ListAudit(ctx, AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("got %d events, want 2", len(got))
		}
		if !got[1].At.Equal(clock.Now()) {
			t.Errorf("got at %v, want the store clock %v when At is zero", got[1].At, clock.Now())
		}
		first := got[1]
		first.ID, first.At = 0, time.Time{}
		if !reflect.DeepEqual(first, e) {
			t.Errorf("got %+v, want %+v", first, e)
		}
		if !got[0].At.Equal(explicit) || got[0].ActorID != 0 || got[0].TargetID != 0 || got[0].Detail != nil {
			t.Errorf("got %+v, want the explicit time, no actor id, no target, no detail", got[0])
		}
	})
}

func TestListAuditFilters(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		start := clock.Now()

		type row struct {
			actorID  int64
			action   string
			target   string
			targetID int64
		}
		rows := []row{
			{1, ActionLoginSuccess, "", 0},
			{1, ActionKeyCreate, "key", 10},
			{2, ActionKeyCreate, "key", 11},
			{2, ActionKeyRevoke, "key", 10},
			{0, ActionUserDisable, "user", 2},
			{1, ActionLogout, "", 0},
		}
		ids := make([]int64, len(rows)) // ids in insertion order
		for _, r := range rows {
			e := AuditEvent{ActorID: r.actorID, Actor: "x", Action: r.action, TargetType: r.target, TargetID: r.targetID}
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
		}
		all, err := s.ListAudit(ctx, AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range all {
			ids[len(all)-1-i] = all[i].ID
		}
		at := func(i int) *time.Time { t := start.Add(time.Duration(i) * time.Minute); return &t }

		tests := []struct {
			name string
			f    AuditFilter
			want []int // indexes into rows, newest first
		}{
			{"all", AuditFilter{}, []int{5, 4, 3, 2, 1, 0}},
			{"actor", AuditFilter{ActorID: 1}, []int{5, 1, 0}},
			{"action", AuditFilter{Action: ActionKeyCreate}, []int{2, 1}},
			{"target type", AuditFilter{TargetType: "key"}, []int{3, 2, 1}},
			{"one key", AuditFilter{TargetType: "key", TargetID: 10}, []int{3, 1}},
			{"actor and action", AuditFilter{ActorID: 2, Action: ActionKeyRevoke}, []int{3}},
			{"since inclusive", AuditFilter{Since: at(4)}, []int{5, 4}},
			{"until exclusive", AuditFilter{Until: at(2)}, []int{1, 0}},
			{"window", AuditFilter{Since: at(1), Until: at(3)}, []int{2, 1}},
			{"limit", AuditFilter{Limit: 2}, []int{5, 4}},
			{"nothing", AuditFilter{Action: ActionSetup}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListAudit(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var gotIdx []int
				for _, e := range got {
					for i, id := range ids {
						if id == e.ID {
							gotIdx = append(gotIdx, i)
						}
					}
				}
				if !reflect.DeepEqual(gotIdx, tt.want) {
					t.Errorf("got rows %v, want %v", gotIdx, tt.want)
				}
			})
		}
	})
}

func TestListAuditKeysetPaging(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		const total = 7
		for range total {
			if err := s.Audit(ctx, AuditEvent{Actor: "system", Action: ActionKeyNewIP}); err != nil {
				t.Fatal(err)
			}
		}
		var pages [][]int64
		var before int64
		for {
			page, err := s.ListAudit(ctx, AuditFilter{BeforeID: before, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			ids := make([]int64, len(page))
			for i, e := range page {
				ids[i] = e.ID
			}
			pages = append(pages, ids)
			before = page[len(page)-1].ID
			// A new event during paging must not shift later pages.
			if len(pages) == 1 {
				if err := s.Audit(ctx, AuditEvent{Actor: "system", Action: ActionKeyNewIP}); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := [][]int64{{7, 6, 5}, {4, 3, 2}, {1}}
		if !reflect.DeepEqual(pages, want) {
			t.Errorf("got pages %v, want %v", pages, want)
		}
	})
}

func TestListAuditLimitBounds(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range maxAuditLimit + 10 {
			if err := insertAudit(ctx, tx, s.Now(), AuditEvent{Actor: "system", Action: ActionKeyNewIP}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			limit, want int
		}{{0, 50}, {-1, 50}, {10, 10}, {500, 500}, {100000, 500}}
		for _, tt := range tests {
			got, err := s.ListAudit(ctx, AuditFilter{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("Limit %d: got %d events, want %d", tt.limit, len(got), tt.want)
			}
		}
	})
}

func TestInsertAuditRollsBackWithItsTransaction(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := insertAudit(ctx, tx, s.Now(), CLIActor().event(ActionKeyRevoke, "key", 1, "k")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListAudit(ctx, AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("got %d events after rollback, want 0", len(got))
		}
	})
}
