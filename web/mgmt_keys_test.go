package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

// apiKeyJSON is the APIKey object as a client reads it.
type apiKeyJSON struct {
	ID            int64
	Name          string
	Description   string
	Owner         string
	OwnerType     string `json:"owner_type"`
	Team          *string
	Hint          string
	Scopes        []string
	PendingScopes []string `json:"pending_scopes"`
	AllowedIPs    []string `json:"allowed_ips"`
	Meta          map[string]any
	Status        string
	ExpiresAt     *time.Time `json:"expires_at"`
	RevokeReason  string     `json:"revoke_reason"`
	RolledFrom    *int64     `json:"rolled_from"`
}

type createdJSON struct {
	Key      apiKeyJSON
	Secret   string
	Previous apiKeyJSON
}

// idemHeader is an Idempotency-Key header.
func idemHeader(k string) http.Header { return http.Header{"Idempotency-Key": {k}} }

// TestMgmtKeysLifecycle: a script with a management token creates a key,
// reads, edits, disables, enables and rolls it with a one-hour grace,
// then revokes the old one; every step is in the audit log with the
// token's id, and the secret only ever in the create and roll answers.
func TestMgmtKeysLifecycle(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	api := a.mgmt(a.token(ann, db.PermKeysRead, db.PermKeysWrite))
	tokens, err := a.store.ListAPITokens(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}

	r := api.call(http.MethodPost, "/api/v1/keys", map[string]any{
		"name": "billing", "description": "nightly export", "scopes": []string{"read:invoices"},
		"expires_in": "30d", "allowed_ips": []string{"203.0.113.0/24"}, "meta": map[string]any{"tenant": "acme"},
	}, idemHeader("create-billing-1"))
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: got %d, want 201: %s", r.StatusCode, r.body)
	}
	var created createdJSON
	r.decode(t, &created)
	k := created.Key
	wantExp := a.clock.Now().Add(30 * 24 * time.Hour)
	if !strings.HasPrefix(created.Secret, db.KeyPrefix) || k.Name != "billing" || k.Owner != "ann@example.com" ||
		k.OwnerType != "user" || k.Team != nil || k.Status != "active" || k.ExpiresAt == nil || !k.ExpiresAt.Equal(wantExp) ||
		!slices.Equal(k.AllowedIPs, []string{"203.0.113.0/24"}) || k.Meta["tenant"] != "acme" || !slices.Equal(k.Scopes, []string{"read:invoices"}) {
		t.Errorf("created: got %+v, want billing of ann, active, expiring %v, limits and scope kept", k, wantExp)
	}
	if got := a.verifyFrom("", created.Secret, ""); got.Valid {
		t.Errorf("verify from 127.0.0.1 with an allowlist of 203.0.113.0/24: got valid, want refused")
	}

	var got apiKeyJSON
	api.get(fmt.Sprintf("/api/v1/keys/%d", k.ID)).decode(t, &got)
	if got.ID != k.ID || got.Hint != k.Hint {
		t.Errorf("get: got %+v, want key %d", got, k.ID)
	}

	r = api.call(http.MethodPatch, fmt.Sprintf("/api/v1/keys/%d", k.ID), map[string]any{
		"name": "billing v2", "allowed_ips": []string{}, "expires_at": nil, "scopes": []string{"read:invoices", "write:invoices"},
	}, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("patch: got %d: %s", r.StatusCode, r.body)
	}
	r.decode(t, &got)
	if got.Name != "billing v2" || len(got.AllowedIPs) != 0 || got.ExpiresAt != nil || len(got.Scopes) != 2 || got.Meta["tenant"] != "acme" {
		t.Errorf("patched: got %+v, want renamed, anywhere, never expiring, two scopes, meta kept", got)
	}
	if v := a.verify(created.Secret, "write:invoices"); !v.Valid {
		t.Errorf("verify after the patch: got %+v, want valid", v)
	}

	for _, step := range []struct{ path, status string }{{"disable", "disabled"}, {"enable", "active"}} {
		r = api.post(fmt.Sprintf("/api/v1/keys/%d/%s", k.ID, step.path), nil)
		r.decode(t, &got)
		if r.StatusCode != http.StatusOK || got.Status != step.status {
			t.Errorf("%s: got %d %q, want 200 %q", step.path, r.StatusCode, got.Status, step.status)
		}
	}

	r = api.call(http.MethodPost, fmt.Sprintf("/api/v1/keys/%d/roll", k.ID), map[string]string{"grace": "1h"}, idemHeader("roll-1"))
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("roll: got %d: %s", r.StatusCode, r.body)
	}
	var rolled createdJSON
	r.decode(t, &rolled)
	if rolled.Previous.ID != k.ID || rolled.Key.RolledFrom == nil || *rolled.Key.RolledFrom != k.ID ||
		rolled.Previous.ExpiresAt == nil || !rolled.Previous.ExpiresAt.Equal(a.clock.Now().Add(time.Hour)) {
		t.Errorf("roll: got new %+v previous %+v, want the old key expiring in an hour", rolled.Key, rolled.Previous)
	}
	// A retry names the successor and rolls nothing.
	r = api.call(http.MethodPost, fmt.Sprintf("/api/v1/keys/%d/roll", k.ID), map[string]string{"grace": "1h"}, idemHeader("roll-1"))
	if p := r.wantProblem(t, http.StatusConflict, "IDEMPOTENCY_REPLAY"); p.KeyID != rolled.Key.ID || strings.Contains(string(r.body), "kw_") {
		t.Errorf("roll retry: key_id %d, want %d, and no secret: %s", p.KeyID, rolled.Key.ID, r.body)
	}

	r = api.post(fmt.Sprintf("/api/v1/keys/%d/revoke", k.ID), map[string]string{"reason": "rolled"})
	r.decode(t, &got)
	if r.StatusCode != http.StatusOK || got.Status != "revoked" || got.RevokeReason != "rolled" {
		t.Errorf("revoke: got %d %+v, want 200 revoked with the reason", r.StatusCode, got)
	}
	if v := a.verify(created.Secret, ""); v.Valid || v.Code != "REVOKED" {
		t.Errorf("old key after revoke: got %+v, want REVOKED", v)
	}
	if v := a.verify(rolled.Secret, ""); !v.Valid {
		t.Errorf("new key: got %+v, want valid", v)
	}
	api.post(fmt.Sprintf("/api/v1/keys/%d/revoke", k.ID), nil).wantProblem(t, http.StatusConflict, "CONFLICT")

	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{TokenID: tokens[0].ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
		for _, v := range e.Detail {
			if strings.Contains(v, created.Secret) || strings.Contains(v, rolled.Secret) {
				t.Errorf("audit event %s holds a secret", e.Action)
			}
		}
	}
	for _, want := range []string{db.ActionKeyCreate, db.ActionKeyUpdate, db.ActionKeyScopes, db.ActionKeyLimits,
		db.ActionKeyDisable, db.ActionKeyEnable, db.ActionKeyRoll, db.ActionKeyRevoke} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit events of the token: got %v, want one %s", actions, want)
		}
	}
}

