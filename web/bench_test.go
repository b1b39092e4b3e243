package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// The verify API through the whole server: every middleware (request id,
// metrics and log, security headers, recover, body limit), the router and
// the handler, with the production logger level (info, so API requests are
// not logged). The difference from handlers' BenchmarkAPIVerify is what the
// middleware costs. Run with `go test -run '^$' -bench Stack -benchmem ./web/`.

type stackBody struct{ bytes.Reader }

func (*stackBody) Close() error { return nil }

// stackWriter discards the response but keeps its status.
type stackWriter struct {
	h      http.Header
	status int
}

func (w *stackWriter) Header() http.Header         { return w.h }
func (w *stackWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *stackWriter) WriteHeader(s int)           { w.status = s }

func newStackBench(b *testing.B) (http.Handler, string) {
	b.Helper()
	ctx := context.Background()
	store, _ := dbtest.Open(b, db.Options{})
	u, err := store.CreateUser(ctx, "bench@example.com", testPassword, db.RoleMember, db.CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	dbtest.Catalog(b, store, "read")
	_, key, err := store.CreateKey(ctx, u.ID, db.KeyInput{Name: "bench", Scopes: []string{"read"}}, db.CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	v := db.NewVerifier(store, db.VerifierOptions{CacheTTL: time.Hour, Logger: logger})
	srv, err := New(Config{Addr: "127.0.0.1:8080", Logger: logger}, store, v)
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler(), key
}

func runStack(b *testing.B, h http.Handler, req *http.Request, body []byte, want int) {
	b.Helper()
	w := &stackWriter{h: http.Header{}}
	rd := &stackBody{}
	b.ReportAllocs()
	for b.Loop() {
		if body != nil {
			rd.Reset(body)
			req.Body = rd
		}
		clear(w.h)
		w.status = http.StatusOK
		h.ServeHTTP(w, req)
		if w.status != want {
			b.Fatalf("got status %d, want %d", w.status, want)
		}
	}
}

func BenchmarkStackVerify(b *testing.B) {
	h, key := newStackBench(b)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/keys/verify", nil)
	req.Header.Set("Content-Type", "application/json")
	runStack(b, h, req, []byte(`{"key":"`+key+`"}`), http.StatusOK)
}

func BenchmarkStackForwardAuth(b *testing.B) {
	h, key := newStackBench(b)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/auth", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	runStack(b, h, req, nil, http.StatusOK)
}
