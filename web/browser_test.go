package web

import (
	"context"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
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
