package web

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// Payloads and checks shared by the attack tests in attack_test.go.

var sqlPayloads = []string{
	`' OR 1=1 --`,
	`"; DROP TABLE users; --`,
	`1 UNION SELECT id, email, password_hash, role FROM users --`,
	`'); DELETE FROM api_keys; --`,
}

const (
	xssScript = `<script>alert(1)</script>`
	xssImg    = `"><img src=x onerror=alert(1)>`
	// xssEmail is a payload that passes the email check (no spaces).
	xssEmail = `"><svg/onload=alert(1)>@example.com`
)

// sqlErrorText is what a database error leaking into a page would contain.
var sqlErrorText = []string{"sqlite", "sql logic", "syntax error", "no such table", "no such column", "unrecognized token", `near "`}

// attackDB opens a read-only view of the test app's database file.
func attackDB(t *testing.T, a *testApp) *sql.DB {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(a.t.TempDir()), "*", "keyward.db"))
	if len(files) != 1 {
		t.Fatalf("database file: got %v, want one keyward.db", files)
	}
	d, err := sql.Open("sqlite", "file:"+files[0]+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// snapshot renders the security-relevant tables and the schema as text.
func snapshot(t *testing.T, d *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY name`,
		`SELECT id, email, role, password_hash, COALESCE(disabled_at, 0), password_changed_at FROM users ORDER BY id`,
		`SELECT id, user_id, name, description, hex(key_hash), scopes, COALESCE(expires_at, 0),
			COALESCE(disabled_at, 0), COALESCE(revoked_at, 0) FROM api_keys ORDER BY id`,
		`SELECT COUNT(*) FROM sessions`,
		`SELECT user_id, kind, enabled FROM notification_prefs ORDER BY user_id, kind`,
		`SELECT id, url, description, event_types, COALESCE(disabled_at, 0) FROM webhook_endpoints ORDER BY id`,
		`SELECT name, value FROM settings WHERE name = 'webhooks_allow_private'`,
	} {
		rows, err := d.Query(q)
		if err != nil {
			t.Fatalf("snapshot %q: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

// snapshotDiff lists the lines only in before (-) or only in after (+).
func snapshotDiff(before, after string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for l := range strings.Lines(s) {
			m[l] = true
		}
		return m
	}
	b, a := in(before), in(after)
	var out strings.Builder
	for l := range strings.Lines(before) {
		if !a[l] {
			out.WriteString("\n- " + strings.TrimSpace(l))
		}
	}
	for l := range strings.Lines(after) {
		if !b[l] {
			out.WriteString("\n+ " + strings.TrimSpace(l))
		}
	}
	return out.String()
}

// wantNoLeak fails if a response is a 5xx or shows database error text or
// the other user's data.
func wantNoLeak(t *testing.T, what string, r response, secrets ...string) {
	t.Helper()
	if r.StatusCode >= 500 {
		t.Errorf("%s: got status %d", what, r.StatusCode)
	}
	low := strings.ToLower(r.body)
	for _, s := range sqlErrorText {
		if strings.Contains(low, s) {
			t.Errorf("%s: response contains %q: %.300s", what, s, r.body)
		}
	}
	for _, s := range secrets {
		if strings.Contains(r.body, s) {
			t.Errorf("%s: response shows another user's %q", what, s)
		}
	}
}

// emailShaped makes a payload pass the email check: no spaces, one @.
func emailShaped(p string) string {
	return strings.NewReplacer(" ", "/**/", "@", "").Replace(p) + "@example.com"
}

// attackSend sends a raw request through b's cookie jar.
func attackSend(b *browser, method, path, body string, hdr map[string]string) response {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.app.http.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

// revealedAttack reads the id and key from a show-once page.
func revealedAttack(t *testing.T, r response) (int64, string) {
	t.Helper()
	id, secret, err := soakRevealed(r.body)
	if err != nil {
		t.Fatalf("status %d: %v", r.StatusCode, err)
	}
	return id, secret
}

// wantEscaped fails if page runs any script of ours or carries an event
// handler attribute, and unless its text shows each payload literally
// (so the check is not vacuous).
func wantEscaped(t *testing.T, what string, r response, shown ...string) {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("%s: got status %d, want 200", what, r.StatusCode)
	}
	doc := r.doc(t)
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if strings.Contains(s.Text(), "alert") {
			t.Errorf("%s: a <script> runs %q", what, s.Text())
		}
	})
	var attrs strings.Builder
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, attr := range s.Nodes[0].Attr {
			attrs.WriteString(attr.Val + "\n")
			if strings.HasPrefix(strings.ToLower(attr.Key), "on") {
				t.Errorf("%s: <%s> has an event handler %s=%q", what, goquery.NodeName(s), attr.Key, attr.Val)
			}
		}
		if goquery.NodeName(s) == "img" || goquery.NodeName(s) == "svg" {
			if src, _ := s.Attr("src"); src == "x" {
				t.Errorf("%s: an injected <img src=x>", what)
			}
		}
	})
	text := doc.Text()
	for _, p := range shown {
		if !strings.Contains(text, p) && !strings.Contains(attrs.String(), p) {
			t.Errorf("%s: payload %q is not shown (escaped) anywhere", what, p)
		}
	}
}

// apiAttack sends one API request without cookies.
func (a *testApp) apiAttack(method, path, body string, hdr http.Header) response {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.http.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	return a.browser().do(req)
}

func (b *browser) postWithHeadersAttack(email string, hdr map[string]string) response {
	b.t.Helper()
	f := url.Values{"email": {email}, "password": {"wrong password for sure"}, "_csrf": {b.csrf()}}
	req, _ := http.NewRequest(http.MethodPost, b.app.http.URL+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		if k != "Content-Type" {
			req.Header.Set(k, v)
		}
	}
	return b.do(req)
}

// junkKey is the i-th kind of junk: a real key with one character changed,
// two swapped or its case flipped, random base62 with the prefix, random
// bytes, a truncated or extended key, or another vendor's token format.
func junkKey(t *testing.T, rng *rand.Rand, i int) string {
	k, err := db.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte(k)
	p := 3 + rng.IntN(len(b)-3)
	switch i % 8 {
	case 0:
		c := b[p]
		for b[p] == c {
			b[p] = alphabet[rng.IntN(len(alphabet))]
		}
	case 1:
		q := 3 + rng.IntN(len(b)-4)
		for b[q] == b[q+1] {
			q = 3 + rng.IntN(len(b)-4)
		}
		b[q], b[q+1] = b[q+1], b[q]
	case 2:
		for b[p] < 'A' {
			p = 3 + rng.IntN(len(b)-3)
		}
		b[p] ^= 0x20
	case 3:
		for j := 3; j < len(b); j++ {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
	case 4:
		b = make([]byte, rng.IntN(120))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
	case 5:
		b = b[:rng.IntN(len(b))]
	case 6:
		b = append(b, alphabet[rng.IntN(len(alphabet))])
	default:
		b = []byte("ghp_" + k[3:39])
	}
	return string(b)
}
