package views

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

var testNow = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func signedIn(title, nav string) Layout {
	return Layout{
		Title:     title,
		User:      &CurrentUser{Email: "ada@example.com", IsAdmin: true, CanReadAdmin: true},
		CSRFToken: `tok"en<1>`,
		Version:   "1.2.3",
		Nav:       nav,
		Now:       testNow,
	}
}

func signedOut(title string) Layout {
	return Layout{Title: title, CSRFToken: "csrf-1", Version: "1.2.3", Now: testNow}
}

// render renders c and parses it, failing on the rules the CSP imposes: no
// style attributes, no inline scripts, no inline event handlers.
func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("got <%s %s=%q>, want no %s attribute (CSP)", goquery.NodeName(s), a.Key, a.Val, a.Key)
			}
		}
	})
	if n := doc.Find("script:not([src])").Length(); n != 0 {
		t.Errorf("got %d inline <script>, want 0 (CSP)", n)
	}
	if n := doc.Find("style").Length(); n != 0 {
		t.Errorf("got %d <style>, want 0 (CSP)", n)
	}
	return doc
}

func attr(doc *goquery.Document, sel, name string) string {
	v, _ := doc.Find(sel).First().Attr(name)
	return v
}

func TestBase(t *testing.T) {
	tests := []struct {
		name      string
		layout    Layout
		wantNav   bool
		wantAdmin bool
	}{
		{"signed out", signedOut("Sign in"), false, false},
		{"member", Layout{Title: "Keys", User: &CurrentUser{Email: "m@example.com"}, Nav: "keys"}, true, false},
		{"admin", signedIn("Keys", "keys"), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, Base(tt.layout))
			if got, want := doc.Find("title").Text(), tt.layout.Title+" · Keyward"; got != want {
				t.Errorf("title: got %q, want %q", got, want)
			}
			if got := attr(doc, "html", "lang"); got != "en" {
				t.Errorf("lang: got %q, want %q", got, "en")
			}
			if got := doc.Find("[data-testid=main-nav]").Length() == 1; got != tt.wantNav {
				t.Errorf("nav shown: got %v, want %v", got, tt.wantNav)
			}
			if got := doc.Find(`form[action="/logout"]`).Length() == 1; got != tt.wantNav {
				t.Errorf("sign-out form shown: got %v, want %v", got, tt.wantNav)
			}
			if got := doc.Find(`nav a[href="/admin"]`).Length() == 1; got != tt.wantAdmin {
				t.Errorf("admin link shown: got %v, want %v", got, tt.wantAdmin)
			}
			if tt.wantNav {
				if got := attr(doc, `nav a[href="/keys"]`, "aria-current"); got != "page" {
					t.Errorf("keys aria-current: got %q, want %q", got, "page")
				}
				if _, ok := doc.Find(`nav a[href="/account"]`).Attr("aria-current"); ok {
					t.Errorf("account aria-current: got present, want absent")
				}
			}
			var headers map[string]string
			if err := json.Unmarshal([]byte(attr(doc, "body", "hx-headers")), &headers); err != nil {
				t.Fatalf("hx-headers: got error %v, want JSON", err)
			}
			if got := headers["X-CSRF-Token"]; got != tt.layout.CSRFToken {
				t.Errorf("hx-headers token: got %q, want %q", got, tt.layout.CSRFToken)
			}
			var config map[string]bool
			if err := json.Unmarshal([]byte(attr(doc, `meta[name="htmx-config"]`, "content")), &config); err != nil {
				t.Fatalf("htmx-config: got error %v, want JSON", err)
			}
			if config["includeIndicatorStyles"] || config["allowEval"] || config["allowScriptTags"] {
				t.Errorf("htmx-config: got %v, want all false", config)
			}
			if got := doc.Find(`script[src^="/static/js/htmx.min.js?v="][defer]`).Length(); got != 1 {
				t.Errorf("htmx script: got %d, want 1", got)
			}
			if got := doc.Find(`link[rel=stylesheet][href^="/static/css/app.css?v="]`).Length(); got != 1 {
				t.Errorf("stylesheet: got %d, want 1", got)
			}
			if got := attr(doc, `a[href="#main"]`, "class"); !strings.Contains(got, "sr-only") {
				t.Errorf("skip link: got class %q, want an sr-only skip link", got)
			}
			if got := doc.Find("main#main").Length(); got != 1 {
				t.Errorf("main#main: got %d, want 1", got)
			}
		})
	}
}

