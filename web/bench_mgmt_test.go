package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
	"github.com/keyward/keyward/db/pgtest"
)

// BenchmarkMgmtKeysListPage is one page of GET /api/v1/keys?limit=100 for a
// person with 10,000 keys, through the whole server (token authentication
// included), each iteration the next page of a walk that follows
// next_cursor and starts over after the last page: ns/op is the cost of a
// page. The target is 50 ms a page; make bench measures the same
// walk over HTTP on the large installation (bench/run, "API list page of
// 100"). PostgreSQL runs when KEYWARD_TEST_POSTGRES names a server.
// Run with `go test -run '^$' -bench MgmtKeysListPage -benchtime 3x ./web/`.
func BenchmarkMgmtKeysListPage(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		store, _ := dbtest.Open(b, db.Options{})
		benchListPages(b, store)
	})
	b.Run("postgres", func(b *testing.B) {
		store, err := db.Open(context.Background(), pgtest.Database(b), db.Options{Argon2: dbtest.Argon2})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = store.Close() })
		benchListPages(b, store)
	})
}

const benchListKeys = 10_000

func benchListPages(b *testing.B, store *db.Store) {
	ctx := context.Background()
	u, err := store.CreateUser(ctx, "heavy@example.com", testPassword, db.RoleMember, db.CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchListKeys {
		if _, _, err := store.CreateKey(ctx, u.ID, db.KeyInput{Name: "key " + strconv.Itoa(i)}, db.CLIActor()); err != nil {
			b.Fatal(err)
		}
	}
	exp := time.Now().Add(24 * time.Hour)
	_, token, err := store.CreateAPIToken(ctx, u.ID, db.APITokenInput{Name: "bench",
		Permissions: []db.Permission{db.PermKeysRead}, ExpiresAt: &exp}, db.CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	v := db.NewVerifier(store, db.VerifierOptions{Logger: logger})
	srv, err := New(Config{Addr: "127.0.0.1:8080", Logger: logger}, store, v)
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	var page struct {
		Items      []json.RawMessage `json:"items"`
		NextCursor *string           `json:"next_cursor"`
	}
	next, pages, keys := "", 0, 0
	b.ReportAllocs()
	for b.Loop() {
		path := "/api/v1/keys?limit=100"
		if next != "" {
			path += "&cursor=" + url.QueryEscape(next)
		}
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s: got %d: %s", path, w.Code, w.Body.String())
		}
		page.NextCursor = nil
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			b.Fatal(err)
		}
		pages++
		keys += len(page.Items)
		next = ""
		if page.NextCursor != nil {
			next = *page.NextCursor
		}
	}
	if keys != pages*100 && next != "" {
		b.Fatalf("%d keys in %d pages, want 100 a page", keys, pages)
	}
}
