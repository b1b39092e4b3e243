package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// auditTargets is the target column of each audit row.
func auditTargets(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, row := range auditRows(t, r) {
		out = append(out, strings.Split(row, " | ")[3])
	}
	return out
}

func TestAdminAuditFilters(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	admin, adminU := a.userBrowser("admin@example.com", db.RoleAdmin)
	bob := a.createUser("bob@example.com", db.RoleMember)
	carol := a.createUser("carol@example.com", db.RoleMember)

	// Day 1 (2026-11-25): the admin creates and revokes a key of bob's.
	k1, _ := a.storeKey(bob.ID, db.KeyInput{Name: "bob one"})
	adminActor := db.Actor{UserID: adminU.ID, Label: "admin@example.com"}
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), k1.ID, "rotated", adminActor); err != nil {
		t.Fatal(err)
	}
	// Day 3 (2026-11-27): another key, and the admin disables carol.
	a.clock.Advance(2 * day)
	k2, _ := a.storeKey(bob.ID, db.KeyInput{Name: "bob two"})
	admin.reauth()
	wantRedirect(t, admin.post("/admin/users/"+itoa(carol.ID)+"/disable", nil), "/admin/users")

	tests := []struct {
		query string
		want  []string // targets, newest first
	}{
		{"action=key.create", []string{"bob two", "bob one"}},
		{"action=key.revoke", []string{"bob one"}},
		{"key=" + itoa(k1.ID), []string{"bob one", "bob one"}},
		{"key=" + itoa(k2.ID), []string{"bob two"}},
		{"key=999999", nil},
		{"user=carol@example.com", []string{"carol@example.com", "carol@example.com"}}, // disabled, created
		{"user=CAROL@example.com&action=user.disable", []string{"carol@example.com"}},
		{"actor=admin@example.com&action=key.revoke", []string{"bob one"}},
		{"actor=cli&action=key.create", []string{"bob two", "bob one"}},
		{"actor=bob@example.com", nil},
		{"action=key.create&from=2026-11-26", []string{"bob two"}},
		{"action=key.create&to=2026-11-26", []string{"bob one"}},
		{"action=key.create&from=2026-11-25&to=2026-11-25", []string{"bob one"}},
		{"action=key.create&from=2026-11-27&to=2026-11-27", []string{"bob two"}},
		{"action=key.create&from=2026-11-28", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if got := auditTargets(t, admin.get("/admin/audit?"+tt.query)); !slices.Equal(got, tt.want) {
				t.Errorf("targets: got %q, want %q", got, tt.want)
			}
		})
	}

	// Newest first, with who, what, on what and from where.
	rows := auditRows(t, admin.get("/admin/audit"))
	if len(rows) == 0 || !strings.Contains(rows[0], "admin@example.com from 127.0.0.1 | User disabled | carol@example.com") {
		t.Errorf("newest event: got %q, want the admin disabling carol, with the IP", rows[:min(1, len(rows))])
	}

	bad := []struct {
		query, field string
	}{
		{"key=abc", "key"},
		{"key=-4", "key"},
		{"key=1.5", "key"},
		{"from=2026-13-01", "from"},
		{"from=yesterday", "from"},
		{"to=25/11/2026", "to"},
		{"action=key.explode", "action"},
		{"user=nobody@example.com", "user"},
		{"key=1&user=bob@example.com", "key"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.query, func(t *testing.T) {
			r := admin.get("/admin/audit?" + tt.query)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			doc := r.doc(t)
			if strings.TrimSpace(doc.Find(`[data-testid="`+tt.field+`-error"]`).Text()) == "" {
				t.Errorf("no error next to %s", tt.field)
			}
			if doc.Find(`[data-testid="audit-row"]`).Length() != 0 {
				t.Errorf("events shown with an invalid filter")
			}
		})
	}
}

func TestAdminAuditPagination(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t)
	for i := range 120 {
		e := db.AuditEvent{Actor: "cli", Action: db.ActionKeyUpdate, TargetType: "key", TargetID: int64(i + 1),
			Target: fmt.Sprintf("event %03d", i)}
		if err := a.store.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	var got []string
	path := "/admin/audit?action=key.update"
	for page := 1; path != ""; page++ {
		r := admin.get(path)
		targets := auditTargets(t, r)
		got = append(got, targets...)
		if want := []int{50, 50, 20}[page-1]; len(targets) != want {
			t.Errorf("page %d: got %d events, want %d", page, len(targets), want)
		}
		path = r.doc(t).Find(`[data-testid="older-events"]`).AttrOr("href", "")
		if path != "" {
			u, err := url.Parse(path)
			if err != nil || u.Query().Get("action") != "key.update" || u.Query().Get("before") == "" {
				t.Errorf("page %d: older link %q, want the same filter and a before id", page, path)
			}
		}
		if page > 3 {
			t.Fatalf("more than 3 pages of 120 events")
		}
	}
	want := make([]string, 120)
	for i := range want {
		want[i] = fmt.Sprintf("event %03d", 119-i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("events over all pages: got %d (%q…), want 120 newest first, each once", len(got), got[:min(3, len(got))])
	}

	// Unfiltered, the admin's creation and sign-in are there too: a full
	// first page of 122 events.
	if n := len(auditRows(t, admin.get("/admin/audit"))); n != 50 {
		t.Errorf("first unfiltered page: got %d events, want 50", n)
	}
}