// TestMgmtKeysAccess: the authorization table of the key routes: whose
// key (own, another person's, with an admin's token) and which permission.
func TestMgmtKeysAccess(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	root := a.createUser("root@example.com", db.RoleAdmin)
	own, _ := a.storeKey(ann.ID, db.KeyInput{Name: "ann's"})
	other, _ := a.storeKey(bob.ID, db.KeyInput{Name: "bob's"})
	annRW := a.mgmt(a.token(ann, db.PermKeysRead, db.PermKeysWrite))
	annRead := a.mgmt(a.token(ann, db.PermKeysRead))
	admin := a.mgmt(a.token(root))
	adminRead := a.mgmt(a.token(root, db.PermKeysRead, db.PermKeysWrite, db.PermAdminRead))

	type req struct {
		method, path string
		body         any
	}
	routes := func(id int64) []req {
		p := fmt.Sprintf("/api/v1/keys/%d", id)
		return []req{
			{http.MethodGet, p, nil},
			{http.MethodGet, p + "/usage", nil},
			{http.MethodPatch, p, map[string]string{"description": "x"}},
			{http.MethodPost, p + "/disable", nil},
			{http.MethodPost, p + "/roll", map[string]string{"grace": "0s"}},
			{http.MethodPost, p + "/revoke", nil},
		}
	}
	tests := []struct {
		name   string
		client *mgmtClient
		key    int64
		// want is the status of each route, in routes' order.
		want []int
		code string
	}{
		{"another person's key is not found", annRW, other.ID, []int{404, 404, 404, 404, 404, 404}, "NOT_FOUND"},
		{"an unknown id is not found", annRW, 999999, []int{404, 404, 404, 404, 404, 404}, "NOT_FOUND"},
		{"keys:read cannot write", annRead, own.ID, []int{200, 200, 403, 403, 403, 403}, "MISSING_PERMISSION"},
		{"admin:read reads any key, writes none", adminRead, other.ID, []int{200, 200, 404, 404, 403, 404}, ""},
		{"admin:write changes any key but never rolls it", admin, other.ID, []int{200, 200, 200, 200, 403, 200}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, rq := range routes(tt.key) {
				r := tt.client.call(rq.method, rq.path, rq.body, nil)
				if r.StatusCode != tt.want[i] {
					t.Errorf("%s %s: got %d, want %d: %s", rq.method, rq.path, r.StatusCode, tt.want[i], truncate(string(r.body), 200))
					continue
				}
				if r.StatusCode >= 400 && tt.code != "" {
					if p := r.problem(t); p.Code != tt.code {
						t.Errorf("%s %s: code %q, want %q", rq.method, rq.path, p.Code, tt.code)
					}
				}
			}
		})
	}
	if k := a.getKey(other.ID); k.RevokedAt == nil || k.Description != "x" {
		t.Errorf("bob's key after the admin's changes: %+v, want described and revoked (by admin:write only)", k)
	}
	annRead.post("/api/v1/keys", map[string]string{"name": "x"}).wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
	annRW.get("/api/v1/admin/keys").wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
	r := admin.post(fmt.Sprintf("/api/v1/keys/%d/roll", own.ID), map[string]string{"grace": "0s"})
	r.wantProblem(t, http.StatusForbidden, "OWNER_ONLY")
}