func TestFlashes(t *testing.T) {
	l := signedIn("Keys", "keys")
	l.Flashes = []Flash{{Kind: "success", Message: "Key created."}, {Kind: "error", Message: "Nope <b>."}}
	doc := render(t, Base(l))
	flashes := doc.Find("[data-testid=flash]")
	if got := flashes.Length(); got != 2 {
		t.Fatalf("flashes: got %d, want 2", got)
	}
	if got := strings.TrimSpace(flashes.Eq(1).Text()); got != "Nope <b>." {
		t.Errorf("flash text: got %q, want %q", got, "Nope <b>.")
	}
	if got := doc.Find("[role=status] [data-testid=flash]").Length(); got != 2 {
		t.Errorf("flashes in role=status: got %d, want 2", got)
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name      string
		page      LoginPage
		wantError bool
	}{
		{"fresh", LoginPage{Layout: signedOut(""), Next: "/keys/7"}, false},
		{"failed", LoginPage{Layout: signedOut("Sign in"), Email: "ada@example.com", Error: "Invalid email or password."}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, Login(tt.page))
			if got := doc.Find("title").Text(); got != "Sign in · Keyward" {
				t.Errorf("title: got %q, want %q", got, "Sign in · Keyward")
			}
			form := doc.Find(`form[data-testid=login-form][method=post][action="/login"]`)
			if form.Length() != 1 {
				t.Fatalf("login form: got %d, want 1", form.Length())
			}
			for name, ac := range map[string]string{"email": "username", "password": "current-password"} {
				in := form.Find(`input[name="` + name + `"]`)
				id, _ := in.Attr("id")
				if doc.Find(`label[for="`+id+`"]`).Length() != 1 {
					t.Errorf("%s: got no label for #%s, want one", name, id)
				}
				if got, _ := in.Attr("autocomplete"); got != ac {
					t.Errorf("%s autocomplete: got %q, want %q", name, got, ac)
				}
			}
			if got := attr(doc, `input[name=next]`, "value"); got != tt.page.Next {
				t.Errorf("next: got %q, want %q", got, tt.page.Next)
			}
			if got := attr(doc, `input[name=_csrf]`, "value"); got != "csrf-1" {
				t.Errorf("csrf: got %q, want %q", got, "csrf-1")
			}
			if got := attr(doc, `input[name=email]`, "value"); got != tt.page.Email {
				t.Errorf("email kept: got %q, want %q", got, tt.page.Email)
			}
			box := doc.Find("[data-testid=login-error]")
			if got := box.Length() == 1; got != tt.wantError {
				t.Errorf("error box shown: got %v, want %v", got, tt.wantError)
			}
			if tt.wantError && !strings.Contains(box.Text(), tt.page.Error) {
				t.Errorf("error box: got %q, want %q", box.Text(), tt.page.Error)
			}
			if doc.Find("[data-testid=main-nav]").Length() != 0 {
				t.Errorf("nav: got shown, want hidden when signed out")
			}
		})
	}
}

