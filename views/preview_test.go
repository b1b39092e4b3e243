//go:build preview

package views

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/a-h/templ"
)

// TestPreview writes the pages as static HTML files beside a copy of app.css
// so they can be looked at (or screenshotted) without a server:
//
//	go test -tags preview -run TestPreview ./views/ && chromium /tmp/preview/login.html
//
// KEYWARD_PREVIEW_DIR overrides the output directory.
func TestPreview(t *testing.T) {
	dir := os.Getenv("KEYWARD_PREVIEW_DIR")
	if dir == "" {
		dir = "/tmp/preview"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"css/app.css", "js/app.js", "img/favicon.svg"} {
		b, err := os.ReadFile(filepath.Join("..", "static", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now().UTC()
	user := &CurrentUser{Email: "ada.lovelace@example.com", IsAdmin: true, CanReadAdmin: true}
	in := func(title, nav string) Layout {
		return Layout{Title: title, User: user, CSRFToken: "token", Version: "0.1.0", Nav: nav, Now: now}
	}
	out := func(title string) Layout {
		return Layout{Title: title, CSRFToken: "token", Version: "0.1.0", Now: now}
	}
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }

	pages := map[string]templ.Component{
		"login":       Login(LoginPage{Layout: out("Sign in")}),
		"login-error": Login(LoginPage{Layout: out("Sign in"), Email: "ada@example.com", Error: "Invalid email or password."}),
		"setup": Setup(SetupPage{Layout: out("Set up Keyward"), Token: "t", Email: "root@example.com",
			Errors: FieldErrors{"password": "Use at least 15 characters.", "password_confirm": "The passwords do not match."}}),
		"setup-invalid": Setup(SetupPage{Layout: out("Set up Keyward"), TokenInvalid: true}),
		"account": Account(AccountPage{
			Layout: func() Layout {
				l := in("Account", "account")
				l.Flashes = []Flash{{Kind: "success", Message: "Your password was changed. Other sessions were signed out."}}
				return l
			}(),
			Email: user.Email, Role: "admin", CreatedAt: now.Add(-120 * 24 * time.Hour),
			Sessions: []SessionRow{
				{ID: 1, Device: "Chrome on Linux", UserAgent: "Mozilla/5.0", IP: "192.0.2.10", CreatedAt: *ago(3 * time.Hour), LastSeenAt: *ago(0), Current: true},
				{ID: 2, Device: "Safari on iOS", IP: "2001:db8::1", CreatedAt: *ago(50 * time.Hour), LastSeenAt: *ago(4 * time.Hour)},
			},
			PasswordErrors: FieldErrors{"current_password": "That is not your current password."},
		}),
		"error-404": ErrorView(ErrorPage{Layout: in("", ""), Status: 404, Heading: "Page not found", Message: "There is nothing at this address."}),
		"error-out": ErrorView(ErrorPage{Layout: out(""), Status: 429, Heading: "Slow down", Message: "Too many attempts. Try again in a minute."}),
		"components": templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			return Base(in("Components", "keys")).Render(templ.WithChildren(ctx, previewComponents(now, ago(26*time.Hour))), w)
		}),
	}
	link := regexp.MustCompile(`/static/(?:css|js|img)/([a-z.]+)\?v=[0-9a-f]+`)
	for name, c := range pages {
		var buf bytes.Buffer
		if err := c.Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		html := link.ReplaceAll(buf.Bytes(), []byte("$1"))
		if err := os.WriteFile(filepath.Join(dir, name+".html"), html, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// previewComponents lays out the shared components on one page.
func previewComponents(now time.Time, used *time.Time) templ.Component {
	raw := func(s string) templ.Component { return templ.Raw(s) }
	with := func(c templ.Component, children ...templ.Component) templ.Component {
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			return c.Render(templ.WithChildren(ctx, seq(children...)), w)
		})
	}
	var badges []templ.Component
	for _, s := range []string{"active", "expiring", "expired", "disabled", "revoked", "stale"} {
		badges = append(badges, StatusBadge(s))
	}
	return seq(
		with(PageHeader("API keys", "Keys you use to call services that trust Keyward."),
			raw(`<button class="`+BtnSecondary+`">Secondary</button><button class="`+BtnGhost+`">Ghost</button><button class="`+BtnDanger+`">Revoke</button><a href="#" class="`+BtnPrimary+`">Create key</a>`)),
		raw(`<div class="`+CardClass+` space-y-6 p-6"><div class="flex flex-wrap gap-2">`),
		seq(badges...),
		raw(`</div>`),
		CopyField("key", "kw_4Jx9QeTq2mV7bN1cL8sRkYw3ZpD6fH0aGuE5tXiOn2yB3a9Kf", "Your new API key"),
		raw(`<div><label for="n" class="`+LabelClass+`">Name</label><input id="n" class="`+InputClass+` mt-1.5" aria-invalid="true" value=""><p class="`+HelpClass+`">Help text.</p>`),
		FieldError(FieldErrors{"n": "Name is required."}, "n"),
		raw(`</div><div><label for="s" class="`+LabelClass+`">Expires</label><select id="s" class="`+InputClass+` mt-1.5"><option>30 days</option></select></div></div>`),
		raw(`<div class="`+CardClass+` mt-6 overflow-x-auto"><table class="`+TableClass+`"><thead><tr><th class="`+ThClass+`">Name</th><th class="`+ThClass+`">Last used</th><th class="`+ThClass+`">Created</th></tr></thead><tbody><tr><td class="`+TdClass+`">ci-deploy</td><td class="`+TdClass+`">`),
		OptTime(used, now, "Never used"),
		raw(`</td><td class="`+TdClass+`">`),
		RelTime(now.Add(-40*24*time.Hour), now),
		raw(`</td></tr><tr><td class="`+TdClass+`">backup</td><td class="`+TdClass+`">`),
		OptTime(nil, now, "Never used"),
		raw(`</td><td class="`+TdClass+`">`),
		RelTime(now.Add(-3*time.Minute), now),
		raw(`</td></tr></tbody></table></div><div class="mt-6">`),
		with(EmptyState("No API keys yet", "Create a key to let a script or service call APIs that trust Keyward."),
			raw(`<a href="#" class="`+BtnPrimary+`">Create your first key</a>`)),
		raw(`</div>`),
	)
}

func seq(cs ...templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		for _, c := range cs {
			if err := c.Render(ctx, w); err != nil {
				return err
			}
		}
		return nil
	})
}
