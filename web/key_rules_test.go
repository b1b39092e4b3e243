package web

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// wantErrorMessage fails unless r is an error page with status whose text
// says want.
func wantErrorMessage(t *testing.T, r response, status int, want string) {
	t.Helper()
	wantErrorPage(t, r, status)
	if got := strings.Join(strings.Fields(r.doc(t).Find(`[data-testid="error-page"]`).Text()), " "); !strings.Contains(got, want) {
		t.Errorf("error page: got %q, want it to say %q", got, want)
	}
}

// TestKeyRollOnlyOwner: rolling hands out a working secret, so only the
// key's owner may roll it. An admin who posts the roll form of a member's
// key gets a clear refusal, no secret, and the key unchanged (admins
// disable or revoke); the owner's own roll works, an admin's of their own
// key too.
func TestKeyRollOnlyOwner(t *testing.T) {
	a := newTestApp(t)
	admin, adminU := a.userBrowser("admin@example.com", db.RoleAdmin)
	owner, _ := a.userBrowser("owner@example.com", db.RoleMember)
	id, secret := owner.createKey(keyForm("service"))
	path := "/keys/" + itoa(id)

	before, n := a.getKey(id), a.countKeys()
	r := admin.post(path+"/roll", url.Values{"grace": {"0"}})
	wantErrorMessage(t, r, http.StatusForbidden, "Only the owner of a key can roll it")
	if keyPattern.MatchString(r.body) {
		t.Errorf("the refusal carries a key")
	}
	if after := a.getKey(id); !reflect.DeepEqual(after, before) {
		t.Errorf("key after the admin's roll:\n got %+v\nwant %+v", after, before)
	}
	if got := a.countKeys(); got != n {
		t.Errorf("keys after the admin's roll: got %d, want %d", got, n)
	}
	a.wantCode(secret, "")
	if rows := auditRows(t, admin.get("/admin/audit?action=key.roll")); len(rows) != 0 {
		t.Errorf("key.roll events: got %q, want none", rows)
	}

	// The admin's page of the member's key offers no roll either.
	if admin.get(path).doc(t).Find(`[data-testid="roll-form"]`).Length() != 0 {
		t.Errorf("admin's view of a member's key: got a roll form, want none")
	}

	t.Run("owner", func(t *testing.T) {
		newID, _ := revealed(t, owner.post(path+"/roll", url.Values{"grace": {"0"}}))
		if k := a.getKey(newID); k.RolledFrom != id {
			t.Errorf("rolled key: got rolled_from %d, want %d", k.RolledFrom, id)
		}
		a.wantCode(secret, "EXPIRED")
	})
	t.Run("admin's own key", func(t *testing.T) {
		own, _ := a.storeKey(adminU.ID, db.KeyInput{Name: "admin's"})
		revealed(t, admin.post("/keys/"+itoa(own.ID)+"/roll", url.Values{"grace": {"0"}}))
	})
}

// keyBanner is the text of the disabled banner on the key page b sees.
func keyBanner(t *testing.T, b *browser, id int64) string {
	t.Helper()
	r := b.get("/keys/" + itoa(id))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET key %d: got %d, want 200", id, r.StatusCode)
	}
	return squish(r.doc(t).Find(`[data-testid="key-disabled"]`).Text())
}

// hasForm reports whether the key page b sees offers the form testid.
func hasForm(t *testing.T, b *browser, id int64, testid string) bool {
	t.Helper()
	return b.get("/keys/"+itoa(id)).doc(t).Find(`[data-testid="`+testid+`"]`).Length() == 1
}

