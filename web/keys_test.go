package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

func TestKeysCreate(t *testing.T) {
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)

	t.Run("full page without htmx", func(t *testing.T) {
		r := b.post("/keys", keyForm("billing", "scopes", "read:orders"))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("got status %d, want 200", r.StatusCode)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", got)
		}
		if !strings.Contains(r.body, "<html") {
			t.Errorf("got a fragment, want a full page")
		}
		revealed(t, r)
	})

	t.Run("partial with htmx", func(t *testing.T) {
		r := b.postWith("/keys", keyForm("inline"), http.Header{"Hx-Request": {"true"}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("got status %d, want 200", r.StatusCode)
		}
		if strings.Contains(r.body, "<html") {
			t.Errorf("got a full page, want the show-once partial")
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", got)
		}
		revealed(t, r)
	})
}

func TestKeysCreateInvalid(t *testing.T) {
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)
	tests := []struct {
		name  string
		form  url.Values
		field string // the field with the message
		input string // the control that must be aria-invalid
	}{
		{"empty name", keyForm(""), "name", `input[name="name"]`},
		{"name too long", keyForm(strings.Repeat("n", 101)), "name", `input[name="name"]`},
		{"description too long", keyForm("ok", "description", strings.Repeat("d", 501)), "description", `textarea[name="description"]`},
		{"bad scope", keyForm("ok", "scopes", "Bad Scope!"), "scopes", `[data-testid="scope-picker"]`},
		{"scope outside the catalog", keyForm("ok", "scopes", "read", "scopes", "admin:all"), "scopes", `[data-testid="scope-picker"]`},
		{"custom date in the past", keyForm("ok", "expiry", "custom", "expiry_date", "2026-11-20"), "expiry_date", `input[name="expiry_date"]`},
		{"custom date today", keyForm("ok", "expiry", "custom", "expiry_date", "2026-11-25"), "expiry_date", `input[name="expiry_date"]`},
		{"custom date missing", keyForm("ok", "expiry", "custom"), "expiry_date", `input[name="expiry_date"]`},
		{"custom date garbage", keyForm("ok", "expiry", "custom", "expiry_date", "next week"), "expiry_date", `input[name="expiry_date"]`},
		{"unknown expiry", keyForm("ok", "expiry", "13"), "expiry", `select[name="expiry"]`},
	}
	for _, tt := range tests {
		for _, htmx := range []bool{false, true} {
			name := tt.name
			if htmx {
				name += " (htmx)"
			}
			t.Run(name, func(t *testing.T) {
				before := a.countKeys()
				hdr := http.Header{}
				wantStatus := http.StatusUnprocessableEntity
				if htmx {
					hdr.Set("HX-Request", "true")
					wantStatus = http.StatusOK
				}
				r := b.postWith("/keys", tt.form, hdr)
				if r.StatusCode != wantStatus {
					t.Fatalf("status: got %d, want %d", r.StatusCode, wantStatus)
				}
				if full := strings.Contains(r.body, "<html"); full == htmx {
					t.Errorf("full page: got %v, want %v", full, !htmx)
				}
				if keyInText.MatchString(r.body) {
					t.Errorf("an invalid form returned a key")
				}
				d := r.doc(t)
				msg := strings.TrimSpace(d.Find(`[data-testid="` + tt.field + `-error"]`).Text())
				if msg == "" {
					t.Errorf("message beside %s: got none", tt.field)
				}
				in := d.Find(tt.input)
				if got := in.AttrOr("aria-invalid", ""); got != "true" {
					t.Errorf("%s aria-invalid: got %q, want true", tt.input, got)
				}
				if got := in.AttrOr("aria-describedby", ""); !strings.Contains(got, tt.field+"-error") {
					t.Errorf("%s aria-describedby: got %q, want it to name %s-error", tt.input, got, tt.field)
				}
				assertFormKept(t, d, tt.form)
				if got := a.countKeys(); got != before {
					t.Errorf("keys in the database: got %d, want %d (nothing written)", got, before)
				}
			})
		}
	}
}

