package web

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// limitsAudits counts the key.limits events of key id.
func (a *testApp) limitsAudits(id int64) int {
	a.t.Helper()
	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionKeyLimits, TargetID: id})
	if err != nil {
		a.t.Fatalf("list audit: %v", err)
	}
	return len(events)
}

// TestKeyLimitsAuthorization: POST /keys/{id}/limits by every role this
// branch has. Refusals change nothing: not the key, not the audit log.
func TestKeyLimitsAuthorization(t *testing.T) {
	a := newTestApp(t)
	owner, ownerUser := a.userBrowser("owner@example.com", db.RoleMember)
	other, _ := a.userBrowser("other@example.com", db.RoleMember)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	anon := a.browser()
	anon.get("/login") // a CSRF cookie, so the request reaches the sign-in check

	tests := []struct {
		name       string
		b          *browser
		wantStatus int
		wantLoc    string // for a 303
		changes    bool
	}{
		{"signed out", anon, http.StatusSeeOther, "/login", false},
		{"other member", other, http.StatusNotFound, "", false},
		{"owner", owner, http.StatusSeeOther, "/keys/", true},
		{"admin", admin, http.StatusSeeOther, "/keys/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := a.storeKey(ownerUser.ID, db.KeyInput{Name: "svc " + tt.name})
			r := tt.b.post("/keys/"+itoa(k.ID)+"/limits", url.Values{"allowed_ips": {"10.0.0.0/8"}, "meta": {`{"t":1}`}})
			if r.StatusCode != tt.wantStatus || !strings.HasPrefix(r.Header.Get("Location"), tt.wantLoc) {
				t.Fatalf("got %d Location %q, want %d %q", r.StatusCode, r.Header.Get("Location"), tt.wantStatus, tt.wantLoc)
			}
			after := a.getKey(k.ID)
			if !tt.changes {
				if !reflect.DeepEqual(after, k) || a.limitsAudits(k.ID) != 0 {
					t.Errorf("refused request changed the key or the audit log:\n got %+v\nwant %+v", after, k)
				}
				if strings.Contains(r.body, "owner@example.com") || strings.Contains(r.body, "svc "+tt.name) {
					t.Errorf("refusal reveals the key or its owner")
				}
				return
			}
			if len(after.AllowedIPs) != 1 || after.AllowedIPs[0].String() != "10.0.0.0/8" || after.Meta != `{"t":1}` {
				t.Errorf("limits = %v %q, want [10.0.0.0/8] {\"t\":1}", after.AllowedIPs, after.Meta)
			}
			if n := a.limitsAudits(k.ID); n != 1 {
				t.Errorf("key.limits events = %d, want 1", n)
			}
		})
	}
	t.Run("without a CSRF token", func(t *testing.T) {
		k, _ := a.storeKey(ownerUser.ID, db.KeyInput{Name: "csrf"})
		r := owner.post("/keys/"+itoa(k.ID)+"/limits", url.Values{"_csrf": {"forged"}, "allowed_ips": {"10.0.0.0/8"}})
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("got %d, want 403", r.StatusCode)
		}
		if after := a.getKey(k.ID); !reflect.DeepEqual(after, k) {
			t.Errorf("key changed without a CSRF token")
		}
	})
	t.Run("revoked key shows limits read-only and refuses changes", func(t *testing.T) {
		k, _ := a.storeKey(ownerUser.ID, db.KeyInput{Name: "gone", AllowedIPs: mustPrefixes(t, "192.0.2.0/24")})
		if _, err := a.store.RevokeKey(t.Context(), db.AnyOwner(), k.ID, "", db.CLIActor()); err != nil {
			t.Fatal(err)
		}
		d := owner.get("/keys/" + itoa(k.ID)).doc(t)
		if got := d.Find(`[data-testid="allowed-ip"]`).Text(); got != "192.0.2.0/24" {
			t.Errorf("allowlist shown: got %q, want 192.0.2.0/24", got)
		}
		if d.Find(`[data-testid="limits-form"]`).Length() != 0 {
			t.Errorf("a revoked key offers the limits form")
		}
		r := owner.post("/keys/"+itoa(k.ID)+"/limits", url.Values{"allowed_ips": {""}})
		if r.StatusCode != http.StatusConflict {
			t.Errorf("got %d, want 409", r.StatusCode)
		}
	})
}

