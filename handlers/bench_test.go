package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// The verify API's handlers alone, through Echo's router: what the handler
// adds on top of db.Verifier (body, JSON in and out, headers, metrics
// hooks). Run with `go test -run '^$' -bench API -benchmem ./handlers/`.

// benchBody is a request body the benchmark can rewind without allocating.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

// benchWriter is a ResponseWriter that keeps nothing but the status, so the
// numbers are the handler's and not a recorder's.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }

func (w *benchWriter) reset() {
	clear(w.h)
	w.status = http.StatusOK
}

// newBenchAPI returns an Echo with the two API routes over a real store
// holding one key with the scope "read", and that key; benchLimited is a
// second key with an IP allowlist (the client 10.1.2.3 in its last of four
// networks) and metadata, as every load key of `make bench` has.
var benchLimited string

func newBenchAPI(b *testing.B) (*echo.Echo, string) {
	b.Helper()
	ctx := context.Background()
	store, _ := dbtest.Open(b, db.Options{})
	u, err := store.CreateUser(ctx, "bench@example.com", fuzzPassword, db.RoleMember, db.CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	dbtest.Catalog(b, store, "read")
	_, key, err := store.CreateKey(ctx, u.ID, db.KeyInput{Name: "bench", Scopes: []string{"read"}}, db.CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	allowed, err := db.ParseAllowedIPs("192.0.2.0/24, 2001:db8::/32, 198.51.100.0/24, 10.1.0.0/16")
	if err != nil {
		b.Fatal(err)
	}
	if _, benchLimited, err = store.CreateKey(ctx, u.ID, db.KeyInput{Name: "limited", Scopes: []string{"read"},
		AllowedIPs: allowed, Meta: `{"tenant":"t-0001","plan":"pro","limits":{"rps":100}}`}, db.CLIActor()); err != nil {
		b.Fatal(err)
	}
	h := New(Config{
		Store: store,
		Verifier: db.NewVerifier(store, db.VerifierOptions{CacheTTL: time.Hour,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		Now: time.Now,
	})
	unthrottle(h)
	e := echo.New()
	e.POST("/api/v1/keys/verify", h.APIVerify)
	e.GET("/api/v1/auth", h.APIForwardAuth)
	return e, key
}

// serveBench runs req through e b.N times and checks the status each time.
func serveBench(b *testing.B, e *echo.Echo, req *http.Request, body []byte, want int) {
	b.Helper()
	w := &benchWriter{h: http.Header{}}
	rd := &benchBody{}
	b.ReportAllocs()
	for b.Loop() {
		if body != nil {
			rd.Reset(body)
			req.Body = rd
		}
		w.reset()
		e.ServeHTTP(w, req)
		if w.status != want {
			b.Fatalf("got status %d, want %d", w.status, want)
		}
	}
}

func BenchmarkAPIVerify(b *testing.B) {
	e, key := newBenchAPI(b)
	unknown, err := db.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, body string }{
		{"valid", `{"key":"` + key + `"}`},
		{"valid_scope", `{"key":"` + key + `","scope":"read"}`},
		{"valid_allowlist_meta", `{"key":"` + benchLimited + `","scope":"read","ip":"10.1.2.3"}`},
		{"not_found", `{"key":"` + unknown + `"}`},
		{"malformed", `{"key":"kw_nope"}`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/keys/verify", nil)
			req.Header.Set("Content-Type", "application/json")
			serveBench(b, e, req, []byte(c.body), http.StatusOK)
		})
	}
}

func BenchmarkAPIForwardAuth(b *testing.B) {
	e, key := newBenchAPI(b)
	cases := []struct {
		name, key string
		want      int
	}{
		{"valid", key, http.StatusOK},
		{"valid_allowlist", benchLimited, http.StatusOK},
		{"malformed", "kw_nope", http.StatusUnauthorized},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/auth", nil)
			req.RemoteAddr = "10.1.2.3:40000" // the client, inside the limited key's allowlist
			req.Header.Set("Authorization", "Bearer "+c.key)
			serveBench(b, e, req, nil, c.want)
		})
	}
}

// BenchmarkLoginFailure is a wrong password for an existing account: what
// the sign-in throttle's bookkeeping adds to a failed sign-in, beside the
// argon2id comparison every failure pays. "production" hashes with
// db.PasswordParams, as a server does; "cheap" with dbtest.Argon2, so the
// throttle's share stands out. The throttles run on a clock that moves an
// hour at every reading (unthrottle): each failure is recorded, none is
// refused. Run with `go test -run '^$' -bench LoginFailure ./handlers/`.
func BenchmarkLoginFailure(b *testing.B) {
	cases := []struct {
		name   string
		params *argon2id.Params
	}{
		{"production", db.PasswordParams},
		{"cheap", dbtest.Argon2},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			store, _ := dbtest.Open(b, db.Options{Argon2: c.params})
			if _, err := store.CreateUser(context.Background(), "bench@example.com", fuzzPassword, db.RoleMember, db.CLIActor()); err != nil {
				b.Fatal(err)
			}
			h := New(Config{Store: store, Now: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			unthrottle(h)
			e := echo.New()
			e.POST("/login", h.LoginSubmit)
			req := httptest.NewRequest(http.MethodPost, "/login", nil)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			body := []byte(url.Values{"email": {"bench@example.com"}, "password": {"wrong password for sure"}}.Encode())
			serveBench(b, e, req, body, http.StatusUnauthorized)
		})
	}
}