// assertFormKept checks that the form came back with what was typed.
func assertFormKept(t *testing.T, d *goquery.Document, f url.Values) {
	t.Helper()
	checks := map[string]string{
		"name":        d.Find(`input[name="name"]`).AttrOr("value", ""),
		"description": d.Find(`textarea[name="description"]`).Text(),
		"scopes":      checkedScopes(d),
		"expiry_date": d.Find(`input[name="expiry_date"]`).AttrOr("value", ""),
	}
	for field, got := range checks {
		want := f.Get(field)
		if field == "scopes" {
			want = catalogScopes(f["scopes"])
		}
		if got != want {
			t.Errorf("typed %s: got %q, want %q", field, got, want)
		}
	}
	if want := f.Get("expiry"); want != "13" {
		if got := d.Find(`select[name="expiry"] option[selected]`).AttrOr("value", ""); got != want {
			t.Errorf("selected expiry: got %q, want %q", got, want)
		}
	}
}

func TestKeyShownOnce(t *testing.T) {
	a := newTestApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	first := b.post("/keys", keyForm("shown once", "scopes", "read"))
	if first.StatusCode != http.StatusOK {
		t.Fatalf("POST /keys: got %d, want 200", first.StatusCode)
	}
	id, secret := revealed(t, first)
	other, _ := a.storeKey(u.ID, db.KeyInput{Name: "other"})
	idPath := "/keys/" + itoa(id)

	for _, c := range first.Cookies() {
		if strings.Contains(c.Value, secret) {
			t.Errorf("Set-Cookie %s carries the key", c.Name)
		}
	}
	later := []struct {
		name string
		want int
		do   func() response
	}{
		{"list", 200, func() response { return b.get("/keys") }},
		{"key page", 200, func() response { return b.get(idPath) }},
		{"list filtered active", 200, func() response { return b.get("/keys?status=active") }},
		{"list filtered revoked", 200, func() response { return b.get("/keys?status=revoked") }},
		{"new key form", 200, func() response { return b.get("/keys/new") }},
		{"account", 200, func() response { return b.get("/account") }},
		{"edit", 303, func() response { return b.post(idPath+"/edit", url.Values{"name": {"renamed"}}) }},
		{"key page after edit", 200, func() response { return b.get(idPath) }},
		{"roll of another key", 200, func() response {
			return b.post("/keys/"+itoa(other.ID)+"/roll", url.Values{"grace": {"1h"}})
		}},
		{"invalid create", 422, func() response { return b.post("/keys", keyForm("")) }},
		{"404 page", 404, func() response { return b.get("/keys/999999") }},
		{"unknown route", 404, func() response { return b.get("/nowhere") }},
		{"bad roll", 400, func() response { return b.post(idPath+"/roll", url.Values{"grace": {"forever"}}) }},
		{"verify answer", 200, func() response {
			return a.api(http.MethodPost, "/api/v1/keys/verify",
				strings.NewReader(`{"key":"`+secret+`"}`), http.Header{"Content-Type": {"application/json"}})
		}},
	}
	for _, l := range later {
		t.Run(l.name, func(t *testing.T) {
			r := l.do()
			if r.StatusCode != l.want {
				t.Errorf("status: got %d, want %d", r.StatusCode, l.want)
			}
			if strings.Contains(r.body, secret) {
				t.Errorf("response contains the plaintext key")
			}
			for k, vs := range r.Header {
				if strings.Contains(strings.Join(vs, " "), secret) {
					t.Errorf("header %s contains the plaintext key", k)
				}
			}
		})
	}
	t.Run("cookies", func(t *testing.T) {
		for _, c := range b.c.Jar.Cookies(b.base) {
			if strings.Contains(c.Value, secret) {
				t.Errorf("cookie %s carries the key", c.Name)
			}
		}
	})
	t.Run("database files", func(t *testing.T) {
		a.flush()
		raw := a.databaseBytes(t)
		// The hint (the last 4 characters) is stored: proof these are the
		// live files.
		if !bytes.Contains(raw, []byte(secret[len(secret)-4:])) {
			t.Fatalf("database files lack the key's hint; wrong files?")
		}
		for _, s := range []string{secret, secret[len("kw_"):], secret[:30]} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("database files contain %d characters of the key", len(s))
			}
		}
	})
}

