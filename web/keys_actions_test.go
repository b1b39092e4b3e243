package web

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

func TestKeyAuthorization(t *testing.T) {
	a := newTestApp(t)
	owner, u := a.userBrowser("owner@example.com", db.RoleMember)
	id, secret := owner.createKey(keyForm("owned", "description", "mine", "scopes", "read"))
	k := a.getKey(id)
	if k.UserID != u.ID {
		t.Fatalf("key 1 owner: got %d, want %d", k.UserID, u.ID)
	}
	path := "/keys/" + itoa(k.ID)
	intruder, _ := a.userBrowser("intruder@example.com", db.RoleMember)

	tests := []struct {
		name string
		do   func(b *browser, path string) response
	}{
		{"show", func(b *browser, p string) response { return b.get(p) }},
		{"edit", func(b *browser, p string) response {
			return b.post(p+"/edit", url.Values{"name": {"stolen"}, "description": {"x"}})
		}},
		{"disable", func(b *browser, p string) response { return b.post(p+"/disable", nil) }},
		{"enable", func(b *browser, p string) response { return b.post(p+"/enable", nil) }},
		{"roll", func(b *browser, p string) response { return b.post(p+"/roll", url.Values{"grace": {"1h"}}) }},
		{"revoke", func(b *browser, p string) response { return b.post(p+"/revoke", url.Values{"reason": {"x"}}) }},
	}
	for _, tt := range tests {
		t.Run("other user "+tt.name, func(t *testing.T) {
			before, n := a.getKey(k.ID), a.countKeys()
			r := tt.do(intruder, path)
			if r.StatusCode != http.StatusNotFound {
				t.Errorf("status: got %d, want 404", r.StatusCode)
			}
			if strings.Contains(r.body, "owned") || strings.Contains(r.body, "owner@example.com") {
				t.Errorf("404 page reveals the key or its owner")
			}
			if after := a.getKey(k.ID); !reflect.DeepEqual(after, before) {
				t.Errorf("key changed:\n got %+v\nwant %+v", after, before)
			}
			if got := a.countKeys(); got != n {
				t.Errorf("keys: got %d, want %d", got, n)
			}
		})
		for _, bad := range []string{"abc", "0", "-1", "1.5", "99999999999999999999"} {
			t.Run("id "+bad+" "+tt.name, func(t *testing.T) {
				if r := tt.do(owner, "/keys/"+bad); r.StatusCode != http.StatusNotFound {
					t.Errorf("status: got %d, want 404", r.StatusCode)
				}
			})
		}
	}
	a.wantCode(secret, "")

	t.Run("admin sees a member's key", func(t *testing.T) {
		admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
		r := admin.get(path)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status: got %d, want 200", r.StatusCode)
		}
		d := r.doc(t)
		if got := d.Find(`[data-testid="key-name"]`).Text(); got != "owned" {
			t.Errorf("key name: got %q, want owned", got)
		}
		if got := d.Find(`[data-testid="key-owner"]`).Text(); got != "owner@example.com" {
			t.Errorf("owner: got %q, want owner@example.com", got)
		}
	})
}

