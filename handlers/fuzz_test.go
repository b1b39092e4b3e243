package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/unicode/norm"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
	"github.com/keyward/keyward/views"
)

// Fuzz targets for everything a stranger can send to a handler: the verify
// API's JSON body, the sign-in form and the create-key form, plus the CSV
// writer that turns key names into spreadsheet cells. The handlers are
// called directly (package web imports this package, so it cannot be used
// here); the properties are about what each handler returns or renders.

const fuzzPassword = "correct horse battery staple"

// fuzzNow is the fixed clock of the handler and the store, so that the form
// parser and the database judge expiry dates against the same instant.
var fuzzNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fuzzEnv is a real store over a SQLite file with one user and one key.
type fuzzEnv struct {
	h    *Handler
	e    *echo.Echo
	user db.User
	key  string
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	now := func() time.Time { return fuzzNow }
	store, _ := dbtest.Open(f, db.Options{Now: now})
	u, err := store.CreateUser(context.Background(), "fuzz@example.com", fuzzPassword, db.RoleMember, db.CLIActor())
	if err != nil {
		f.Fatalf("create user: %v", err)
	}
	dbtest.Catalog(f, store, "read")
	_, key, err := store.CreateKey(context.Background(), u.ID, db.KeyInput{Name: "fuzz", Scopes: []string{"read"}}, db.CLIActor())
	if err != nil {
		f.Fatalf("create key: %v", err)
	}
	h := New(Config{
		Store:    store,
		Verifier: db.NewVerifier(store, db.VerifierOptions{}),
		BaseURL:  "http://127.0.0.1:8080",
		Version:  "fuzz",
		Now:      now,
	})
	unthrottle(h)
	return &fuzzEnv{h: h, e: echo.New(), user: u, key: key}
}

// call runs handler on req and returns the recorder and the handler's error.
func (env *fuzzEnv) call(handler echo.HandlerFunc, req *http.Request) (*httptest.ResponseRecorder, error) {
	rec := httptest.NewRecorder()
	return rec, handler(env.e.NewContext(req, rec))
}

// unthrottle gives h's guessing throttles a clock that moves an hour at
// every reading, so every failure is forgotten before the next attempt: the
// fuzzer sends thousands of failures, and its properties are about answers,
// not rate limits (those have tests of their own).
func unthrottle(h *Handler) {
	var hours atomic.Int64
	clock := func() time.Time { return fuzzNow.Add(time.Duration(hours.Add(1)) * time.Hour) }
	h.loginThrottle = newLoginThrottle(h.Store, clock)
	h.verifyThrottle = newVerifyThrottle(clock)
}

// spreadsheetRuns is the test's own reading of a cell as a spreadsheet
// would see it: the first byte as it is, or the first character shown
// once the cell is folded (NFKC) and everything that shows as nothing or
// as blank space is passed over.
func spreadsheetRuns(cell string) bool {
	if cell != "" && strings.ContainsRune("=+-@\t\r\x00", rune(cell[0])) {
		return true
	}
	for _, r := range norm.NFKC.String(cell) {
		hidden := !unicode.IsGraphic(r) || unicode.IsSpace(r) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r)
		if !hidden {
			return strings.ContainsRune("=+-@", r)
		}
	}
	return false
}

// crlfRun is what CSV readers turn into a plain LF.
var crlfRun = regexp.MustCompile(`\r+\n`)

var verifyCodes = map[string]bool{
	"MALFORMED": true, "NOT_FOUND": true, "REVOKED": true, "DISABLED": true,
	"EXPIRED": true, "INSUFFICIENT_SCOPE": true, "PENDING_APPROVAL": true, "IP_NOT_ALLOWED": true,
}