func TestSetup(t *testing.T) {
	t.Run("invalid token", func(t *testing.T) {
		doc := render(t, Setup(SetupPage{Layout: signedOut(""), TokenInvalid: true}))
		if doc.Find("form[data-testid=setup-form]").Length() != 0 {
			t.Errorf("setup form: got shown, want none for an invalid token")
		}
		want := "This setup link is invalid or has already been used. Restart the server to get a new link, or sign in."
		if got := doc.Find("[data-testid=setup-invalid]").Text(); !strings.Contains(got, want) {
			t.Errorf("refusal: got %q, want it to contain %q", got, want)
		}
		if doc.Find(`[data-testid=setup-invalid] a[href="/login"]`).Length() != 1 {
			t.Errorf("sign-in link: got none, want one")
		}
	})
	t.Run("errors", func(t *testing.T) {
		doc := render(t, Setup(SetupPage{
			Layout: signedOut(""),
			Token:  "setup-tok",
			Email:  "root@example.com",
			Errors: FieldErrors{"password": "Use at least 15 characters."},
		}))
		form := doc.Find(`form[data-testid=setup-form][method=post][action="/setup"]`)
		if form.Length() != 1 {
			t.Fatalf("setup form: got %d, want 1", form.Length())
		}
		if got := attr(doc, "input[name=token]", "value"); got != "setup-tok" {
			t.Errorf("token: got %q, want %q", got, "setup-tok")
		}
		if got := attr(doc, "input[name=email]", "value"); got != "root@example.com" {
			t.Errorf("email kept: got %q, want %q", got, "root@example.com")
		}
		pw := doc.Find("input[name=password]")
		if got, _ := pw.Attr("aria-invalid"); got != "true" {
			t.Errorf("password aria-invalid: got %q, want %q", got, "true")
		}
		if got, _ := pw.Attr("aria-describedby"); got != "password-help password-error" {
			t.Errorf("password aria-describedby: got %q, want %q", got, "password-help password-error")
		}
		if got := doc.Find("#password-error").Text(); got != "Use at least 15 characters." {
			t.Errorf("password error: got %q, want %q", got, "Use at least 15 characters.")
		}
		if _, ok := doc.Find("input[name=email]").Attr("aria-invalid"); ok {
			t.Errorf("email aria-invalid: got present, want absent")
		}
		if doc.Find("input[name=password_confirm]").Length() != 1 {
			t.Errorf("password_confirm: got none, want one")
		}
		if !strings.Contains(doc.Find("#password-help").Text(), "15 characters") {
			t.Errorf("password hint: got %q, want a 15-character hint", doc.Find("#password-help").Text())
		}
	})
}

func TestAccount(t *testing.T) {
	m := AccountPage{
		Layout:    signedIn("", "account"),
		Email:     "ada@example.com",
		Role:      "admin",
		CreatedAt: testNow.Add(-90 * 24 * time.Hour),
		Sessions: []SessionRow{
			{ID: 11, Device: "Firefox on Linux", IP: "192.0.2.1", CreatedAt: testNow.Add(-2 * time.Hour), LastSeenAt: testNow.Add(-time.Minute), Current: true},
			{ID: 12, Device: "Safari on iOS", IP: "198.51.100.7", CreatedAt: testNow.Add(-3 * 24 * time.Hour), LastSeenAt: testNow.Add(-5 * time.Hour)},
		},
		PasswordErrors: FieldErrors{"current_password": "That is not your current password."},
	}
	doc := render(t, Account(m))
	if got := doc.Find("title").Text(); got != "Account · Keyward" {
		t.Errorf("title: got %q, want %q", got, "Account · Keyward")
	}
	if got := attr(doc, `nav a[href="/account"]`, "aria-current"); got != "page" {
		t.Errorf("account aria-current: got %q, want %q", got, "page")
	}
	form := doc.Find(`form[data-testid=password-form][method=post][action="/account/password"]`)
	for _, name := range []string{"current_password", "new_password", "new_password_confirm", "_csrf"} {
		if form.Find(`input[name="`+name+`"]`).Length() != 1 {
			t.Errorf("password form: got no %s input, want one", name)
		}
	}
	if got := attr(doc, "input[name=current_password]", "aria-describedby"); got != "current_password-error" {
		t.Errorf("current_password aria-describedby: got %q, want %q", got, "current_password-error")
	}
	rows := doc.Find("[data-testid=sessions-table] [data-testid=session-row]")
	if rows.Length() != 2 {
		t.Fatalf("session rows: got %d, want 2", rows.Length())
	}
	current, other := rows.Eq(0), rows.Eq(1)
	if current.Find("[data-testid=current-session]").Length() != 1 {
		t.Errorf("current row: got no This device badge, want one")
	}
	if current.Find("form").Length() != 0 {
		t.Errorf("current row: got a sign-out form, want none")
	}
	if other.Find(`form[method=post][action="/account/sessions/12/end"] input[name=_csrf]`).Length() != 1 {
		t.Errorf("other row: got no sign-out form for session 12, want one")
	}
	if got := other.Find("time").First().Text(); got != "5 hours ago" {
		t.Errorf("last seen: got %q, want %q", got, "5 hours ago")
	}
	if got := doc.Find(`form[action="/account/sessions/end-others"]`).Length(); got != 1 {
		t.Errorf("end-others form: got %d, want 1", got)
	}

	m.Sessions = m.Sessions[:1]
	doc = render(t, Account(m))
	if got := doc.Find(`form[action="/account/sessions/end-others"]`).Length(); got != 0 {
		t.Errorf("end-others form with one session: got %d, want 0", got)
	}
}

