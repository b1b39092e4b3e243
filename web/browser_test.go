package web

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive a real Chromium through chromedp against a real
// server (newTestApp), the way a person uses Keyward: they find fields by
// their label and buttons by their text, so they also check that the pages
// say what they mean. Every test fails when the page logged an error, threw,
// or broke its Content Security Policy.

// browserTimeout bounds each test's browser: a hung page fails the test
// rather than the whole run.
const browserTimeout = 60 * time.Second

// chromiumPath finds the browser, or skips the test: browser tests are
// optional on a laptop but required in CI (KEYWARD_BROWSER_TESTS=required).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	if p := os.Getenv("KEYWARD_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		browserMissing(t, "KEYWARD_CHROMIUM="+p+" does not exist")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	browserMissing(t, "no Chromium found (set KEYWARD_CHROMIUM)")
	return ""
}

func browserMissing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("KEYWARD_BROWSER_TESTS") == "required" {
		t.Fatalf("browser tests are required: %s", why)
	}
	t.Skipf("browser tests skipped: %s", why)
}

// tab is one browser (its own process and profile) showing one page of app.
type tab struct {
	t   *testing.T
	app *testApp
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors, exceptions, error log entries
	allowed  []string // substrings of expected error log entries
	dialogs  []seenDialog
	dismiss  bool // answer the next dialogs with "Cancel" / "Stay"
}

// seenDialog is a JavaScript dialog the page opened (confirm, beforeunload).
type seenDialog struct {
	Type    page.DialogType
	Message string
}

// newTab starts a fresh headless Chromium for app. It is closed, and its
// console checked, when the test ends.
func newTab(t *testing.T, a *testApp) *tab {
	t.Helper()
	return newTabTimeout(t, a, browserTimeout)
}

func newTabTimeout(t *testing.T, a *testApp, timeout time.Duration) *tab {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	tb := &tab{t: t, app: a}
	base, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(tb.collect))
	tb.ctx = ctx
	// Cleanups run last-in first-out: the console check first, then the
	// browser is closed and its process waited for, before t.TempDir (the
	// profile) is removed.
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable log domain: %v", err)
	}
	go tb.answerDialogs(chromedp.Events(ctx, page.JavascriptDialogOpening))
	t.Cleanup(tb.checkConsole)
	return tb
}

// collect runs in chromedp's event loop: it only records.
func (tb *tab) collect(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type != cdpruntime.ConsoleAPICalledTypeError {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		msg = "console.error: " + strings.Join(args, " ")
	case *cdpruntime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "exception: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		msg += fmt.Sprintf(" at %s:%d", d.URL, d.LineNumber+1)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level != cdplog.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log %s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	tb.mu.Lock()
	tb.problems = append(tb.problems, msg)
	tb.mu.Unlock()
}

// allowHTTPError accepts the error Chromium logs when a page answers with
// status (e.g. 401 after a wrong password): the test expects it.
func (tb *tab) allowHTTPError(status int) {
	tb.mu.Lock()
	tb.allowed = append(tb.allowed, fmt.Sprintf("status of %d", status))
	tb.mu.Unlock()
}

func (tb *tab) checkConsole() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		ok := false
		for _, a := range tb.allowed {
			if strings.Contains(p, a) {
				ok = true
				break
			}
		}
		if !ok {
			tb.t.Errorf("browser reported an error: %s", p)
		}
	}
}

// answerDialogs accepts every dialog (hx-confirm, beforeunload) unless the
// test asked to dismiss them, and records it.
func (tb *tab) answerDialogs(events iter.Seq2[page.EventJavascriptDialogOpening, error]) {
	for ev, err := range events {
		if err != nil {
			return
		}
		tb.mu.Lock()
		tb.dialogs = append(tb.dialogs, seenDialog{Type: ev.Type, Message: ev.Message})
		accept := !tb.dismiss
		tb.mu.Unlock()
		_, _ = chromedp.Call(tb.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
	}
}

// seenDialogs returns the dialogs opened so far and forgets them.
func (tb *tab) seenDialogs() []seenDialog {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	d := tb.dialogs
	tb.dialogs = nil
	return d
}

func (tb *tab) setDismissDialogs(dismiss bool) {
	tb.mu.Lock()
	tb.dismiss = dismiss
	tb.mu.Unlock()
}

// do runs actions and fails the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// evalJS evaluates js in the page (awaiting a promise) and decodes its value.
func evalJS[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluate %.80q: %v", js, err)
	}
	return v
}

// open loads path and waits for the page to load; it returns the status.
func (tb *tab) open(path string) int64 {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(tb.app.http.URL+path))
	if err != nil {
		tb.t.Fatalf("open %s: %v", path, err)
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// navigates runs a step that leaves the page (a click on a link or a submit
// button) and waits until the next page has loaded; it returns its status.
func (tb *tab) navigates(what string, step chromedp.Action[chromedp.Void]) int64 {
	tb.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, step)
	if err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// path is the current URL's path and query.
func (tb *tab) path() string {
	tb.t.Helper()
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("location: %v", err)
	}
	return strings.TrimPrefix(loc, tb.app.http.URL)
}

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
