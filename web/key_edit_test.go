package web

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// TestKeyEditAuthorization is the edit route × role table: the owner and
// an admin change the key; an auditor on someone else's key and another
// member get 404; a signed-out visitor is sent to sign in. A refusal
// changes nothing.
func TestKeyEditAuthorization(t *testing.T) {
	a := newTestApp(t)
	owner, ou := a.userBrowser("owner@example.com", db.RoleMember)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	auditor, _ := a.userBrowser("auditor@example.com", db.RoleAuditor)
	other, _ := a.userBrowser("other@example.com", db.RoleMember)
	anon := a.browser()
	in := a.clock.Now().Add(30 * day)
	k, _ := a.storeKey(ou.ID, db.KeyInput{Name: "svc", ExpiresAt: &in})
	path := "/keys/" + itoa(k.ID) + "/edit"
	shorter := a.clock.Now().Add(10 * day).Format(time.DateOnly)

	tests := []struct {
		name       string
		b          *browser
		wantStatus int
		wantLoc    string
		wantChange bool
	}{
		{"signed out", anon, http.StatusSeeOther, "/login", false},
		{"other member", other, http.StatusNotFound, "", false},
		{"auditor on someone else's key", auditor, http.StatusNotFound, "", false},
		{"owner", owner, http.StatusSeeOther, "/keys/" + itoa(k.ID), true},
		{"admin", admin, http.StatusSeeOther, "/keys/" + itoa(k.ID), true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.getKey(k.ID)
			name := "renamed " + itoa(int64(i))
			r := tt.b.post(path, url.Values{"name": {name}, "description": {"by " + tt.name}, "expires_on": {shorter}})
			if r.StatusCode != tt.wantStatus || r.Header.Get("Location") != tt.wantLoc {
				t.Fatalf("got %d Location %q, want %d %q", r.StatusCode, r.Header.Get("Location"), tt.wantStatus, tt.wantLoc)
			}
			after := a.getKey(k.ID)
			if !tt.wantChange {
				if !reflect.DeepEqual(after, before) {
					t.Errorf("key changed:\n got %+v\nwant %+v", after, before)
				}
				return
			}
			if after.Name != name || after.ExpiresAt.Format(time.DateOnly) != shorter {
				t.Errorf("key after edit: name %q expires %v, want %q expiring on %s", after.Name, after.ExpiresAt, name, shorter)
			}
		})
	}
}

// TestKeyEditExpiryForm holds the expiry rules through the form: refusals
// come back beside the field (422) with nothing written; "never" only
// without a lifetime cap; longer only within the cap from creation.
func TestKeyEditExpiryForm(t *testing.T) {
	a := newTestApp(t, longSessions)
	owner, ou := a.userBrowser("owner@example.com", db.RoleMember)
	now := a.clock.Now()
	date := func(d time.Duration) string { return now.Add(d).Format(time.DateOnly) }
	tests := []struct {
		name       string
		capped     bool   // the policy caps key lifetime at 90 days
		expires    string // the form's value
		wantError  string // beside the field; "" for a saved change
		wantExpiry string // the stored expiry day, or "never"
	}{
		{"shorter", false, date(10 * day), "", date(10 * day)},
		{"longer without a cap", false, date(400 * day), "", date(400 * day)},
		{"never without a cap", false, "", "", "never"},
		{"longer within the cap", true, date(80 * day), "", date(80 * day)},
		{"longer over the cap", true, date(120 * day), "Keys may live at most 90 days from their creation", date(30 * day)},
		{"never with a cap", true, "", "Keys must expire: they may live at most 90 days.", date(30 * day)},
		{"in the past", false, date(-2 * day), "Choose an expiry in the future.", date(30 * day)},
		{"not a date", false, "next week", "Enter a date as YYYY-MM-DD", date(30 * day)},
		{"same day keeps the exact time", false, date(30 * day), "", date(30 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := db.DefaultPolicy()
			if tt.capped {
				p.MaxKeyLifetime = 90 * day
			}
			if err := a.store.SetPolicy(context.Background(), p, db.CLIActor()); err != nil {
				t.Fatalf("policy: %v", err)
			}
			in := now.Add(30 * day)
			k, _ := a.storeKey(ou.ID, db.KeyInput{Name: "svc", ExpiresAt: &in})
			r := owner.post("/keys/"+itoa(k.ID)+"/edit", url.Values{"name": {"svc"}, "description": {""}, "expires_on": {tt.expires}})
			stored := a.getKey(k.ID)
			got := "never"
			if stored.ExpiresAt != nil {
				got = stored.ExpiresAt.Format(time.DateOnly)
			}
			if got != tt.wantExpiry {
				t.Errorf("stored expiry: got %s, want %s", got, tt.wantExpiry)
			}
			if tt.wantError == "" {
				wantRedirect(t, r, "/keys/"+itoa(k.ID))
				if tt.name == "same day keeps the exact time" && !stored.ExpiresAt.Equal(in.Truncate(time.Millisecond)) {
					t.Errorf("expiry moved: got %v, want %v", stored.ExpiresAt, in)
				}
				return
			}
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422; body %.300s", r.StatusCode, r.body)
			}
			doc := r.doc(t)
			if msg := doc.Find("#expires_on-error").Text(); !strings.Contains(msg, tt.wantError) {
				t.Errorf("field error: got %q, want it to contain %q", msg, tt.wantError)
			}
			if v, _ := doc.Find(`[data-testid="edit-expires"]`).Attr("value"); v != tt.expires {
				t.Errorf("field value: got %q, want what was typed, %q", v, tt.expires)
			}
			if inv, _ := doc.Find(`[data-testid="edit-expires"]`).Attr("aria-invalid"); inv != "true" {
				t.Errorf("aria-invalid: got %q, want true", inv)
			}
		})
	}
}

// TestKeyEditExpiryReachesVerifier: shortening a key's expiry from the key
// page takes effect on the server's verifier at once, though it had the
// key cached.
func TestKeyEditExpiryReachesVerifier(t *testing.T) {
	a := newTestApp(t, longSessions)
	owner, ou := a.userBrowser("owner@example.com", db.RoleMember)
	k, secret := a.storeKey(ou.ID, db.KeyInput{Name: "svc"})
	a.wantCode(secret, "")
	// The first use from an address is audited when usage is flushed:
	// write it now, so the edit is the key's latest event below.
	a.flush()
	today := a.clock.Now().Format(time.DateOnly)
	wantRedirect(t, owner.post("/keys/"+itoa(k.ID)+"/edit", url.Values{"name": {"svc"}, "description": {""}, "expires_on": {today}}),
		"/keys/"+itoa(k.ID))
	a.wantCode(secret, "")
	a.clock.Advance(12 * time.Hour)
	a.wantCode(secret, string(db.CodeExpired))

	events, err := a.store.KeyEvents(context.Background(), db.AnyOwner(), k.ID, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := db.Change{Before: "never", After: a.clock.Now().Add(-12*time.Hour).Format(time.DateOnly) + "T23:59:59Z"}
	if events[0].Action != db.ActionKeyUpdate || events[0].Changes["expires_at"] != want {
		t.Errorf("last event: got %s %v, want key.update with expires_at %v", events[0].Action, events[0].Changes, want)
	}
	row := strings.Join(strings.Fields(owner.get("/keys/"+itoa(k.ID)).doc(t).Find(`[data-testid="event-row"]`).First().Text()), " ")
	if wantText := "expires at: never → " + want.After; !strings.Contains(row, "Key edited") || !strings.Contains(row, wantText) {
		t.Errorf("activity row: got %q, want Key edited with %q", row, wantText)
	}
}
