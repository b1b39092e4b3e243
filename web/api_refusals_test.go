package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestAPIRefusalsCounted: a revoked key presented to the verify endpoint
// and to forward auth is refused, and after a flush every attempt counts
// on the key, with the latest one's address, user agent and code.
func TestAPIRefusalsCounted(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a := newEngineApp(t, engine)
			ctx := context.Background()
			ann := a.createUser("ann@example.com", db.RoleMember)
			k, secret, err := a.store.CreateKey(ctx, ann.ID, db.KeyInput{Name: "old"}, db.CLIActor())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), k.ID, "", db.CLIActor()); err != nil {
				t.Fatal(err)
			}
			const viaVerify, viaAuth = 7, 5
			for range viaVerify {
				r := a.api(http.MethodPost, "/api/v1/keys/verify", strings.NewReader(`{"key":"`+secret+`"}`),
					http.Header{"Content-Type": {"application/json"}, "User-Agent": {"old-service/1"}})
				if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"code":"REVOKED"`) {
					t.Fatalf("verify: got %d %s, want 200 with REVOKED", r.StatusCode, r.body)
				}
			}
			for range viaAuth {
				r := a.api(http.MethodGet, "/api/v1/auth", nil,
					http.Header{"Authorization": {"Bearer " + secret}, "User-Agent": {"proxy/2"}})
				if r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("forward auth: got %d %s, want 401", r.StatusCode, r.body)
				}
			}
			a.flush()
			got, err := a.store.KeyRefusalTotals(ctx, db.AnyOwner(), k.ID, 7)
			if err != nil {
				t.Fatal(err)
			}
			if n := got.ByCode[db.CodeRevoked]; n != viaVerify+viaAuth || len(got.ByCode) != 1 {
				t.Errorf("refusals per code = %v, want %d REVOKED", got.ByCode, viaVerify+viaAuth)
			}
			if got.LastAt == nil || !got.LastAt.Equal(a.clock.Now()) || got.LastCode != db.CodeRevoked ||
				got.LastUserAgent != "proxy/2" || got.LastIP == "" {
				t.Errorf("last refusal = %v %q from %q by %q, want %v REVOKED by proxy/2", got.LastAt, got.LastCode, got.LastIP, got.LastUserAgent, a.clock.Now())
			}
			usage, err := a.store.KeyUsage(ctx, db.AnyOwner(), k.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if usage[0].Count != 0 {
				t.Errorf("successful uses = %d, want 0", usage[0].Count)
			}
			// The owner sees them; another member does not see the key.
			if _, err := a.store.KeyRefusalTotals(ctx, db.OwnedBy(ann.ID), k.ID, 7); err != nil {
				t.Errorf("owner: %v", err)
			}
			bob := a.createUser("bob@example.com", db.RoleMember)
			if _, err := a.store.KeyRefusalTotals(ctx, db.OwnedBy(bob.ID), k.ID, 7); err == nil {
				t.Error("another member read the key's refusals, want an error")
			}
		})
	}
}
