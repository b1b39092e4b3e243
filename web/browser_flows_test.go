package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/keyward/keyward/db"
)

// The core flows, each done the way a person does it in Chromium.

func TestBrowserSetup(t *testing.T) {
	a := newTestApp(t)
	tb := newTab(t, a)

	if st := tb.open("/setup?token=" + url.QueryEscape(a.setupToken)); st != 200 {
		t.Fatalf("GET /setup: got status %d, want 200", st)
	}
	tb.fill("Email", "admin@example.com")
	tb.fill("Password", testPassword)
	tb.fill("Confirm password", testPassword)
	if st := tb.navigates("create admin", chromedp.Click(button("Create admin account"))); st != 200 {
		t.Fatalf("after setup: got status %d, want 200", st)
	}
	if p := tb.path(); p != "/keys" {
		t.Fatalf("after setup: got %s, want /keys", p)
	}
	if got := tb.text(testID("flash")); !strings.Contains(got, "Welcome to Keyward") {
		t.Errorf("flash: got %q, want the welcome message", got)
	}
	empty := tb.text(testID("empty-state"))
	if !strings.Contains(empty, "No API keys yet") || !strings.Contains(empty, "Create key") {
		t.Errorf("empty state: got %q, want it to offer Create key", empty)
	}
	if got := tb.text(testID("user-email")); got != "admin@example.com" {
		t.Errorf("signed-in email: got %q, want admin@example.com", got)
	}
	// The setup link is spent once an admin exists.
	tb.allowHTTPError(403)
	if st := tb.open("/setup?token=" + url.QueryEscape(a.setupToken)); st != 403 {
		t.Errorf("setup link reused: got status %d, want 403", st)
	}
}

func TestBrowserSignInOut(t *testing.T) {
	a := newTestApp(t)
	a.createUser("ada@example.com", db.RoleMember)
	tb := newTab(t, a)

	t.Run("wrong password", func(t *testing.T) {
		tb.allowHTTPError(401)
		tb.open("/login")
		tb.fill("Email", "ada@example.com")
		tb.fill("Password", "not the password at all")
		if st := tb.navigates("sign in", chromedp.Click(button("Sign in"))); st != 401 {
			t.Errorf("wrong password: got status %d, want 401", st)
		}
		if got := tb.text(testID("login-error")); got != "Invalid email or password." {
			t.Errorf("error: got %q, want the generic message", got)
		}
		if got := tb.value(`#email`); got != "ada@example.com" {
			t.Errorf("email after failure: got %q, want it kept", got)
		}
		if got := tb.value(`#password`); got != "" {
			t.Errorf("password after failure: got %q, want it empty", got)
		}
	})

	t.Run("sign in", func(t *testing.T) {
		tb.login("ada@example.com", testPassword)
		if got := tb.text(testID("user-email")); got != "ada@example.com" {
			t.Errorf("signed in as: got %q, want ada@example.com", got)
		}
	})

	t.Run("sign out", func(t *testing.T) {
		tb.navigates("sign out", chromedp.Click(button("Sign out")))
		if p := tb.path(); p != "/login?m=signed_out" {
			t.Errorf("after sign-out: got %s, want /login?m=signed_out", p)
		}
		if got := tb.text(testID("flash")); !strings.Contains(got, "signed out") {
			t.Errorf("flash: got %q, want the signed-out message", got)
		}
		tb.open("/keys")
		if p := tb.path(); !strings.HasPrefix(p, "/login") {
			t.Errorf("/keys after sign-out: got %s, want the sign-in page", p)
		}
	})
}

