package web

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Helpers that act on a page the way a person does: find a field by its
// label, a button or link by its text, read what is shown.

// jsString quotes s for JavaScript source.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// xpathLiteral quotes s for XPath 1.0, which has no escapes.
func xpathLiteral(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	parts := strings.Split(s, "'")
	return "concat('" + strings.Join(parts, `', "'", '`) + "')"
}

// visibleXPath selects the first element matching xp that is rendered
// (hidden inputs, closed <details> and [hidden] parts are skipped), so the
// tests act only on what a person could see.
func visibleXPath(xp string) chromedp.JSPath {
	return chromedp.JSPath(`(() => {
		const r = document.evaluate(` + jsString(xp) + `, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
		for (let i = 0; i < r.snapshotLength; i++) {
			const el = r.snapshotItem(i);
			if (el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden") return el;
		}
		return null;
	})()`)
}

// button is the visible <button> whose text is text.
func button(text string) chromedp.JSPath {
	return visibleXPath("//button[normalize-space()=" + xpathLiteral(text) + "]")
}

// link is the visible <a> whose text is text.
func link(text string) chromedp.JSPath {
	return visibleXPath("//a[normalize-space()=" + xpathLiteral(text) + "]")
}

// summary is the visible <details> summary whose text is text.
func summary(text string) chromedp.JSPath {
	return visibleXPath("//summary[normalize-space()=" + xpathLiteral(text) + "]")
}

// testID selects elements by data-testid.
func testID(id string) chromedp.CSS {
	return chromedp.CSS(`[data-testid="` + id + `"]`)
}

// click clicks sel with the mouse, as a person would.
func (tb *tab) click(sel chromedp.JSPath) {
	tb.t.Helper()
	tb.do("click "+string(sel)[:min(len(sel), 160)], chromedp.Click(sel))
}

// fieldFor is the id of the visible form control labelled label.
func (tb *tab) fieldFor(label string) string {
	tb.t.Helper()
	js := `(() => {
		const want = ` + jsString(label) + `;
		for (const l of document.querySelectorAll("label")) {
			if (l.textContent.replace(/\s+/g, " ").trim() !== want || l.getClientRects().length === 0) continue;
			return l.htmlFor || (l.control && l.control.id) || "";
		}
		return "";
	})()`
	var id string
	err := chromedp.Do(tb.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			v, err := chromedp.Evaluate[string](js)(ctx, t)
			if err != nil {
				return err
			}
			if v != "" {
				id = v
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	if err != nil {
		tb.t.Fatalf("no visible field labelled %q: %v", label, err)
	}
	return id
}

// fill types value into the field labelled label, replacing its content.
func (tb *tab) fill(label, value string) {
	tb.t.Helper()
	id := tb.fieldFor(label)
	tb.do("fill "+label, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), value))
}

// choose selects the option with the visible text option in the <select>
// labelled label, and fires change as a person's choice would.
func (tb *tab) choose(label, option string) {
	tb.t.Helper()
	id := tb.fieldFor(label)
	ok := evalJS[bool](tb, `(() => {
		const s = document.getElementById(`+jsString(id)+`);
		const o = [...s.options].find(o => o.text.trim() === `+jsString(option)+`);
		if (!o) return false;
		s.value = o.value;
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`)
	if !ok {
		tb.t.Fatalf("select %q has no option %q", label, option)
	}
}

// waitVisible waits until sel is rendered.
func (tb *tab) waitVisible(sel chromedp.CSS) {
	tb.t.Helper()
	tb.do("wait for "+string(sel), chromedp.WaitVisible(sel))
}

// text is the rendered text of the first element matching sel.
func (tb *tab) text(sel chromedp.CSS) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(sel, chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// value is the current value of the form control matching sel.
func (tb *tab) value(sel chromedp.CSS) string {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Value(sel))
	if err != nil {
		tb.t.Fatalf("value of %s: %v", sel, err)
	}
	return v
}

// count is the number of elements matching css right now.
func (tb *tab) count(css string) int {
	tb.t.Helper()
	return evalJS[int](tb, `document.querySelectorAll(`+jsString(css)+`).length`)
}

// html is the whole current DOM, as serialised now (not the HTML received).
func (tb *tab) html() string {
	tb.t.Helper()
	return evalJS[string](tb, `document.documentElement.outerHTML`)
}

// login signs in through the form and waits for the keys page.
func (tb *tab) login(email, password string) {
	tb.t.Helper()
	tb.open("/login")
	tb.fill("Email", email)
	tb.fill("Password", password)
	if st := tb.navigates("sign in", chromedp.Click(button("Sign in"))); st != 200 {
		tb.t.Fatalf("sign in as %s: got status %d, want 200", email, st)
	}
	if p := tb.path(); p != "/keys" {
		tb.t.Fatalf("after sign-in: got %s, want /keys", p)
	}
}

// grantClipboard lets the app's origin read and write the clipboard without
// a prompt (headless Chromium has no one to click "Allow").
func (tb *tab) grantClipboard() {
	tb.t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(tb.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    cdpbrowser.PermissionSettingGranted,
			Origin:     tb.app.http.URL,
		})
		if err != nil {
			tb.t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// clipboard reads the system clipboard through the page, as a paste would.
func (tb *tab) clipboard() string {
	tb.t.Helper()
	const js = `navigator.clipboard.readText()`
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		// readText needs a focused document.
		if _, ferr := chromedp.Call(tb.ctx, page.BringToFront, cdp.Empty{}); ferr != nil {
			tb.t.Fatalf("bring to front: %v", ferr)
		}
		v = evalJS[string](tb, js)
	}
	return v
}

// disableScripts turns JavaScript off for the page, as a visitor with
// scripts blocked would have it.
func (tb *tab) disableScripts() {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, emulation.SetScriptExecutionDisabled,
		emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		tb.t.Fatalf("disable scripts: %v", err)
	}
}

// colorScheme emulates prefers-color-scheme ("light" or "dark").
func (tb *tab) colorScheme(scheme string) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		tb.t.Fatalf("emulate %s scheme: %v", scheme, err)
	}
}

// clearCookies signs the browser out behind the page's back, for tests
// that reuse one browser as different visitors.
func (tb *tab) clearCookies() {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		tb.t.Fatalf("clear cookies: %v", err)
	}
}
