package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// issuedForm is the create form the server rendered at path (/keys/new, or
// /keys for the inline one), filled in with name: the exact fields a
// browser posts, one-time token included.
func (b *browser) issuedForm(path, name string) url.Values {
	b.t.Helper()
	r := b.get(path)
	tok := r.doc(b.t).Find(`form[data-testid="key-form"] input[name="form_token"]`).AttrOr("value", "")
	if db.CheckFormToken(tok) != nil {
		b.t.Fatalf("GET %s: got form_token %q, want a usable one-time token", path, tok)
	}
	f := keyForm(name)
	f.Set("form_token", tok)
	return f
}

// wantAlreadyCreated fails unless r is the "already created" answer for
// key id: a link to it, and neither a key nor a show-once panel.
func wantAlreadyCreated(t *testing.T, r response, status int, id int64) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("got status %d, want %d; body %.300s", r.StatusCode, status, r.body)
	}
	d := r.doc(t)
	panel := d.Find(`[data-testid="key-already-created"]`)
	if panel.Length() != 1 {
		t.Fatalf("got %d already-created panels, want 1", panel.Length())
	}
	if got := strings.Join(strings.Fields(panel.Find("h2").Text()), " "); got != "This key was already created and shown once" {
		t.Errorf("heading: got %q, want This key was already created and shown once", got)
	}
	if got := panel.Find(`a[data-testid="already-created-link"]`).AttrOr("href", ""); got != "/keys/"+itoa(id) {
		t.Errorf("link: got %q, want /keys/%d", got, id)
	}
	if keyInText.MatchString(r.body) || d.Find(`[data-testid="key-reveal"], [data-confirm-leave]`).Length() != 0 {
		t.Errorf("the answer shows a key or a show-once panel; want neither")
	}
}

// TestKeysCreateOnce posts the same create form twice, as a reload of the
// show-once page or Back and resubmit does: the second post finds the key
// the first one made, and there is still exactly one key.
func TestKeysCreateOnce(t *testing.T) {
	tests := []struct {
		name   string
		path   string // where the form is rendered
		hdr    http.Header
		status int // of the second answer
	}{
		{"page without htmx", "/keys/new", nil, http.StatusConflict},
		{"inline with htmx", "/keys", http.Header{"Hx-Request": {"true"}}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t)
			b, u := a.userBrowser("ann@example.com", db.RoleMember)
			a.storeKey(u.ID, db.KeyInput{Name: "existing"}) // so /keys shows the inline form
			form := b.issuedForm(tt.path, "billing")

			first := b.postWith("/keys", form, tt.hdr)
			if first.StatusCode != http.StatusOK {
				t.Fatalf("first post: got %d, want 200; body %.300s", first.StatusCode, first.body)
			}
			id, secret := revealed(t, first)
			second := b.postWith("/keys", form, tt.hdr)
			wantAlreadyCreated(t, second, tt.status, id)
			if strings.Contains(second.body, secret) {
				t.Errorf("the second answer contains the key; want it shown once")
			}
			if n := a.countKeys(); n != 2 {
				t.Errorf("keys: got %d, want 2 (the existing one and billing)", n)
			}
			events, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionKeyCreate, TargetType: "key", TargetID: id})
			if err != nil || len(events) != 1 {
				t.Errorf("key.create events for key %d: got %d (%v), want 1", id, len(events), err)
			}
			// A new form is a new token: it creates the next key.
			if r := b.postWith("/keys", b.issuedForm(tt.path, "billing"), tt.hdr); r.StatusCode != http.StatusOK {
				t.Errorf("a fresh form: got %d, want 200 and a new key", r.StatusCode)
			}
			if n := a.countKeys(); n != 3 {
				t.Errorf("keys after a fresh form: got %d, want 3", n)
			}
		})
	}
}

// TestKeysCreateFormToken: a form without a usable token (a page from
// before tokens, a hand-made request) creates nothing and comes back with
// a message and a fresh token; a form sent back for a field error keeps
// its token, which then creates the key once.
func TestKeysCreateFormToken(t *testing.T) {
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)

	for _, tok := range []string{"", "short", strings.Repeat("x", 200), "not a token at all!"} {
		t.Run("token "+strconv.Quote(tok), func(t *testing.T) {
			f := keyForm("billing")
			f.Set("form_token", tok)
			r := b.post("/keys", f)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			d := r.doc(t)
			if got := d.Find(`[data-testid="form_token-error"]`).Text(); got != "This form has expired. Check the details and submit it again." {
				t.Errorf("message: got %q, want the form-expired message", got)
			}
			fresh := d.Find(`input[name="form_token"]`).AttrOr("value", "")
			if db.CheckFormToken(fresh) != nil || fresh == tok {
				t.Errorf("token in the returned form: got %q, want a fresh usable one", fresh)
			}
			if got := d.Find(`input[name="name"]`).AttrOr("value", ""); got != "billing" {
				t.Errorf("name: got %q, want billing kept", got)
			}
			if n := a.countKeys(); n != 0 {
				t.Errorf("keys: got %d, want 0", n)
			}
		})
	}

	t.Run("field error keeps the token", func(t *testing.T) {
		f := b.issuedForm("/keys/new", "")
		r := b.post("/keys", f)
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("empty name: got %d, want 422", r.StatusCode)
		}
		if got := r.doc(t).Find(`input[name="form_token"]`).AttrOr("value", ""); got != f.Get("form_token") {
			t.Fatalf("token after a field error: got %q, want the form's own %q", got, f.Get("form_token"))
		}
		f.Set("name", "billing")
		id, _ := b.createKey(f)
		wantAlreadyCreated(t, b.post("/keys", f), http.StatusConflict, id)
		if n := a.countKeys(); n != 1 {
			t.Errorf("keys: got %d, want 1", n)
		}
	})

	t.Run("another person's token", func(t *testing.T) {
		f := b.issuedForm("/keys/new", "ann's")
		b.createKey(f)
		other, _ := a.userBrowser("bob@example.com", db.RoleMember)
		f.Set("name", "bob's")
		f.Del("_csrf") // ann's, added by her post
		r := other.post("/keys", f)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("bob with ann's token: got %d, want 200 and his own key (tokens are per person)", r.StatusCode)
		}
		id, _ := revealed(t, r)
		if k := a.getKey(id); k.OwnerEmail != "bob@example.com" || k.Name != "bob's" {
			t.Errorf("got key %q of %s, want bob's own", k.Name, k.OwnerEmail)
		}
	})
}
