package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// tokenItem is one entry of GET /api/v1/tokens.
type tokenItem struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Hint        string   `json:"hint"`
	Permissions []string `json:"permissions"`
	Status      string   `json:"status"`
	LastUsedIP  string   `json:"last_used_ip"`
	RevokedAt   *string  `json:"revoked_at"`
}

type tokenPage struct {
	Items      []tokenItem `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

// namedToken makes a token called name for u, returning its id and secret.
func (a *testApp) namedToken(u db.User, name string, perms ...db.Permission) (int64, string) {
	a.t.Helper()
	if len(perms) == 0 {
		perms = db.RolePermissions(u.Role)
	}
	exp := a.clock.Now().AddDate(0, 0, 30)
	tok, secret, err := a.store.CreateAPIToken(context.Background(), u.ID,
		db.APITokenInput{Name: name, Permissions: perms, ExpiresAt: &exp}, db.CLIActor())
	if err != nil {
		a.t.Fatalf("create token %q: %v", name, err)
	}
	return tok.ID, secret
}

func TestMgmtTokensList(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	a.namedToken(bob, "bob's")
	var ids []int64
	for i := range 5 {
		id, _ := a.namedToken(ann, fmt.Sprintf("t%d", i), db.PermKeysRead)
		ids = append(ids, id)
	}
	_, tok := a.namedToken(ann, "caller", db.PermKeysWrite)
	if _, err := a.store.RevokeAPIToken(context.Background(), ann.ID, ids[0], db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	c := a.mgmt(tok)

	var names []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		path := "/api/v1/tokens?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := c.get(path)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: got %d, want 200: %s", path, r.StatusCode, r.body)
		}
		var p tokenPage
		r.decode(t, &p)
		for _, it := range p.Items {
			names = append(names, it.Name)
			if !strings.HasPrefix(it.Hint, "kwt_…") || len(it.Hint) != len("kwt_…")+4 {
				t.Errorf("hint %q: want kwt_…XXXX", it.Hint)
			}
			wantStatus := "active"
			if it.ID == ids[0] {
				wantStatus = "revoked"
			}
			if it.Status != wantStatus {
				t.Errorf("%s: status got %q, want %q", it.Name, it.Status, wantStatus)
			}
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if got, want := strings.Join(names, ","), "caller,t4,t3,t2,t1,t0"; got != want {
		t.Errorf("tokens listed: got %s, want %s (newest first, only ann's)", got, want)
	}

	c.get("/api/v1/tokens?cursor=bogus").wantProblem(t, http.StatusBadRequest, "INVALID_CURSOR")
	c.get("/api/v1/tokens?limit=0").wantProblem(t, http.StatusUnprocessableEntity, "VALIDATION_FAILED")
	c.get("/api/v1/tokens?limit=101").wantProblem(t, http.StatusUnprocessableEntity, "VALIDATION_FAILED")
	c.get("/api/v1/tokens?colour=red").wantProblem(t, http.StatusUnprocessableEntity, "VALIDATION_FAILED")
}

// TestMgmtTokensListCutToRole: a demoted person's tokens list what they
// may still do, not what they were given.
func TestMgmtTokensListCutToRole(t *testing.T) {
	a := newTestApp(t)
	root := a.createUser("root@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleAdmin)
	_, tok := a.namedToken(ann, "all")
	if err := a.store.SetUserRole(context.Background(), ann.ID, db.RoleMember, db.Actor{UserID: root.ID, Label: root.Email}); err != nil {
		t.Fatal(err)
	}
	var p tokenPage
	a.mgmt(tok).get("/api/v1/tokens").decode(t, &p)
	if len(p.Items) != 1 || strings.Join(p.Items[0].Permissions, ",") != "keys:read,keys:write" {
		t.Errorf("got %+v, want one token with keys:read,keys:write", p.Items)
	}
}

func TestMgmtTokenRevoke(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	root := a.createUser("root@example.com", db.RoleAdmin)
	annOther, _ := a.namedToken(ann, "other")
	_, annTok := a.namedToken(ann, "caller", db.PermKeysRead)
	bobID, bobTok := a.namedToken(bob, "bob's")
	_, rootTok := a.namedToken(root, "root")
	_, rootReader := a.namedToken(root, "root reader", db.PermAdminRead)

	tests := []struct {
		name   string
		tok    string
		id     int64
		status int
		code   string
	}{
		{"own token", annTok, annOther, http.StatusOK, ""},
		{"again", annTok, annOther, http.StatusConflict, "CONFLICT"},
		{"another person's", annTok, bobID, http.StatusNotFound, "NOT_FOUND"},
		{"unknown", annTok, 999_999, http.StatusNotFound, "NOT_FOUND"},
		{"admin:read is not enough for another's", rootReader, bobID, http.StatusNotFound, "NOT_FOUND"},
		{"admin:write revokes anyone's", rootTok, bobID, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.mgmt(tt.tok).post(fmt.Sprintf("/api/v1/tokens/%d/revoke", tt.id), nil)
			if tt.status != http.StatusOK {
				r.wantProblem(t, tt.status, tt.code)
				return
			}
			if r.StatusCode != http.StatusOK {
				t.Fatalf("got %d, want 200: %s", r.StatusCode, r.body)
			}
			var it tokenItem
			r.decode(t, &it)
			if it.ID != tt.id || it.Status != "revoked" || it.RevokedAt == nil {
				t.Errorf("got %+v, want token %d revoked", it, tt.id)
			}
		})
	}
	// Bob's token stopped working, and the revocation names the token it
	// was made with.
	a.mgmt(bobTok).get("/api/v1/me").wantProblem(t, http.StatusUnauthorized, "TOKEN_REVOKED")
	ev, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionTokenRevoke})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 2 || ev[0].TokenID == 0 || ev[0].Actor != root.Email || ev[0].Target != bob.Email {
		t.Errorf("audit: got %+v, want 2 token.revoke events, the last by root's token on bob", ev)
	}
	// A token may revoke itself; the next call is refused.
	r := a.mgmt(annTok).get("/api/v1/tokens")
	var p tokenPage
	r.decode(t, &p)
	a.mgmt(annTok).post(fmt.Sprintf("/api/v1/tokens/%d/revoke", p.Items[0].ID), nil)
	a.mgmt(annTok).get("/api/v1/tokens").wantProblem(t, http.StatusUnauthorized, "TOKEN_REVOKED")
}

// TestMgmtTokenCreateRefused: no operation creates a token, so a stolen
// token cannot mint a fresh one.
func TestMgmtTokenCreateRefused(t *testing.T) {
	a := newTestApp(t)
	root := a.createUser("root@example.com", db.RoleAdmin)
	tok := a.token(root)
	r := a.api(http.MethodPost, "/api/v1/tokens", strings.NewReader(`{"name":"x","permissions":["keys:read"]}`),
		http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}})
	if r.StatusCode != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("POST /api/v1/tokens: got %d %q, want 404 problem+json", r.StatusCode, r.Header.Get("Content-Type"))
	}
	list, err := a.store.ListAPITokens(context.Background(), root.ID)
	if err != nil || len(list) != 1 {
		t.Errorf("tokens after the refused create: got %d (%v), want 1", len(list), err)
	}
	if doc := string(a.openAPIDoc()); strings.Contains(doc, `"create-token"`) {
		t.Error("the OpenAPI document has a create-token operation")
	}
}
