package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/apiclient"
)

// TestGeneratedClientKeyLifecycle is the "done when" through the
// client generated from the committed document: with a management token,
// create a key, roll it with a one-hour grace (both keys verify), revoke
// the old one (only the new one verifies), and find each step in the audit
// log with the token's id. Every exchange is validated against the served
// document.
func TestGeneratedClientKeyLifecycle(t *testing.T) {
	a := newTestApp(t)
	ops := a.createUser("ops@example.com", db.RoleAdmin)
	c := a.apiClient(a.token(ops, db.PermKeysRead, db.PermKeysWrite, db.PermAdminRead))
	ctx := context.Background()
	idem := func(s string) *string { return &s }

	me, err := c.GetMeWithResponse(ctx)
	if err != nil {
		t.Fatalf("GetMe: %v", err)
	}
	if me.JSON200 == nil {
		t.Fatalf("GetMe: got %d %s, want 200", me.StatusCode(), me.Body)
	}
	tokenID := me.JSON200.Token.Id

	desc, in := "Charges cards at night", "90d"
	created, err := c.CreateKeyWithResponse(ctx, &apiclient.CreateKeyParams{IdempotencyKey: idem("create-1")},
		apiclient.CreateKeyBody{Name: "billing-worker", Description: &desc, ExpiresIn: &in})
	if err != nil || created.JSON201 == nil {
		t.Fatalf("CreateKey: %v %d %s", err, created.StatusCode(), created.Body)
	}
	old := created.JSON201.Key
	if created.JSON201.Secret == "" || old.Status != apiclient.APIKeyStatusActive {
		t.Fatalf("CreateKey: got %+v, want an active key and its secret", created.JSON201)
	}
	if want := a.clock.Now().Add(90 * 24 * time.Hour); old.ExpiresAt == nil || !old.ExpiresAt.Equal(want) {
		t.Errorf("CreateKey expires_at: got %v, want %v", old.ExpiresAt, want)
	}
	// A retry of the same request creates nothing and names the key.
	again, err := c.CreateKeyWithResponse(ctx, &apiclient.CreateKeyParams{IdempotencyKey: idem("create-1")},
		apiclient.CreateKeyBody{Name: "billing-worker", Description: &desc, ExpiresIn: &in})
	if err != nil || again.StatusCode() != http.StatusConflict || again.ApplicationproblemJSON409 == nil ||
		again.ApplicationproblemJSON409.KeyId == nil || *again.ApplicationproblemJSON409.KeyId != old.Id {
		t.Fatalf("CreateKey retried: got %v %d %s, want 409 naming key %d", err, again.StatusCode(), again.Body, old.Id)
	}

	rolled, err := c.RollKeyWithResponse(ctx, old.Id, &apiclient.RollKeyParams{IdempotencyKey: idem("roll-1")},
		apiclient.RollBody{Grace: "1h"})
	if err != nil || rolled.JSON201 == nil {
		t.Fatalf("RollKey: %v %d %s", err, rolled.StatusCode(), rolled.Body)
	}
	successor, previous := rolled.JSON201.Key, rolled.JSON201.Previous
	if previous.Id != old.Id || successor.RolledFrom == nil || *successor.RolledFrom != old.Id {
		t.Errorf("RollKey: got successor %d rolled from %v, previous %d; want both naming %d", successor.Id, successor.RolledFrom, previous.Id, old.Id)
	}
	if want := a.clock.Now().Add(time.Hour); previous.ExpiresAt == nil || !previous.ExpiresAt.Equal(want) {
		t.Errorf("RollKey: the old key expires at %v, want %v (a one-hour grace)", previous.ExpiresAt, want)
	}
	for name, secret := range map[string]string{"old": created.JSON201.Secret, "new": rolled.JSON201.Secret} {
		if got := a.verify(secret, ""); !got.Valid {
			t.Errorf("during the grace, the %s key: got %+v, want valid", name, got)
		}
	}

	reason := "rolled; every service has the new key"
	revoked, err := c.RevokeKeyWithResponse(ctx, old.Id, apiclient.ReasonBody{Reason: &reason})
	if err != nil || revoked.JSON200 == nil || revoked.JSON200.Status != apiclient.APIKeyStatusRevoked {
		t.Fatalf("RevokeKey: %v %d %s", err, revoked.StatusCode(), revoked.Body)
	}
	if got := a.verify(created.JSON201.Secret, ""); got.Valid || got.Code != "REVOKED" {
		t.Errorf("the old key after revoke: got %+v, want invalid REVOKED", got)
	}
	if got := a.verify(rolled.JSON201.Secret, ""); !got.Valid {
		t.Errorf("the new key after revoke: got %+v, want valid", got)
	}

	keyType := "key"
	audit, err := c.ListAuditWithResponse(ctx, &apiclient.ListAuditParams{TokenId: &tokenID, TargetType: &keyType})
	if err != nil || audit.JSON200 == nil || audit.JSON200.Items == nil {
		t.Fatalf("ListAudit: %v %d %s", err, audit.StatusCode(), audit.Body)
	}
	type step struct {
		action string
		key    int64
	}
	seen := map[step]bool{}
	for _, ev := range *audit.JSON200.Items {
		if ev.TokenId == nil || *ev.TokenId != tokenID {
			t.Errorf("audit event %d (%s): got token %v, want %d", ev.Id, ev.Action, ev.TokenId, tokenID)
		}
		if ev.TargetId != nil {
			seen[step{ev.Action, *ev.TargetId}] = true
		}
	}
	for _, want := range []step{{"key.create", old.Id}, {"key.roll", old.Id}, {"key.create", successor.Id}, {"key.revoke", old.Id}} {
		if !seen[want] {
			t.Errorf("audit log with token %d: got %v, want %s of key %d", tokenID, seen, want.action, want.key)
		}
	}
}