func TestKeysList(t *testing.T) {
	t.Run("empty state", func(t *testing.T) {
		a := newTestApp(t)
		b, _ := a.userBrowser("new@example.com", db.RoleMember)
		d := b.get("/keys").doc(t)
		empty := d.Find(`[data-testid="empty-state"]`).Text()
		if !strings.Contains(empty, "No API keys yet") || !strings.Contains(empty, "Create a key") {
			t.Errorf("empty state: got %q, want it to say there are no keys and what to do", strings.Join(strings.Fields(empty), " "))
		}
		if n := d.Find(`[data-testid="key-row"]`).Length(); n != 0 {
			t.Errorf("rows: got %d, want 0", n)
		}
	})

	a := newTestApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	ctx := t.Context()
	soon := a.clock.Now().Add(time.Minute)
	expired, _ := a.storeKey(u.ID, db.KeyInput{Name: "expired", ExpiresAt: &soon})
	in7 := a.clock.Now().AddDate(0, 0, 7)
	expiring, _ := a.storeKey(u.ID, db.KeyInput{Name: "expiring", ExpiresAt: &in7})
	disabled, _ := a.storeKey(u.ID, db.KeyInput{Name: "disabled"})
	revoked, _ := a.storeKey(u.ID, db.KeyInput{Name: "revoked"})
	active, _ := a.storeKey(u.ID, db.KeyInput{Name: "active"})
	if _, err := a.store.SetKeyDisabled(ctx, db.AnyOwner(), disabled.ID, true, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), revoked.ID, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(2 * time.Minute)

	t.Run("newest first, never used", func(t *testing.T) {
		d := b.get("/keys").doc(t)
		got := rowNames(d)
		want := "active revoked disabled expiring expired"
		if got != want {
			t.Errorf("rows: got %q, want %q", got, want)
		}
		row := d.Find(`[data-testid="key-row"][data-key-id="` + itoa(active.ID) + `"]`)
		if !strings.Contains(row.Text(), "Never used") {
			t.Errorf("unused key's row: got %q, want it to say Never used", strings.Join(strings.Fields(row.Text()), " "))
		}
		if got := strings.TrimSpace(b.get("/keys/" + itoa(active.ID)).doc(t).Find(`[data-testid="last-used"]`).Text()); got != "Never used" {
			t.Errorf("key page last used: got %q, want Never used", got)
		}
	})

	filters := []struct{ status, want string }{
		{"active", "active expiring"},
		{"expiring", "expiring"},
		{"expired", "expired"},
		{"disabled", "disabled"},
		{"revoked", "revoked"},
		{"bogus", "active revoked disabled expiring expired"},
	}
	for _, f := range filters {
		t.Run("filter "+f.status, func(t *testing.T) {
			r := b.get("/keys?status=" + f.status)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want 200", r.StatusCode)
			}
			d := r.doc(t)
			if got := rowNames(d); got != f.want {
				t.Errorf("rows: got %q, want %q", got, f.want)
			}
			cur := d.Find(`[data-testid="status-tab"][aria-current]`).AttrOr("data-status", "?")
			if wantTab := strings.Replace(f.status, "bogus", "", 1); cur != wantTab {
				t.Errorf("current tab: got %q, want %q", cur, wantTab)
			}
		})
	}
	t.Run("badges", func(t *testing.T) {
		d := b.get("/keys").doc(t)
		for _, k := range []db.Key{active, expiring, expired, disabled, revoked} {
			got := d.Find(`[data-key-id="`+itoa(k.ID)+`"] [data-testid="status-badge"]`).AttrOr("data-status", "")
			if got != k.Name {
				t.Errorf("badge of %s: got %q, want %q", k.Name, got, k.Name)
			}
		}
	})
}

