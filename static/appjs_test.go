package static

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// fixture exercises every data-* hook of app.js on one page.
const fixture = `<!DOCTYPE html>
<html lang="en"><head><title>fixture</title><script src="/static/js/app.js" defer></script></head>
<body>
<label for="key">Key</label><input id="key" readonly data-select-on-focus value="kw_secretvalue">
<button type="button" id="copy" data-copy="#key"><span data-copy-label>Copy</span></button>
<pre id="curl">curl -X POST https://keys.example.com</pre>
<button type="button" id="copy-pre" data-copy="#curl">Copy</button>
<select id="expiry" data-toggle-target="#custom" data-toggle-value="custom">
<option value="30">30 days</option><option value="custom">Custom</option></select>
<div id="custom">date field</div>
<div id="panel" data-confirm-leave><div data-leave-ok><a id="done" href="/next">Done</a></div></div>
<a id="away" href="/next">Away</a>
<div id="live-region" aria-live="polite"></div>
</body></html>`

// findBrowser returns Chromium's path, skipping the test when there is none
// unless KEYWARD_BROWSER_TESTS=required.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("KEYWARD_BROWSER_TESTS") == "required" {
		t.Fatal("got no Chromium, want one (KEYWARD_BROWSER_TESTS=required)")
	}
	t.Skip("no Chromium found; set KEYWARD_BROWSER_TESTS=required to fail instead")
	return ""
}

func TestAppJS(t *testing.T) {
	exe := findBrowser(t)
	if testing.Short() {
		t.Skip("browser test")
	}
	mux := http.NewServeMux()
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServerFS(FS)))
	mux.HandleFunc("/next", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!DOCTYPE html><title>next</title><p>next</p>`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(fixture))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	// Dismiss every dialog (so the page stays) and remember its type.
	var mu sync.Mutex
	var dialogs []page.DialogType
	opening := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range opening {
			if err != nil {
				return
			}
			mu.Lock()
			dialogs = append(dialogs, ev.Type)
			mu.Unlock()
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}()
	dialogCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(dialogs)
	}

	load := func(t *testing.T) {
		t.Helper()
		// The previous fixture would ask before being left; let it go.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.querySelectorAll("[data-confirm-leave]").forEach(e => e.removeAttribute("data-confirm-leave"))`)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitReady("#live-region")); err != nil {
			t.Fatal(err)
		}
		// Wait for the deferred script to have run.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("custom").hidden`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Fatalf("app.js did not hide the custom field: %v", err)
		}
	}
	eval := func(t *testing.T, js string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	waitFor := func(t *testing.T, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Fatalf("waiting for %s: %v", js, err)
		}
	}
	click := func(t *testing.T, sel string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("toggle", func(t *testing.T) {
		load(t)
		eval(t, `(() => { const s = document.getElementById("expiry"); s.value = "custom"; s.dispatchEvent(new Event("change", {bubbles: true})); })()`)
		if got := eval(t, `document.getElementById("custom").hidden`); got != false {
			t.Errorf("custom field hidden after choosing custom: got %v, want false", got)
		}
		eval(t, `(() => { const s = document.getElementById("expiry"); s.value = "30"; s.dispatchEvent(new Event("change", {bubbles: true})); })()`)
		if got := eval(t, `document.getElementById("custom").hidden`); got != true {
			t.Errorf("custom field hidden after choosing 30 days: got %v, want true", got)
		}
	})

	t.Run("copy", func(t *testing.T) {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name},
				Setting:    browser.PermissionSettingGranted,
				Origin:     srv.URL,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		load(t)
		click(t, "#copy")
		waitFor(t, `document.querySelector("#copy [data-copy-label]").textContent === "Copied"`)
		waitFor(t, `document.getElementById("live-region").textContent === "Copied to clipboard"`)
		if got := eval(t, `navigator.clipboard.readText()`); got != "kw_secretvalue" {
			t.Errorf("clipboard: got %q, want %q", got, "kw_secretvalue")
		}
		waitFor(t, `document.querySelector("#copy [data-copy-label]").textContent === "Copy"`)
	})

	t.Run("fallback", func(t *testing.T) {
		load(t)
		eval(t, `Object.defineProperty(navigator, "clipboard", {value: undefined, configurable: true})`)
		click(t, "#copy")
		waitFor(t, `document.querySelector("#copy [data-copy-label]").textContent === "Press Ctrl+C to copy"`)
		if got := eval(t, `(() => { const k = document.getElementById("key"); return document.activeElement === k && k.selectionStart === 0 && k.selectionEnd === k.value.length; })()`); got != true {
			t.Errorf("key selected: got %v, want true", got)
		}
		click(t, "#copy-pre")
		if got := eval(t, `window.getSelection().toString()`); got != "curl -X POST https://keys.example.com" {
			t.Errorf("selection: got %q, want the curl text", got)
		}
	})

	t.Run("confirm leave", func(t *testing.T) {
		load(t)
		before := dialogCount()
		click(t, "#away")
		deadline := time.Now().Add(5 * time.Second)
		for dialogCount() == before && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		got := dialogs[before:]
		mu.Unlock()
		if len(got) != 1 || got[0] != page.DialogTypeBeforeunload {
			t.Fatalf("dialogs leaving by another link: got %v, want [beforeunload]", got)
		}
		if title, _ := chromedp.Run(ctx, chromedp.Title()); title != "fixture" {
			t.Errorf("title after dismissing: got %q, want %q", title, "fixture")
		}

		before = dialogCount()
		click(t, "#done")
		// Poll from Go: a poll inside the page would not survive the navigation.
		var title string
		for deadline := time.Now().Add(5 * time.Second); title != "next" && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			title, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
		}
		if title != "next" {
			t.Errorf("title after the done link: got %q, want %q", title, "next")
		}
		if n := dialogCount() - before; n != 0 {
			t.Errorf("dialogs leaving by the done link: got %d, want 0", n)
		}
	})
}

// TestFSServesAssets checks that FS is rooted where web serves it.
func TestFSServesAssets(t *testing.T) {
	for _, p := range []string{"css/app.css", "js/app.js", "js/htmx.min.js", "img/favicon.svg"} {
		if _, err := fs.Stat(FS, p); err != nil {
			t.Errorf("got %v for %s, want it embedded", err, p)
		}
	}
}
