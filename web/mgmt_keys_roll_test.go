package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
	"github.com/keyward/keyward/db/pgtest"
)

// newEngineApp is newTestApp on engine: "sqlite", or "postgres" (skipped
// unless KEYWARD_TEST_POSTGRES names a server).
func newEngineApp(t *testing.T, engine string, opts ...appOption) *testApp {
	t.Helper()
	if engine == "sqlite" {
		return newTestApp(t, opts...)
	}
	target := pgtest.Database(t)
	clk := newClock()
	store, err := db.Open(context.Background(), target, db.Options{Now: clk.Now, Argon2: dbtest.Argon2})
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	dbtest.Catalog(t, store, testCatalog...)
	return serve(t, clk, store, "", nil, "test-setup-token", opts...)
}

// TestMgmtKeysIdempotentCreateConcurrent: ten concurrent retries of one
// create, on each engine, make exactly one key; the nine others are told
// its id, never a secret.
func TestMgmtKeysIdempotentCreateConcurrent(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a := newEngineApp(t, engine)
			ann := a.createUser("ann@example.com", db.RoleMember)
			api := a.mgmt(a.token(ann))
			api.get("/api/v1/keys") // builds the validator before the race
			const n = 10
			body := map[string]any{"name": "deploy", "scopes": []string{"read"}}
			results := make([]mgmtResponse, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { results[i] = api.call(http.MethodPost, "/api/v1/keys", body, idemHeader("deploy-7")) })
			}
			wg.Wait()
			var created createdJSON
			var replays []int64
			for _, r := range results {
				switch r.StatusCode {
				case http.StatusCreated:
					if created.Key.ID != 0 {
						t.Errorf("a second 201: %s", r.body)
					}
					r.decode(t, &created)
				case http.StatusConflict:
					p := r.wantProblem(t, http.StatusConflict, "IDEMPOTENCY_REPLAY")
					replays = append(replays, p.KeyID)
					if strings.Contains(string(r.body), db.KeyPrefix) {
						t.Errorf("a replay holds a secret: %s", r.body)
					}
				default:
					t.Errorf("got %d, want 201 or 409: %s", r.StatusCode, r.body)
				}
			}
			if created.Key.ID == 0 || len(replays) != n-1 {
				t.Fatalf("got one create %v and %d replays, want 1 and %d", created.Key.ID != 0, len(replays), n-1)
			}
			for _, id := range replays {
				if id != created.Key.ID {
					t.Errorf("replay names key %d, want %d", id, created.Key.ID)
				}
			}
			if got := a.countKeys(); got != 1 {
				t.Errorf("keys in the database: got %d, want 1", got)
			}
			// The same Idempotency-Key with another body is a client bug.
			body["name"] = "other"
			api.call(http.MethodPost, "/api/v1/keys", body, idemHeader("deploy-7")).
				wantProblem(t, http.StatusUnprocessableEntity, "IDEMPOTENCY_MISMATCH")
			// After 24 hours the header names a new request.
			a.clock.Advance(db.IdempotencyWindow)
			if r := api.call(http.MethodPost, "/api/v1/keys", body, idemHeader("deploy-7")); r.StatusCode != http.StatusCreated {
				t.Errorf("after 24h: got %d, want 201: %s", r.StatusCode, r.body)
			}
		})
	}
}

