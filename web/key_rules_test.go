package web

import (
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