func TestKeyEdit(t *testing.T) {
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)
	id, _ := b.createKey(keyForm("before", "description", "old words"))
	path := "/keys/" + itoa(id)

	invalid := []struct {
		name, field, input string
		form               url.Values
	}{
		{"empty name", "name", `#edit-name`, url.Values{"name": {"  "}, "description": {"kept text"}}},
		{"long name", "name", `#edit-name`, url.Values{"name": {strings.Repeat("n", 101)}, "description": {"kept text"}}},
		{"long description", "description", `#edit-description`, url.Values{"name": {"kept"}, "description": {strings.Repeat("d", 501)}}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			r := b.post(path+"/edit", tt.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status: got %d, want 422", r.StatusCode)
			}
			d := r.doc(t)
			if d.Find(`[data-testid="`+tt.field+`-error"]`).Length() != 1 {
				t.Errorf("message beside %s: got none", tt.field)
			}
			if got := d.Find(tt.input).AttrOr("aria-invalid", ""); got != "true" {
				t.Errorf("%s aria-invalid: got %q, want true", tt.input, got)
			}
			if got := d.Find(`#edit-name`).AttrOr("value", ""); got != tt.form.Get("name") {
				t.Errorf("typed name: got %q, want %q", got, tt.form.Get("name"))
			}
			if got := d.Find(`#edit-description`).Text(); got != tt.form.Get("description") {
				t.Errorf("typed description: got %d characters, want %d", len(got), len(tt.form.Get("description")))
			}
			if k := a.getKey(id); k.Name != "before" || k.Description != "old words" {
				t.Errorf("key: got %q/%q, want it unchanged", k.Name, k.Description)
			}
		})
	}

	t.Run("success", func(t *testing.T) {
		r := b.post(path+"/edit", url.Values{"name": {"after"}, "description": {"new words"}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
			t.Fatalf("got %d %q, want 303 %s", r.StatusCode, r.Header.Get("Location"), path)
		}
		d := b.get(path).doc(t)
		if got := d.Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "saved") {
			t.Errorf("flash: got %q, want a success message", strings.TrimSpace(got))
		}
		if got := d.Find(`[data-testid="key-name"]`).Text(); got != "after" {
			t.Errorf("name: got %q, want after", got)
		}
		if got := d.Find(`[data-testid="key-description"]`).Text(); got != "new words" {
			t.Errorf("description: got %q, want new words", got)
		}
		if n := b.get(path).doc(t).Find(`[data-testid="flash"]`).Length(); n != 0 {
			t.Errorf("flash on reload: got %d, want 0 (shown once)", n)
		}
	})
}

func TestKeyLifecycle(t *testing.T) {
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)
	id, secret := b.createKey(keyForm("lifecycle"))
	path := "/keys/" + itoa(id)
	a.wantCode(secret, "")

	step := func(action string, form url.Values, wantCode string) {
		t.Helper()
		r := b.post(path+"/"+action, form)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
			t.Fatalf("%s: got %d %q, want 303 %s", action, r.StatusCode, r.Header.Get("Location"), path)
		}
		// No waiting: the cache is dropped by the change itself.
		a.wantCode(secret, wantCode)
	}
	step("disable", nil, "DISABLED")
	if got := b.get(path).doc(t).Find(`[data-testid="key-name"] + [data-testid="status-badge"]`).AttrOr("data-status", ""); got != "disabled" {
		t.Errorf("badge after disable: got %q, want disabled", got)
	}
	step("enable", nil, "")
	step("revoke", url.Values{"reason": {"leaked in a build log"}}, "REVOKED")

	d := b.get(path).doc(t)
	if d.Find(`[data-testid="key-revoked"]`).Length() != 1 || d.Find(`[data-testid="key-actions"]`).Length() != 0 {
		t.Errorf("revoked key page: want the revoked notice and no actions")
	}
	if !strings.Contains(d.Find(`[data-testid="events-list"]`).Text(), "leaked in a build log") {
		t.Errorf("activity: want the revoke reason")
	}

	final := []struct {
		action string
		form   url.Values
		msg    string
	}{
		{"enable", nil, "revoked"},
		{"disable", nil, "revoked"},
		{"roll", url.Values{"grace": {"1h"}}, "revoked"},
		{"edit", url.Values{"name": {"again"}}, "revoked"},
		{"revoke", nil, "already revoked"},
	}
	for _, tt := range final {
		t.Run("revoked "+tt.action, func(t *testing.T) {
			n := a.countKeys()
			r := b.post(path+"/"+tt.action, tt.form)
			if r.StatusCode != http.StatusConflict {
				t.Fatalf("status: got %d, want 409", r.StatusCode)
			}
			if body := r.doc(t).Find("main").Text(); !strings.Contains(body, tt.msg) {
				t.Errorf("page: got %q, want a message saying %q", strings.Join(strings.Fields(body), " "), tt.msg)
			}
			if got := a.countKeys(); got != n {
				t.Errorf("keys: got %d, want %d", got, n)
			}
			a.wantCode(secret, "REVOKED")
		})
	}
}