// TestMgmtKeySelfRoll: a service rotates its own key with one call; both
// keys verify until the grace ends, then only the new one; a retry names
// the successor; keys that cannot verify cannot roll.
func TestMgmtKeySelfRoll(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	old, oldSecret := a.storeKey(ann.ID, db.KeyInput{Name: "svc", Scopes: []string{"read"}})
	svc := a.mgmt(oldSecret)

	r := svc.call(http.MethodPost, "/api/v1/keys/self/roll", map[string]string{"grace": "1h"}, idemHeader("week-48"))
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("self-roll: got %d, want 201: %s", r.StatusCode, r.body)
	}
	var rolled createdJSON
	r.decode(t, &rolled)
	if rolled.Previous.ID != old.ID || rolled.Key.Name != "svc" || len(rolled.Key.Scopes) != 1 || !strings.HasPrefix(rolled.Secret, db.KeyPrefix) {
		t.Fatalf("self-roll: got %+v, want svc's successor with its scopes and a secret", rolled)
	}
	for _, k := range []string{oldSecret, rolled.Secret} {
		if v := a.verify(k, "read"); !v.Valid {
			t.Errorf("within the grace: got %+v, want both keys valid", v)
		}
	}
	svc.call(http.MethodPost, "/api/v1/keys/self/roll", map[string]string{"grace": "1h"}, idemHeader("week-48")).
		wantProblem(t, http.StatusConflict, "IDEMPOTENCY_REPLAY")
	svc.call(http.MethodPost, "/api/v1/keys/self/roll", map[string]string{"grace": "0s"}, idemHeader("week-48")).
		wantProblem(t, http.StatusUnprocessableEntity, "IDEMPOTENCY_MISMATCH")
	if p := svc.post("/api/v1/keys/self/roll", map[string]string{"grace": "1h"}).wantProblem(t, http.StatusConflict, "CONFLICT"); p.KeyID != rolled.Key.ID {
		t.Errorf("a second roll without the header: key_id %d, want the successor %d", p.KeyID, rolled.Key.ID)
	}

	a.clock.Advance(59 * time.Minute)
	if v := a.verify(oldSecret, ""); !v.Valid {
		t.Errorf("59 minutes in: old key %+v, want valid", v)
	}
	a.clock.Advance(time.Minute)
	if v := a.verify(oldSecret, ""); v.Valid || v.Code != "EXPIRED" {
		t.Errorf("after the grace: old key %+v, want EXPIRED", v)
	}
	if v := a.verify(rolled.Secret, ""); !v.Valid {
		t.Errorf("after the grace: new key %+v, want valid", v)
	}
	svc.post("/api/v1/keys/self/roll", map[string]string{"grace": "1h"}).wantProblem(t, http.StatusUnauthorized, "KEY_EXPIRED")

	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{TargetType: "key", TargetID: old.ID, Action: db.ActionKeyRoll})
	if err != nil || len(events) != 1 || events[0].Actor != "key #"+itoa(old.ID)+" (svc)" {
		t.Errorf("roll events of the old key: %+v (%v), want one by the key itself", events, err)
	}

	revoked, revokedSecret := a.storeKey(ann.ID, db.KeyInput{Name: "gone"})
	if _, err := a.store.RevokeKey(context.Background(), db.AnyOwner(), revoked.ID, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	_, fresh := a.storeKey(ann.ID, db.KeyInput{Name: "fresh"})
	unknown, _ := db.GenerateKey()
	tests := []struct {
		name   string
		auth   string
		body   any
		status int
		code   string
	}{
		{"no key", "", map[string]string{"grace": "1h"}, 401, "MISSING_KEY"},
		{"a management token", "Bearer " + a.token(ann), map[string]string{"grace": "1h"}, 401, "TOKEN_NOT_ACCEPTED"},
		{"a key never issued", "Bearer " + unknown, map[string]string{"grace": "1h"}, 401, "INVALID_KEY"},
		{"a revoked key", "Bearer " + revokedSecret, map[string]string{"grace": "1h"}, 401, "KEY_REVOKED"},
		{"a grace over a week", "Bearer " + fresh, map[string]string{"grace": "169h"}, 400, "INVALID"},
		{"no grace", "Bearer " + fresh, map[string]string{}, 422, "VALIDATION_FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.auth != "" {
				hdr.Set("Authorization", tt.auth)
			}
			before := a.countKeys()
			a.mgmt("").call(http.MethodPost, "/api/v1/keys/self/roll", tt.body, hdr).wantProblem(t, tt.status, tt.code)
			if after := a.countKeys(); after != before {
				t.Errorf("keys: %d before, %d after", before, after)
			}
		})
	}
}

// TestIdempotencyRecordsPruned: the hourly jobs remove Idempotency-Key
// records once their 24 hours are over.
func TestIdempotencyRecordsPruned(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	api := a.mgmt(a.token(ann))
	if r := api.call(http.MethodPost, "/api/v1/keys", map[string]string{"name": "x"}, idemHeader("once")); r.StatusCode != http.StatusCreated {
		t.Fatalf("create: got %d: %s", r.StatusCode, r.body)
	}
	a.clock.Advance(db.IdempotencyWindow + time.Minute)
	a.server.runJobsOnce(context.Background())
	if n, err := a.store.PruneIdempotency(context.Background()); err != nil || n != 0 {
		t.Errorf("records left after the jobs ran: %d (%v), want 0", n, err)
	}
}
