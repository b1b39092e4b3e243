package web

import (
	"testing"
	"time"
)

func TestBrowserTmpConsole(t *testing.T) {
	a := newTestApp(t)
	tb := newTab(t, a)
	tb.open("/login")
	evalJS[bool](tb, `(() => { document.body.appendChild(Object.assign(document.createElement('script'),{textContent:'1'})); const d = document.createElement('div'); d.setAttribute('style','color:red'); document.body.appendChild(d); return true })()`)
	tb.open("/static/nope.css")
	time.Sleep(300 * time.Millisecond)
}
