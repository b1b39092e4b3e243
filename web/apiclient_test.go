package web

import (
	"context"
	"net/http"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestGeneratedClientMe: the client generated from the committed document
// talks to the server and decodes both an answer and a problem.
func TestGeneratedClientMe(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	ctx := context.Background()

	me, err := a.apiClient(a.token(ann, db.PermKeysRead)).GetMeWithResponse(ctx)
	if err != nil {
		t.Fatalf("GetMe: %v", err)
	}
	if me.StatusCode() != http.StatusOK || me.JSON200 == nil {
		t.Fatalf("GetMe: got %d %s, want 200 with a body", me.StatusCode(), me.Body)
	}
	if got := me.JSON200.User.Email; got != "ann@example.com" {
		t.Errorf("GetMe user: got %q, want ann@example.com", got)
	}

	bad, err := a.apiClient("kwt_nope").GetMeWithResponse(ctx)
	if err != nil {
		t.Fatalf("GetMe with a bad token: %v", err)
	}
	if bad.ApplicationproblemJSON401 == nil || bad.ApplicationproblemJSON401.Code != "INVALID_TOKEN" {
		t.Errorf("GetMe with a bad token: got %d %s, want a 401 problem INVALID_TOKEN", bad.StatusCode(), bad.Body)
	}
}