// TestBrowserChangePassword: changing the password in one browser signs
// out every other session of the account (here a second client that signed
// in earlier), while this browser stays signed in.
func TestBrowserChangePassword(t *testing.T) {
	a := newTestApp(t)
	tb, _ := signedInTab(t, a, "ada@example.com")
	other := a.browser()
	other.login("ada@example.com", testPassword)
	if r := other.get("/keys"); r.StatusCode != http.StatusOK {
		t.Fatalf("other browser before: got status %d, want 200", r.StatusCode)
	}

	const newPassword = "velvet thunder parsnip orbit"
	tb.navigates("open account", chromedp.Click(link("Account")))
	tb.fill("Current password", testPassword)
	tb.fill("New password", newPassword)
	tb.fill("Confirm new password", newPassword)
	tb.navigates("change password", chromedp.Click(button("Change password")))
	if p := tb.path(); p != "/account" {
		t.Errorf("after change: got %s, want /account", p)
	}
	if got := tb.text(testID("flash")); !strings.Contains(got, "password was changed") {
		t.Errorf("flash: got %q, want the password-changed message", got)
	}

	r := other.get("/keys")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("other browser after: got %d %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	tb.open("/keys")
	if p := tb.path(); p != "/keys" {
		t.Errorf("this browser after: got %s, want to stay signed in", p)
	}
	// The new password works, the old one not.
	tb.navigates("sign out", chromedp.Click(button("Sign out")))
	tb.login("ada@example.com", newPassword)
}

// TestBrowserNoJavaScript: with scripts off, creating a key (a full-page
// reveal) and revoking one (a plain <details> and form post) still work.
func TestBrowserNoJavaScript(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	k, oldKey := seedKey(t, a, u.ID, "Old importer")
	tb.disableScripts()

	tb.open("/keys/new")
	if evalJS[bool](tb, `typeof htmx !== "undefined"`) {
		t.Fatal("scripts still run; want them disabled")
	}
	tb.fill("Name", "No-JS key")
	if st := tb.navigates("create", chromedp.Click(button("Create key"))); st != 200 {
		t.Fatalf("create: got status %d, want 200", st)
	}
	key := tb.revealedKey()
	wantVerify(t, a, key, "")

	tb.open(fmt.Sprintf("/keys/%d", k.ID))
	tb.click(summary("Revoke key…"))
	tb.fill("Reason (optional)", "Replaced")
	tb.navigates("revoke", chromedp.Click(button("Revoke permanently")))
	if d := tb.seenDialogs(); len(d) > 0 {
		t.Errorf("without JavaScript: got dialogs %v, want none", d)
	}
	tb.wantRevokedPage(k.ID)
	wantVerify(t, a, oldKey, "REVOKED")
}

// focusState describes the focused element and whether it shows focus: an
// outline or a ring (box-shadow) that is there only while it is focused.
const focusState = `(() => {
	const el = document.activeElement;
	if (!el || el === document.body) return {desc: "body", visible: false};
	const look = () => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth, s.boxShadow].join("|"); };
	const focused = look();
	const s = getComputedStyle(el);
	const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
	el.blur();
	const unfocused = look();
	el.focus();
	const desc = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " +
		JSON.stringify((el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 40));
	return {desc, id: el.id, testid: el.dataset.testid || "",
		visible: el.matches(":focus-visible") && (outline || focused !== unfocused)};
})()`

type focused struct {
	Desc    string `json:"desc"`
	ID      string `json:"id"`
	TestID  string `json:"testid"`
	Visible bool   `json:"visible"`
}

// tabTo presses Tab until done says the focus arrived, checking on the way
// that every focused element shows it. It returns the presses needed.
func (tb *tab) tabTo(what string, done func(focused) bool) int {
	tb.t.Helper()
	for n := 1; n <= 40; n++ {
		tb.do("press Tab", chromedp.KeyEvent(kb.Tab))
		f := evalJS[focused](tb, focusState)
		if !f.Visible {
			tb.t.Errorf("Tab %d: %s has no visible focus style", n, f.Desc)
		}
		if done(f) {
			return n
		}
	}
	tb.t.Fatalf("%s not reached in 40 Tab presses", what)
	return 0
}

// TestBrowserKeyboard creates a key with the keyboard alone.
func TestBrowserKeyboard(t *testing.T) {
	a := newTestApp(t)
	tb, _ := signedInTab(t, a, "ada@example.com")
	tb.open("/keys/new")

	n := tb.tabTo("the Name field", func(f focused) bool { return f.ID == "key-name" })
	t.Logf("Name field reached in %d Tab presses", n)
	tb.do("type the name", chromedp.KeyEvent("Keyboard key"))
	tb.tabTo("the Create key button", func(f focused) bool { return f.TestID == "create-key-submit" })
	if st := tb.navigates("press Enter", chromedp.KeyEvent(kb.Enter)); st != 200 {
		t.Fatalf("submit with Enter: got status %d, want 200", st)
	}
	key := tb.revealedKey()
	wantVerify(t, a, key, "")
	if got := tb.text(`#key-reveal-title + p, [data-testid="key-reveal"] p`); !strings.Contains(got, "Keyboard key") {
		t.Errorf("reveal: got %q, want it to name the key", got)
	}
}