// FuzzVerifyBody: whatever the body, POST /api/v1/keys/verify answers 200
// with a verdict, or refuses with a 400 or 413 that carries a stable code.
// Never a 5xx, never a panic.
func FuzzVerifyBody(f *testing.F) {
	env := newFuzzEnv(f)
	f.Add([]byte(`{"key":"` + env.key + `"}`))
	f.Add([]byte(`{"key":"` + env.key + `","scope":"read"}`))
	f.Add([]byte(`{"key":"` + env.key + `","scope":"write"}`))
	f.Add([]byte(`{"key":"` + env.key[:len(env.key)-1] + `x"}`))
	f.Add([]byte(`{"key":"` + env.key + `","key":"kw_"}`))
	f.Add([]byte(`{"key":"\u006bw_` + env.key[3:] + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/keys/verify", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec, err := env.call(env.h.APIVerify, req)
		if err != nil {
			var he *HTTPError
			if !errors.As(err, &he) {
				t.Fatalf("body %q: got error %v (a 500), want a 200 verdict or an HTTPError", body, err)
			}
			if he.Status != http.StatusBadRequest && he.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("body %q: got status %d, want 400 or 413", body, he.Status)
			}
			if he.Code == "" || he.Message == "" {
				t.Fatalf("body %q: got code %q message %q, want both set", body, he.Code, he.Message)
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("body %q: got status %d, want 200", body, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("body %q: got Content-Type %q, want JSON", body, ct)
		}
		var v struct {
			Valid *bool           `json:"valid"`
			Code  string          `json:"code"`
			Key   json.RawMessage `json:"key"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Valid == nil {
			t.Fatalf("body %q: answer %q is not a verdict: %v", body, rec.Body, err)
		}
		if *v.Valid && (v.Code != "" || len(v.Key) == 0) {
			t.Fatalf("body %q: valid answer %q must carry the key and no code", body, rec.Body)
		}
		if !*v.Valid && (!verifyCodes[v.Code] || len(v.Key) != 0) {
			t.Fatalf("body %q: refusal %q must carry a known code and no key", body, rec.Body)
		}
	})
}

// FuzzLoginForm: any sign-in form body is answered below 500, and a
// successful sign-in only ever redirects within this site, even after the
// browser drops tabs and line breaks from the Location and reads a
// backslash as a slash (as the URL standard says).
func FuzzLoginForm(f *testing.F) {
	env := newFuzzEnv(f)
	f.Add("email=fuzz%40example.com&password=correct+horse+battery+staple")
	f.Add("email=fuzz%40example.com&password=correct+horse+battery+staple&next=%2Fkeys%2F1")
	f.Add("email=fuzz%40example.com&password=correct+horse+battery+staple&next=%2F%09%2Fevil.example")
	f.Add("email=fuzz%40example.com&password=correct+horse+battery+staple&next=%2F%5C%09evil.example")
	f.Add("email=FUZZ%40EXAMPLE.COM+&password=wrong")
	f.Add("email=%27+OR+1%3D1+--&password=x")
	f.Add("email=&password=")
	f.Add("%zz=%zz&email")
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec, err := env.call(env.h.LoginSubmit, req)
		if err != nil {
			var he *HTTPError
			if !errors.As(err, &he) || he.Status >= 500 {
				t.Fatalf("body %q: got error %v, want a rendered answer below 500", body, err)
			}
			return
		}
		if rec.Code >= 500 {
			t.Fatalf("body %q: got status %d, want below 500", body, rec.Code)
		}
		if rec.Code == http.StatusSeeOther {
			loc := rec.Header().Get("Location")
			seen := strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
			if !strings.HasPrefix(seen, "/") || strings.HasPrefix(seen, "//") {
				t.Fatalf("body %q: redirected to %q, which a browser reads as %q: another site", body, loc, seen)
			}
		}
	})
}

// FuzzKeyForm: parseKeyForm never panics, and whatever it accepts the
// database accepts too: any refusal from CreateKeyOnce is about the name or
// the description, which the form parser leaves to the database. Each run
// is a fresh form, with a token of its own. Scopes outside the catalog
// are allowed here, so that the catalog (the database's own rule, tested
// in package db and web) does not hide a scope the parser let through
// that the database would refuse as malformed.
func FuzzKeyForm(f *testing.F) {
	env := newFuzzEnv(f)
	ctx := context.Background()
	if err := env.h.Store.SetScopesOutsideCatalog(ctx, true, db.CLIActor()); err != nil {
		f.Fatal(err)
	}
	f.Add("ci", "", "30", "", "read write")
	f.Add("deploy", "line one\r\nline two", "custom", "2027-01-31", "read,write,admin:all")
	f.Add("", "", "never", "", "")
	f.Add("x", "", "custom", "2026-11-25", "")
	f.Add("x", "", "custom", "9999-12-31", "")
	f.Add("x", "", "custom", "0000-01-01", "")
	f.Add("x", "", "+30", "", "a b a")
	f.Add("x", "", "365", "", "UPPER")
	f.Add("x", "", "-1", "", strings.Repeat("s,", 30))
	f.Fuzz(func(t *testing.T, name, description, expiry, expiryDate, scopes string) {
		token := rand.Text()
		in, ve := env.h.parseKeyForm(views.KeyForm{
			Name: name, Description: description, Expiry: expiry, ExpiryDate: expiryDate,
			FormToken: token,
		}, scopes)
		if ve.Err() != nil {
			return
		}
		_, secret, err := env.h.Store.CreateKeyOnce(ctx, env.user.ID, in, token, db.CLIActor())
		if err == nil {
			if db.ParseKey(secret) != nil {
				t.Fatalf("created key %q does not parse", secret)
			}
			return
		}
		fe := db.FieldErrors(err)
		if fe == nil {
			t.Fatalf("form %q/%q/%q/%q/%q: CreateKey failed outside validation: %v", name, description, expiry, expiryDate, scopes, err)
		}
		for field := range fe {
			if field != "name" && field != "description" {
				t.Fatalf("form accepted expiry %q/%q and scopes %q, but the database refused %s: %v",
					expiry, expiryDate, scopes, field, err)
			}
		}
	})
}

// FuzzCSV: every record written by CSVWriter reads back through
// encoding/csv cell for cell (CRs before a LF read as the LF alone), with
// an apostrophe in front exactly when a spreadsheet could run the cell: its
// first byte is = + - @ tab CR or NUL, or the first character a person
// would see, after compatibility folding (NFKC), is = + - or @. The seeds
// hide formulas behind zero-width and other invisible characters and in
// fullwidth and small forms.
func FuzzCSV(f *testing.F) {
	f.Add("=HYPERLINK(\"http://evil.example\",\"x\")", "+1", "-1", "@SUM(A1)")
	f.Add("\tx", "\rx", "plain", "")
	f.Add("a,b", "say \"hi\"", "line\nbreak", "crlf\r\nline")
	f.Add("'=already", " =1+1", "ünïcödé", "\xff\xfe")
	f.Add("\u200B=1+1", "\uFEFF+1", "\uFF1D1+1", "\uFE66x")
	f.Add("\u2060\u200D-1", "\u3164@x", "\u3000=1", "\u00A8=1")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		record := []string{a, b, c, d}
		var buf bytes.Buffer
		w := NewCSVWriter(&buf)
		if err := w.Write(record); err != nil {
			t.Fatalf("write %q: %v", record, err)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("flush %q: %v", record, err)
		}
		r := csv.NewReader(&buf)
		r.FieldsPerRecord = -1
		got, err := r.ReadAll()
		if err != nil {
			t.Fatalf("read back %q (written %q): %v", record, buf.String(), err)
		}
		if len(got) != 1 || len(got[0]) != len(record) {
			t.Fatalf("read back %q as %q, want one record of %d cells", record, got, len(record))
		}
		for i, cell := range got[0] {
			if spreadsheetRuns(cell) {
				t.Fatalf("cell %q came back as %q: a spreadsheet would run it", record[i], cell)
			}
			// encoding/csv cannot carry a CR before a LF inside a cell.
			want := crlfRun.ReplaceAllString(record[i], "\n")
			if spreadsheetRuns(want) {
				want = "'" + want
			}
			if cell != want {
				t.Fatalf("cell %q came back as %q, want %q", record[i], cell, want)
			}
		}
	})
}