// TestKeyDisableLiftedByWhoDisabled: a key disabled by an admin (one by
// one or in bulk) or by the auto-disable policy stays disabled until an
// admin enables it: its owner is told who disabled it and why, is offered
// no Enable, is refused one sent anyway, and cannot roll it into an
// active successor. A key its owner disabled, the owner enables; rolling
// it waits until it is enabled.
func TestKeyDisableLiftedByWhoDisabled(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	owner, ownerU := a.userBrowser("owner@example.com", db.RoleMember)

	byAdmin, secret := owner.createKey(keyForm("by admin", "expiry", "never"))
	bulk, _ := owner.createKey(keyForm("by bulk", "expiry", "never"))
	policy, _ := a.storeKey(ownerU.ID, db.KeyInput{Name: "by policy"})
	wantRedirect(t, admin.post("/keys/"+itoa(byAdmin)+"/disable", url.Values{"reason": {"Suspicious traffic from 203.0.113.9"}}), "/keys/"+itoa(byAdmin))
	wantRedirect(t, admin.post("/admin/keys/bulk", url.Values{"action": {"disable"}, "id": {itoa(bulk)},
		"confirm": {"1"}, "reason": {"Quarterly review"}}), "/admin/keys")
	p, err := a.store.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.AutoDisableAfter = 30 * day
	if err := a.store.SetPolicy(ctx, p, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(31 * day)
	if _, err := a.store.AutoDisableStale(ctx); err != nil {
		t.Fatal(err)
	}
	// A month on, rolling asks for the password first (sudo mode).
	owner.reauth()

	tests := []struct {
		name          string
		id            int64
		owners, admin string // the banner's first sentence as each reads it
	}{
		{"one by one", byAdmin, "Disabled by admin@example.com 1 month ago: Suspicious traffic from 203.0.113.9.",
			"Disabled by you 1 month ago: Suspicious traffic from 203.0.113.9."},
		{"bulk", bulk, "Disabled by admin@example.com 1 month ago: Quarterly review.",
			"Disabled by you 1 month ago: Quarterly review."},
		{"policy", policy.ID, "Disabled by Keyward just now: unused for 30 days (auto-disable).",
			"Disabled by Keyward just now: unused for 30 days (auto-disable)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range []struct {
				who  string
				b    *browser
				want string
			}{{"owner", owner, tt.owners}, {"admin", admin, tt.admin}} {
				if got := keyBanner(t, b.b, tt.id); !strings.HasPrefix(got, b.want) {
					t.Errorf("%s's banner: got %q, want it to start with %q", b.who, got, b.want)
				}
			}
			if got := keyBanner(t, owner, tt.id); !strings.Contains(got, "Only an admin can enable it.") {
				t.Errorf("owner's banner: got %q, want it to say only an admin can enable it", got)
			}
			if hasForm(t, owner, tt.id, "enable-form") || hasForm(t, owner, tt.id, "roll-form") {
				t.Errorf("owner's page offers Enable or Roll, want neither")
			}
			before, n := a.getKey(tt.id), a.countKeys()
			wantErrorMessage(t, owner.post("/keys/"+itoa(tt.id)+"/enable", nil), http.StatusConflict, "only an admin can enable it")
			wantErrorMessage(t, owner.post("/keys/"+itoa(tt.id)+"/roll", url.Values{"grace": {"0"}}), http.StatusConflict, "cannot be rolled")
			if after := a.getKey(tt.id); !reflect.DeepEqual(after, before) {
				t.Errorf("key after the owner's attempts:\n got %+v\nwant %+v", after, before)
			}
			if got := a.countKeys(); got != n {
				t.Errorf("keys: got %d, want %d (no successor)", got, n)
			}
			if !hasForm(t, admin, tt.id, "enable-form") {
				t.Errorf("admin's page: want an Enable form")
			}
			wantRedirect(t, admin.post("/keys/"+itoa(tt.id)+"/enable", nil), "/keys/"+itoa(tt.id))
			if k := a.getKey(tt.id); k.DisabledAt != nil || k.DisabledBy != 0 || k.DisabledReason != "" {
				t.Errorf("after the admin's enable: got %+v, want enabled with no disable recorded", k)
			}
		})
	}
	a.wantCode(secret, "")

	t.Run("owner's own disable", func(t *testing.T) {
		wantRedirect(t, owner.post("/keys/"+itoa(byAdmin)+"/disable", url.Values{"reason": {"Pausing the job"}}), "/keys/"+itoa(byAdmin))
		if got := keyBanner(t, owner, byAdmin); !strings.HasPrefix(got, "Disabled by you just now: Pausing the job.") || strings.Contains(got, "Only an admin") {
			t.Errorf("banner: got %q, want it disabled by you, with the reason", got)
		}
		if got := keyBanner(t, admin, byAdmin); !strings.HasPrefix(got, "Disabled by owner@example.com just now") {
			t.Errorf("admin's banner: got %q, want it disabled by owner@example.com", got)
		}
		if hasForm(t, owner, byAdmin, "roll-form") {
			t.Errorf("owner's page of a disabled key offers Roll, want it after enabling")
		}
		n := a.countKeys()
		wantErrorMessage(t, owner.post("/keys/"+itoa(byAdmin)+"/roll", url.Values{"grace": {"0"}}), http.StatusConflict, "Enable it before rolling it.")
		if got := a.countKeys(); got != n {
			t.Errorf("keys: got %d, want %d (no successor)", got, n)
		}
		wantRedirect(t, owner.post("/keys/"+itoa(byAdmin)+"/enable", nil), "/keys/"+itoa(byAdmin))
		a.wantCode(secret, "")
		revealed(t, owner.post("/keys/"+itoa(byAdmin)+"/roll", url.Values{"grace": {"1h"}}))
	})
}

// TestKeyRevokedBanner: a revoked key's page says who revoked it, when and
// why, and shows no expiry: a revoked key never expires into anything.
func TestKeyRevokedBanner(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	owner, ownerU := a.userBrowser("owner@example.com", db.RoleMember)
	byAdmin, _ := owner.createKey(keyForm("by admin", "expiry", "90"))
	byOwner, _ := owner.createKey(keyForm("by owner", "expiry", "90"))
	byCLI, _ := a.storeKey(ownerU.ID, db.KeyInput{Name: "by cli"})
	wantRedirect(t, admin.post("/keys/"+itoa(byAdmin)+"/revoke", url.Values{"reason": {"Leaked in a build log"}}), "/keys/"+itoa(byAdmin))
	wantRedirect(t, owner.post("/keys/"+itoa(byOwner)+"/revoke", nil), "/keys/"+itoa(byOwner))
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), byCLI.ID, "rotated", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(2 * day)

	tests := []struct {
		name string
		id   int64
		b    *browser
		want string
	}{
		{"by an admin, seen by the owner", byAdmin, owner, "Revoked by admin@example.com 2 days ago: Leaked in a build log."},
		{"by an admin, seen by the admin", byAdmin, admin, "Revoked by you 2 days ago: Leaked in a build log."},
		{"by the owner, no reason", byOwner, owner, "Revoked by you 2 days ago. No reason was given."},
		{"from the command line", byCLI.ID, owner, "Revoked from the command line 2 days ago: rotated."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.b.get("/keys/" + itoa(tt.id)).doc(t)
			if got := squish(d.Find(`[data-testid="key-revoked"]`).Text()); !strings.HasPrefix(got, tt.want) {
				t.Errorf("banner: got %q, want it to start with %q", got, tt.want)
			}
			if got := squish(d.Find(`[data-testid="key-details"]`).Text()); strings.Contains(got, "Expires") {
				t.Errorf("details of a revoked key: got %q, want no expiry", got)
			}
		})
	}
}