func TestErrorView(t *testing.T) {
	tests := []struct {
		name     string
		page     ErrorPage
		wantHead string
		wantLink string
	}{
		{"signed in", ErrorPage{Layout: signedIn("", ""), Status: 404, Heading: "Page not found", Message: "No such key."}, "Page not found", `a[href="/keys"]`},
		{"signed out", ErrorPage{Layout: signedOut(""), Status: 429}, "Too Many Requests", `a[href="/login"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, ErrorView(tt.page))
			page := doc.Find("[data-testid=error-page]")
			if got := strings.TrimSpace(page.Find("[data-testid=error-status]").Text()); got != strconv.Itoa(tt.page.Status) {
				t.Errorf("status: got %q, want %d", got, tt.page.Status)
			}
			if got := page.Find("h1").Text(); got != tt.wantHead {
				t.Errorf("heading: got %q, want %q", got, tt.wantHead)
			}
			if got := doc.Find("title").Text(); got != tt.wantHead+" · Keyward" {
				t.Errorf("title: got %q, want %q", got, tt.wantHead+" · Keyward")
			}
			if page.Find(tt.wantLink).Length() != 1 {
				t.Errorf("link: got none matching %s, want one", tt.wantLink)
			}
		})
	}
}

func TestComponents(t *testing.T) {
	t.Run("StatusBadge", func(t *testing.T) {
		for status, label := range map[string]string{"active": "Active", "expiring": "Expiring soon", "expired": "Expired", "disabled": "Disabled", "revoked": "Revoked", "stale": "Stale"} {
			doc := render(t, StatusBadge(status))
			if got := strings.TrimSpace(doc.Find("[data-testid=status-badge]").Text()); got != label {
				t.Errorf("%s: got %q, want %q", status, got, label)
			}
		}
	})
	t.Run("CopyField", func(t *testing.T) {
		doc := render(t, CopyField("new-key", "kw_abc", "Your new key"))
		if got := attr(doc, `label[for="new-key"]`, "class"); got != LabelClass {
			t.Errorf("label: got class %q, want %q", got, LabelClass)
		}
		in := doc.Find("[data-testid=copy-field] input#new-key[readonly][data-select-on-focus]")
		if got, _ := in.Attr("value"); got != "kw_abc" {
			t.Errorf("value: got %q, want %q", got, "kw_abc")
		}
		if got := attr(doc, "button[data-copy]", "data-copy"); got != "#new-key" {
			t.Errorf("data-copy: got %q, want %q", got, "#new-key")
		}
	})
	t.Run("OptTime", func(t *testing.T) {
		doc := render(t, OptTime(nil, testNow, "Never used"))
		if got := doc.Find("body").Text(); got != "Never used" {
			t.Errorf("nil: got %q, want %q", got, "Never used")
		}
		at := testNow.Add(-3 * 24 * time.Hour)
		doc = render(t, OptTime(&at, testNow, "Never used"))
		tm := doc.Find("time")
		if got := tm.Text(); got != "3 days ago" {
			t.Errorf("text: got %q, want %q", got, "3 days ago")
		}
		if got, _ := tm.Attr("datetime"); got != "2026-11-22T14:00:00Z" {
			t.Errorf("datetime: got %q, want %q", got, "2026-11-22T14:00:00Z")
		}
		if got, _ := tm.Attr("title"); got != "2026-11-22 14:00:00 UTC" {
			t.Errorf("title: got %q, want %q", got, "2026-11-22 14:00:00 UTC")
		}
	})
	t.Run("FieldError", func(t *testing.T) {
		doc := render(t, FieldError(FieldErrors{"name": "Required."}, "name"))
		if got := attr(doc, "p#name-error", "role"); got != "alert" {
			t.Errorf("role: got %q, want %q", got, "alert")
		}
		doc = render(t, FieldError(nil, "name"))
		if got := doc.Find("p").Length(); got != 0 {
			t.Errorf("no error: got %d <p>, want 0", got)
		}
	})
}