// TestMgmtKeysBadInput: refused input answers a problem with its status
// and code, and writes nothing.
func TestMgmtKeysBadInput(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	k, _ := a.storeKey(ann.ID, db.KeyInput{Name: "svc"})
	api := a.mgmt(a.token(ann))
	keyPath := fmt.Sprintf("/api/v1/keys/%d", k.ID)
	tests := []struct {
		name         string
		method, path string
		body         any
		hdr          http.Header
		status       int
		code         string
		location     string
	}{
		{"unknown field", http.MethodPost, "/api/v1/keys", `{"name":"x","owner":"bob@example.com"}`, nil, 422, "VALIDATION_FAILED", "body.owner"},
		{"unknown field in a patch", http.MethodPatch, keyPath, `{"nmae":"x"}`, nil, 422, "VALIDATION_FAILED", "body.nmae"},
		{"name of the wrong type", http.MethodPost, "/api/v1/keys", `{"name":7}`, nil, 422, "VALIDATION_FAILED", "body.name"},
		{"scopes not a list", http.MethodPost, "/api/v1/keys", `{"name":"x","scopes":"read"}`, nil, 422, "VALIDATION_FAILED", "body.scopes"},
		{"missing name", http.MethodPost, "/api/v1/keys", `{}`, nil, 422, "VALIDATION_FAILED", "body"},
		{"blank name", http.MethodPost, "/api/v1/keys", `{"name":"  "}`, nil, 400, "INVALID", "body.name"},
		{"name too long", http.MethodPost, "/api/v1/keys", map[string]string{"name": strings.Repeat("n", 101)}, nil, 422, "VALIDATION_FAILED", "body.name"},
		{"expiry in the past", http.MethodPost, "/api/v1/keys", map[string]string{"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, nil, 400, "INVALID", "body.expires_at"},
		{"expiry not a time", http.MethodPost, "/api/v1/keys", map[string]string{"name": "x", "expires_at": "tomorrow"}, nil, 422, "VALIDATION_FAILED", "body.expires_at"},
		{"both expiries", http.MethodPost, "/api/v1/keys", map[string]string{"name": "x", "expires_at": "2030-01-01T00:00:00Z", "expires_in": "30d"}, nil, 400, "INVALID", "body.expires_in"},
		{"expires_in garbage", http.MethodPost, "/api/v1/keys", map[string]string{"name": "x", "expires_in": "soon"}, nil, 400, "INVALID", "body.expires_in"},
		{"scope outside the catalog", http.MethodPost, "/api/v1/keys", map[string]any{"name": "x", "scopes": []string{"nope"}}, nil, 400, "INVALID", "body.scopes"},
		{"bad network", http.MethodPost, "/api/v1/keys", map[string]any{"name": "x", "allowed_ips": []string{"10.0.0.0/33"}}, nil, 400, "INVALID", "body.allowed_ips"},
		{"meta not an object", http.MethodPost, "/api/v1/keys", `{"name":"x","meta":[1]}`, nil, 422, "VALIDATION_FAILED", "body.meta"},
		{"unknown team", http.MethodPost, "/api/v1/keys", map[string]string{"name": "x", "team": "ghosts"}, nil, 400, "INVALID", "body.team"},
		{"empty Idempotency-Key", http.MethodPost, "/api/v1/keys", map[string]string{"name": "x"}, http.Header{"Idempotency-Key": {""}}, 201, "", ""},
		{"Idempotency-Key too long", http.MethodPost, "/api/v1/keys", map[string]string{"name": "x"}, idemHeader(strings.Repeat("k", 256)), 400, "INVALID_IDEMPOTENCY_KEY", ""},
		{"Idempotency-Key not ASCII", http.MethodPost, "/api/v1/keys", map[string]string{"name": "x"}, idemHeader("clé"), 400, "INVALID_IDEMPOTENCY_KEY", ""},
		{"limit 0", http.MethodGet, "/api/v1/keys?limit=0", nil, nil, 422, "VALIDATION_FAILED", "query.limit"},
		{"limit 101", http.MethodGet, "/api/v1/keys?limit=101", nil, nil, 422, "VALIDATION_FAILED", "query.limit"},
		{"limit not a number", http.MethodGet, "/api/v1/keys?limit=ten", nil, nil, 422, "VALIDATION_FAILED", "query.limit"},
		{"unknown status", http.MethodGet, "/api/v1/keys?status=lost", nil, nil, 422, "VALIDATION_FAILED", "query.status"},
		{"unknown sort", http.MethodGet, "/api/v1/keys?sort=name", nil, nil, 422, "VALIDATION_FAILED", "query.sort"},
		{"unknown filter", http.MethodGet, "/api/v1/keys?colour=red", nil, nil, 422, "VALIDATION_FAILED", ""},
		{"expiring_within garbage", http.MethodGet, "/api/v1/keys?expiring_within=week", nil, nil, 422, "VALIDATION_FAILED", "query.expiring_within"},
		{"bad cursor", http.MethodGet, "/api/v1/keys?cursor=bm9wZQ", nil, nil, 400, "INVALID_CURSOR", ""},
		{"usage days out of range", http.MethodGet, keyPath + "/usage?days=367", nil, nil, 422, "VALIDATION_FAILED", "query.days"},
		{"id not a number", http.MethodGet, "/api/v1/keys/abc", nil, nil, 422, "VALIDATION_FAILED", "path.id"},
		{"grace over a week", http.MethodPost, keyPath + "/roll", map[string]string{"grace": "8d"}, nil, 400, "INVALID", "body.grace"},
		{"grace garbage", http.MethodPost, keyPath + "/roll", map[string]string{"grace": "-1h"}, nil, 400, "INVALID", "body.grace"},
		{"reason too long", http.MethodPost, keyPath + "/revoke", map[string]string{"reason": strings.Repeat("r", 501)}, nil, 422, "VALIDATION_FAILED", "body.reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.countKeys()
			r := api.call(tt.method, tt.path, tt.body, tt.hdr)
			if tt.status == http.StatusCreated {
				if r.StatusCode != tt.status {
					t.Fatalf("got %d, want %d: %s", r.StatusCode, tt.status, r.body)
				}
				return
			}
			p := r.wantProblem(t, tt.status, tt.code)
			if tt.location != "" && !slices.ContainsFunc(p.Errors, func(f handlers.ProblemField) bool { return f.Location == tt.location }) {
				t.Errorf("errors: got %+v, want one at %s", p.Errors, tt.location)
			}
			if after := a.countKeys(); after != before {
				t.Errorf("keys: %d before, %d after: a refused request wrote", before, after)
			}
		})
	}
	if got := a.getKey(k.ID); got.Name != "svc" || got.RevokedAt != nil || got.ExpiresAt != nil {
		t.Errorf("the key after refused changes: %+v, want unchanged", got)
	}
}

// TestMgmtKeysPatchIsAtomic: a patch whose one part is refused changes
// none of the others.
func TestMgmtKeysPatchIsAtomic(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	exp := a.clock.Now().Add(10 * 24 * time.Hour)
	k, _ := a.storeKey(ann.ID, db.KeyInput{Name: "svc", ExpiresAt: &exp})
	api := a.mgmt(a.token(ann))
	if err := a.store.SetPolicy(context.Background(), db.Policy{MaxKeyLifetime: 30 * 24 * time.Hour,
		StaleAfter: 90 * 24 * time.Hour, NeverUsedAfter: 30 * 24 * time.Hour}, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	r := api.call(http.MethodPatch, fmt.Sprintf("/api/v1/keys/%d", k.ID), map[string]any{
		"name": "renamed", "scopes": []string{"read"}, "expires_at": a.clock.Now().Add(400 * 24 * time.Hour),
	}, nil)
	r.wantProblem(t, http.StatusBadRequest, "INVALID")
	if got := a.getKey(k.ID); got.Name != "svc" || len(got.Scopes) != 0 || !got.ExpiresAt.Equal(exp) {
		t.Errorf("after a refused patch: name %q scopes %v expiry %v, want unchanged", got.Name, got.Scopes, got.ExpiresAt)
	}
}