func TestKeyRoll(t *testing.T) {
	t.Run("grace 1h", func(t *testing.T) {
		a := newTestApp(t)
		b, _ := a.userBrowser("ann@example.com", db.RoleMember)
		oldID, oldSecret := b.createKey(keyForm("rolling", "scopes", "read write"))
		a.wantCode(oldSecret, "")
		r := b.post("/keys/"+itoa(oldID)+"/roll", url.Values{"grace": {"1h"}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("roll: got %d, want 200", r.StatusCode)
		}
		newID, newSecret := revealed(t, r)
		if newID == oldID || newSecret == oldSecret {
			t.Fatalf("roll: got the old key back")
		}
		nk := a.getKey(newID)
		if nk.Name != "rolling" || !reflect.DeepEqual(nk.Scopes, []string{"read", "write"}) || nk.RolledFrom != oldID {
			t.Errorf("new key: got name %q scopes %v rolled from %d, want rolling [read write] %d", nk.Name, nk.Scopes, nk.RolledFrom, oldID)
		}
		a.wantCode(oldSecret, "")
		a.wantCode(newSecret, "")
		a.clock.Advance(61 * time.Minute)
		a.wantCode(oldSecret, "EXPIRED")
		a.wantCode(newSecret, "")
	})

	t.Run("grace 0", func(t *testing.T) {
		a := newTestApp(t)
		b, _ := a.userBrowser("ann@example.com", db.RoleMember)
		oldID, oldSecret := b.createKey(keyForm("rolling"))
		a.wantCode(oldSecret, "")
		r := b.post("/keys/"+itoa(oldID)+"/roll", url.Values{"grace": {"0"}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("roll: got %d, want 200", r.StatusCode)
		}
		_, newSecret := revealed(t, r)
		a.wantCode(oldSecret, "EXPIRED")
		a.wantCode(newSecret, "")
	})

	// The page that shows the new key answers the roll's POST: a reload or
	// Back-and-resubmit posts it again, which must name the successor and
	// make no third key.
	t.Run("rolled again", func(t *testing.T) {
		a := newTestApp(t)
		b, _ := a.userBrowser("ann@example.com", db.RoleMember)
		oldID, _ := b.createKey(keyForm("rolling"))
		r := b.post("/keys/"+itoa(oldID)+"/roll", url.Values{"grace": {"1h"}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("roll: got %d, want 200", r.StatusCode)
		}
		newID, newSecret := revealed(t, r)
		n := a.countKeys()
		again := b.post("/keys/"+itoa(oldID)+"/roll", url.Values{"grace": {"1h"}})
		if again.StatusCode != http.StatusConflict {
			t.Errorf("second roll: got %d, want 409", again.StatusCode)
		}
		if got := a.countKeys(); got != n {
			t.Errorf("keys after the second roll: got %d, want %d", got, n)
		}
		if strings.Contains(again.body, newSecret) || strings.Contains(again.body, "kw_") && strings.Contains(again.body, `data-testid="key-value"`) {
			t.Errorf("second roll shows a secret again")
		}
		if link := again.doc(t).Find(`a[href="/keys/` + itoa(newID) + `"]`); link.Length() == 0 {
			t.Errorf("second roll: no link to the successor /keys/%d", newID)
		}
	})

	t.Run("unknown grace", func(t *testing.T) {
		a := newTestApp(t)
		b, _ := a.userBrowser("ann@example.com", db.RoleMember)
		id, secret := b.createKey(keyForm("rolling"))
		n := a.countKeys()
		if r := b.post("/keys/"+itoa(id)+"/roll", url.Values{"grace": {"8760h"}}); r.StatusCode != http.StatusBadRequest {
			t.Errorf("status: got %d, want 400", r.StatusCode)
		}
		if got := a.countKeys(); got != n {
			t.Errorf("keys: got %d, want %d", got, n)
		}
		a.wantCode(secret, "")
	})
}