func TestKeysListPagination(t *testing.T) {
	a := newTestApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	for i := range 30 {
		a.storeKey(u.ID, db.KeyInput{Name: "key " + itoa(int64(i+1))})
	}
	tests := []struct {
		path           string
		rows           int
		first, last    string
		prev, next     string
		summaryContain string
	}{
		{"/keys", 25, "key 30", "key 6", "", "/keys?page=2", "1–25"},
		{"/keys?page=2", 5, "key 5", "key 1", "/keys", "", "26–30"},
		{"/keys?page=0", 25, "key 30", "key 6", "", "/keys?page=2", "1–25"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			d := b.get(tt.path).doc(t)
			rows := d.Find(`[data-testid="key-row"] [data-testid="key-link"]`)
			if rows.Length() != tt.rows {
				t.Fatalf("rows: got %d, want %d", rows.Length(), tt.rows)
			}
			if got := rows.First().Text(); got != tt.first {
				t.Errorf("first row: got %q, want %q", got, tt.first)
			}
			if got := rows.Last().Text(); got != tt.last {
				t.Errorf("last row: got %q, want %q", got, tt.last)
			}
			if got := d.Find(`[data-testid="page-prev"]`).AttrOr("href", ""); got != tt.prev {
				t.Errorf("Previous link: got %q, want %q", got, tt.prev)
			}
			if got := d.Find(`[data-testid="page-next"]`).AttrOr("href", ""); got != tt.next {
				t.Errorf("Next link: got %q, want %q", got, tt.next)
			}
			if got := d.Find(`[data-testid="page-summary"]`).Text(); !strings.Contains(got, tt.summaryContain) || !strings.Contains(got, "30") {
				t.Errorf("summary: got %q, want %s of 30", strings.Join(strings.Fields(got), " "), tt.summaryContain)
			}
		})
	}
}

// A page number past the end (an old link) says the keys are elsewhere and
// links to the first page of the same filter, rather than claiming there
// are none.
func TestKeysListPastLastPage(t *testing.T) {
	a := newTestApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	for i := range 30 {
		a.storeKey(u.ID, db.KeyInput{Name: "key " + itoa(int64(i+1))})
	}
	k, _ := a.storeKey(u.ID, db.KeyInput{Name: "gone"})
	if _, err := a.store.RevokeKey(t.Context(), db.AnyOwner(), k.ID, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want, link string
	}{
		{"/keys?page=9", "Page 9 is past the end of this list: its 31 results fit on 2 pages.", "/keys"},
		{"/keys?status=revoked&page=3", "Page 3 is past the end of this list: its 1 result fits on 1 page.", "/keys?status=revoked"},
		{"/keys?status=active&page=3", "Page 3 is past the end of this list: its 30 results fit on 2 pages.", "/keys?status=active"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			d := b.get(tt.path).doc(t)
			box := d.Find(`[data-testid="past-last-page"]`)
			if box.Length() != 1 {
				t.Fatalf("past-last-page box: got %d, want 1", box.Length())
			}
			if got := strings.Join(strings.Fields(box.Find("p").Text()), " "); got != tt.want {
				t.Errorf("message: got %q, want %q", got, tt.want)
			}
			if got := box.Find(`[data-testid="page-first"]`).AttrOr("href", ""); got != tt.link {
				t.Errorf("link: got %q, want %q", got, tt.link)
			}
			if n := d.Find(`[data-testid="no-matching-keys"]`).Length(); n != 0 {
				t.Errorf("no-matching-keys box shown too (%d)", n)
			}
		})
	}
}

// rowNames lists the key names in the table, in order.
func rowNames(d *goquery.Document) string {
	var names []string
	d.Find(`[data-testid="key-row"] [data-testid="key-link"]`).Each(func(_ int, s *goquery.Selection) {
		names = append(names, s.Text())
	})
	return strings.Join(names, " ")
}