// TestKeyLimitsPage: the key page shows the limits (metadata escaped),
// bad input comes back beside its field with what was typed, and a saved
// change reaches the running verifier at once.
func TestKeyLimitsPage(t *testing.T) {
	a := newTestApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	k, secret := a.storeKey(u.ID, db.KeyInput{Name: "svc"})
	path := "/keys/" + itoa(k.ID)

	d := b.get(path).doc(t)
	if got := strings.TrimSpace(d.Find(`[data-testid="allowed-ips"]`).Text()); got != "Any address" {
		t.Errorf("allowlist of a new key: got %q, want Any address", got)
	}
	if d.Find(`form[data-testid="limits-form"] textarea[name="allowed_ips"]`).Length() != 1 {
		t.Errorf("the owner gets no limits form")
	}

	invalid := []struct {
		name, field, allowed, meta string
	}{
		{"bad network", "allowed_ips", "10.0.0.0/8\n10.0.0.300", `{"a":1}`},
		{"array metadata", "meta", "10.0.0.0/8", `[1,2]`},
		{"invalid JSON", "meta", "", `{"a":`},
		{"too large", "meta", "", `{"a":"` + strings.Repeat("x", db.MaxMetaBytes) + `"}`},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			r := b.post(path+"/limits", url.Values{"allowed_ips": {tt.allowed}, "meta": {tt.meta}})
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status: got %d, want 422", r.StatusCode)
			}
			d := r.doc(t)
			if d.Find(`[data-testid="`+tt.field+`-error"]`).Length() != 1 {
				t.Errorf("message beside %s: got none", tt.field)
			}
			if got := d.Find(`#limits-allowed-ips`).Text(); got != tt.allowed {
				t.Errorf("typed networks: got %q, want %q", got, tt.allowed)
			}
			if got := d.Find(`#limits-meta`).Text(); got != tt.meta {
				t.Errorf("typed metadata: got %d bytes, want %d", len(got), len(tt.meta))
			}
			if _, ok := d.Find(`details[data-testid="limits-edit"]`).Attr("open"); !ok {
				t.Errorf("the limits form is closed; want it open with its errors")
			}
			if after := a.getKey(k.ID); after.AllowedIPs != nil || after.Meta != "" {
				t.Errorf("key changed: %v %q", after.AllowedIPs, after.Meta)
			}
		})
	}
	t.Run("bad network names the entry", func(t *testing.T) {
		r := b.post(path+"/limits", url.Values{"allowed_ips": {"10.0.0.0/8, office-wifi"}})
		if got := r.doc(t).Find(`[data-testid="allowed_ips-error"]`).Text(); !strings.Contains(got, "office-wifi") {
			t.Errorf("error: got %q, want it to name office-wifi", got)
		}
	})

	from := func(ip string) string {
		return a.verifyBody(mustJSON(map[string]string{"key": secret, "ip": ip}), nil).Code
	}
	if got := from("192.0.2.1"); got != "" { // now cached in the server's verifier
		t.Fatalf("before any limits: got %q, want valid", got)
	}
	meta := `{"tenant": "<script>alert(1)</script>", "plan": {"tier": "pro"}}`
	r := b.post(path+"/limits", url.Values{"allowed_ips": {"10.1.2.3/8\n2001:db8::1"}, "meta": {meta}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("save: got %d %q, want 303 %s", r.StatusCode, r.Header.Get("Location"), path)
	}
	// The cached entry is gone at once: outside the new allowlist is refused.
	if got := from("192.0.2.1"); got != "IP_NOT_ALLOWED" {
		t.Errorf("outside after the change: got %q, want IP_NOT_ALLOWED", got)
	}
	if got := from("10.200.0.1"); got != "" {
		t.Errorf("inside after the change: got %q, want valid", got)
	}

	page := b.get(path)
	d = page.doc(t)
	var shown []string
	d.Find(`[data-testid="allowed-ip"]`).Each(func(_ int, s *goquery.Selection) { shown = append(shown, s.Text()) })
	if want := []string{"10.0.0.0/8", "2001:db8::1/128"}; !reflect.DeepEqual(shown, want) {
		t.Errorf("allowlist shown: got %q, want %q", shown, want)
	}
	if got := d.Find(`pre[data-testid="key-meta"]`).Text(); !strings.Contains(got, `"tenant": "<script>alert(1)</script>"`) {
		t.Errorf("metadata shown: got %q, want the object laid out", got)
	}
	if strings.Contains(page.body, "<script>alert(1)") {
		t.Errorf("metadata is not escaped in the page")
	}
	if got := d.Find(`#limits-allowed-ips`).Text(); got != "10.0.0.0/8\n2001:db8::1/128" {
		t.Errorf("form prefilled with %q, want the canonical list one per line", got)
	}
	if n := a.limitsAudits(k.ID); n != 1 {
		t.Errorf("key.limits events = %d, want 1", n)
	}
	events := d.Find(`[data-testid="activity-card"]`).Text()
	if !strings.Contains(events, db.ActionLabel(db.ActionKeyLimits)) {
		t.Errorf("activity does not list the limits change")
	}

	r = b.post(path+"/limits", url.Values{"allowed_ips": {""}, "meta": {""}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: got %d, want 303", r.StatusCode)
	}
	if got := from("192.0.2.1"); got != "" {
		t.Errorf("after clearing: got %q, want valid", got)
	}
}

// TestKeyCreateWithLimits: the create form's "Advanced: limits" fields, with
// and without htmx.
func TestKeyCreateWithLimits(t *testing.T) {
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)

	for _, htmx := range []bool{false, true} {
		name := "plain"
		var hdr http.Header
		if htmx {
			name, hdr = "htmx", http.Header{"Hx-Request": {"true"}}
		}
		t.Run(name+" bad input kept beside the fields", func(t *testing.T) {
			n := a.countKeys()
			form := keyForm("office", "allowed_ips", "10.0.0.0/8\nnope", "meta", `"just a string"`)
			r := b.postWith("/keys", form, hdr)
			wantStatus := http.StatusUnprocessableEntity
			if htmx {
				wantStatus = http.StatusOK
			}
			if r.StatusCode != wantStatus {
				t.Fatalf("status: got %d, want %d", r.StatusCode, wantStatus)
			}
			d := r.doc(t)
			for _, f := range []string{"allowed_ips", "meta"} {
				if d.Find(`[data-testid="`+f+`-error"]`).Length() != 1 {
					t.Errorf("message beside %s: got none", f)
				}
			}
			if got := d.Find(`#key-allowed-ips`).Text(); got != "10.0.0.0/8\nnope" {
				t.Errorf("typed networks: got %q", got)
			}
			if got := d.Find(`#key-meta`).Text(); got != `"just a string"` {
				t.Errorf("typed metadata: got %q", got)
			}
			if _, ok := d.Find(`details[data-testid="key-limits-fields"]`).Attr("open"); !ok {
				t.Errorf("the limits section is closed; want it open with its errors")
			}
			if got := a.countKeys(); got != n {
				t.Errorf("keys: got %d, want %d (nothing written)", got, n)
			}
		})
	}

	t.Run("created with limits", func(t *testing.T) {
		id, secret := b.createKey(keyForm("office", "allowed_ips", "127.0.0.1, 2001:db8::/32", "meta", `{"tenant": "acme"}`))
		k := a.getKey(id)
		if got := formatted(k.AllowedIPs); got != "127.0.0.1/32 2001:db8::/32" || k.Meta != `{"tenant":"acme"}` {
			t.Errorf("stored limits = %q %q", got, k.Meta)
		}
		v := a.verifyBody(mustJSON(map[string]string{"key": secret, "ip": "127.0.0.1"}), nil)
		if !v.Valid || !reflect.DeepEqual(v.Key["meta"], map[string]any{"tenant": "acme"}) {
			t.Errorf("verify = %+v, want valid with the metadata", v)
		}
	})
}
