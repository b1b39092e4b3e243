package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// tokenPattern is the published scanner regex of management tokens.
var tokenPattern = regexp.MustCompile(`^kwt_[0-9A-Za-z]{49}$`)

// revealedToken reads the token from a show-once panel.
func revealedToken(t *testing.T, r response) string {
	t.Helper()
	tok, _ := r.doc(t).Find(`input[data-testid="new-token"]`).Attr("value")
	if !tokenPattern.MatchString(tok) {
		t.Fatalf("show-once token: got %q, want a match for %s (status %d)", tok, tokenPattern, r.StatusCode)
	}
	return tok
}

// TestAccountTokenCreate: without JavaScript the form posts, the page
// answers with the token once, and the token works on the management API.
func TestAccountTokenCreate(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("ann@example.com", db.RoleMember)

	page := b.get("/account").doc(t)
	var offered []string
	page.Find(`input[data-testid="token-permission"]`).Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("value")
		offered = append(offered, v)
	})
	if got := strings.Join(offered, ","); got != "keys:read,keys:write" {
		t.Errorf("permissions offered to a member: got %s, want keys:read,keys:write", got)
	}
	if got := page.Find(`#token-expiry option[selected]`).AttrOr("value", ""); got != "90" {
		t.Errorf("default expiry: got %q, want 90", got)
	}

	r := b.post("/account/tokens", url.Values{"name": {"deploy"}, "permissions": {"keys:read", "keys:write"}, "expiry": {"30"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("create: got %d, want 200: %s", r.StatusCode, r.body)
	}
	secret := revealedToken(t, r)
	d := r.doc(t)
	if curl := d.Find(`[data-testid="token-curl"]`).Text(); !strings.Contains(curl, "/api/v1/me") || !strings.Contains(curl, "Bearer "+secret) {
		t.Errorf("curl example: got %q, want GET /api/v1/me with the token", curl)
	}
	if d.Find(`[data-testid="token-reveal-warning"]`).Length() != 1 || d.Find(`[data-confirm-leave]`).Length() != 1 {
		t.Error("the show-once panel lacks its warning or its leave confirmation")
	}
	if rows := d.Find(`[data-testid="token-row"]`); rows.Length() != 1 || !strings.Contains(rows.Text(), "deploy") {
		t.Errorf("list after create: got %q, want the new token", rows.Text())
	}

	var me struct{ User struct{ Email string } }
	a.mgmt(secret).get("/api/v1/me").decode(t, &me)
	if me.User.Email != "ann@example.com" {
		t.Errorf("the new token acts for %q, want ann", me.User.Email)
	}
	// Shown once: the page does not carry it again.
	if body := b.get("/account").body; strings.Contains(body, secret) {
		t.Error("GET /account shows the token again")
	}
	row := b.get("/account").doc(t).Find(`[data-testid="token-row"]`)
	if !strings.Contains(row.Text(), "127.0.0.1") || row.AttrOr("data-status", "") != "active" {
		t.Errorf("row after use: got %q, want the last address and active", row.Text())
	}
	ev, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionTokenCreate})
	if err != nil || len(ev) != 1 || ev[0].Actor != "ann@example.com" || strings.Contains(ev[0].Detail["name"]+ev[0].Detail["permissions"], "kwt_") {
		t.Errorf("audit: got %+v (%v), want one token.create by ann, no secret", ev, err)
	}
}

func TestAccountTokenCreateErrors(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("ann@example.com", db.RoleMember)
	tests := []struct {
		name  string
		form  url.Values
		field string
		want  string
	}{
		{"no name", url.Values{"permissions": {"keys:read"}, "expiry": {"90"}}, "name", "Give the token a name"},
		{"no permission", url.Values{"name": {"x"}, "expiry": {"90"}}, "permissions", "at least one permission"},
		{"beyond the role", url.Values{"name": {"x"}, "permissions": {"admin:write"}, "expiry": {"90"}}, "permissions", "does not hold admin:write"},
		{"unknown permission", url.Values{"name": {"x"}, "permissions": {"root"}, "expiry": {"90"}}, "permissions", "is not a permission"},
		{"unknown expiry", url.Values{"name": {"x"}, "permissions": {"keys:read"}, "expiry": {"60"}}, "expiry", "Choose when"},
		{"custom date missing", url.Values{"name": {"x"}, "permissions": {"keys:read"}, "expiry": {"custom"}}, "expiry_date", "Pick the date"},
		{"custom date past", url.Values{"name": {"x"}, "permissions": {"keys:read"}, "expiry": {"custom"}, "expiry_date": {"2026-01-01"}}, "expiry_date", "in the future"},
		{"custom date beyond a year", url.Values{"name": {"x"}, "permissions": {"keys:read"}, "expiry": {"custom"}, "expiry_date": {"2028-01-01"}}, "expiry_date", "at most a year"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.post("/account/tokens", tt.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			d := r.doc(t)
			if got := d.Find(`[data-testid="` + tt.field + `-error"]`).Text(); !strings.Contains(got, tt.want) {
				t.Errorf("%s error: got %q, want %q", tt.field, got, tt.want)
			}
			if d.Find(`[data-testid="new-token"]`).Length() != 0 {
				t.Error("a refused form shows a token")
			}
			if name := d.Find(`#token-name`).AttrOr("value", ""); name != tt.form.Get("name") {
				t.Errorf("name kept: got %q, want %q", name, tt.form.Get("name"))
			}
		})
	}
	list, err := a.store.ListAPITokens(context.Background(), 1)
	if err != nil || len(list) != 0 {
		t.Errorf("tokens after refused forms: got %d (%v), want 0", len(list), err)
	}
	// Choosing "never" warns, beside the form.
	r := b.post("/account/tokens", url.Values{"permissions": {"keys:read"}, "expiry": {"never"}})
	if r.doc(t).Find(`[data-testid="token-never-warning"]`).Length() != 1 {
		t.Error("no warning for a token that never expires")
	}
}

// TestAccountTokenHTMX: htmx gets the card alone, with the panel on top.
func TestAccountTokenHTMX(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("root@example.com", db.RoleAdmin)
	if got := b.get("/account").doc(t).Find(`input[data-testid="token-permission"]`).Length(); got != 4 {
		t.Errorf("permissions offered to an admin: got %d, want 4", got)
	}
	hx := http.Header{"HX-Request": {"true"}}
	r := b.postWith("/account/tokens", url.Values{"name": {"ops"}, "permissions": {"admin:read"}, "expiry": {"never"}}, hx)
	if r.StatusCode != http.StatusOK || strings.Contains(r.body, "<html") {
		t.Fatalf("htmx create: got %d, want 200 with the card alone", r.StatusCode)
	}
	revealedToken(t, r)
	if got := r.doc(t).Find(`section#tokens`).Length(); got != 1 {
		t.Errorf("card: got %d, want 1", got)
	}
	r = b.postWith("/account/tokens", url.Values{"name": {""}, "permissions": {"admin:read"}}, hx)
	if r.StatusCode != http.StatusOK || r.doc(t).Find(`[data-testid="name-error"]`).Length() != 1 {
		t.Errorf("htmx refused create: got %d, want 200 with the name error", r.StatusCode)
	}
}

func TestAccountTokenRevoke(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	annUser, err := a.store.GetUserByEmail(context.Background(), "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	id, secret := a.namedToken(annUser, "ci")
	bobID, bobSecret := a.namedToken(bob, "bob's")

	r := b.post("/account/tokens/"+strconv.FormatInt(bobID, 10)+"/revoke", nil)
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("revoke another's token: got %d, want 404", r.StatusCode)
	}
	if got := a.mgmt(bobSecret).get("/api/v1/me"); got.StatusCode != http.StatusOK {
		t.Errorf("bob's token after ann's attempt: got %d, want 200", got.StatusCode)
	}
	r = b.post("/account/tokens/"+strconv.FormatInt(id, 10)+"/revoke", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account#tokens" {
		t.Fatalf("revoke: got %d to %q, want 303 to /account#tokens", r.StatusCode, r.Header.Get("Location"))
	}
	a.mgmt(secret).get("/api/v1/me").wantProblem(t, http.StatusUnauthorized, "TOKEN_REVOKED")
	d := b.get("/account").doc(t)
	row := d.Find(`[data-testid="token-row"]`)
	if row.AttrOr("data-status", "") != "revoked" || !strings.Contains(row.AttrOr("class", ""), "opacity-60") ||
		row.Find(`[data-testid="token-revoke"]`).Length() != 0 {
		t.Errorf("revoked row: got status %q class %q, want revoked, greyed, no revoke", row.AttrOr("data-status", ""), row.AttrOr("class", ""))
	}
	if !strings.Contains(d.Find(`[data-testid="flash"]`).Text(), "was revoked") {
		t.Error("no flash after revoking")
	}
	if r := b.post("/account/tokens/"+strconv.FormatInt(id, 10)+"/revoke", nil); r.StatusCode != http.StatusConflict {
		t.Errorf("revoke again: got %d, want 409", r.StatusCode)
	}
	if r := b.post("/account/tokens/nope/revoke", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoke a bad id: got %d, want 404", r.StatusCode)
	}
}
