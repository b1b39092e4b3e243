package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

// What the authorization table (mgmt_authz_test.go) and the bad-input
// table (mgmt_badinput_test.go) share: the operations read from the served
// OpenAPI document, the people and their tokens, and a picture of every
// table an operation could write.

// servedOp is one operation of the served OpenAPI document.
type servedOp struct {
	ID, Method, Path string
	// Perm is the permission the operation's security requirement names
	// ("" when any management token will do).
	Perm db.Permission
	// Schemes are the security schemes it accepts (token, key).
	Schemes []string
	// PathParams are the names of its path parameters.
	PathParams []string
}

// servedOperations reads every operation of the document the server
// serves, sorted by path and method, so a test built on it covers an
// operation the day it is added.
func servedOperations(t *testing.T, a *testApp) []servedOp {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(a.openAPIDoc(), &doc); err != nil {
		t.Fatalf("decode the served OpenAPI document: %v", err)
	}
	var ops []servedOp
	for path, item := range doc.Paths {
		for method, raw := range item {
			switch strings.ToUpper(method) {
			case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			default:
				continue // path-level parameters, summary …
			}
			var o struct {
				OperationID string                `json:"operationId"`
				Security    []map[string][]string `json:"security"`
				Parameters  []struct{ Name, In string }
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("decode %s %s: %v", method, path, err)
			}
			op := servedOp{ID: o.OperationID, Method: strings.ToUpper(method), Path: path}
			for _, req := range o.Security {
				for scheme, perms := range req {
					op.Schemes = append(op.Schemes, scheme)
					if scheme == handlers.SchemeToken && len(perms) > 0 {
						op.Perm = db.Permission(perms[0])
					}
				}
			}
			sort.Strings(op.Schemes)
			for _, p := range o.Parameters {
				if p.In == "path" {
					op.PathParams = append(op.PathParams, p.Name)
				}
			}
			ops = append(ops, op)
		}
	}
	slices.SortFunc(ops, func(x, y servedOp) int {
		return strings.Compare(x.Path+" "+x.Method, y.Path+" "+y.Method)
	})
	return ops
}

// accepts reports whether op takes credentials of scheme.
func (op servedOp) accepts(scheme string) bool { return slices.Contains(op.Schemes, scheme) }

// authzFixture is an app with four people: an admin, an auditor, and two
// members, ann (the caller whose own objects are "own") and bob (whose
// objects are "another person's").
type authzFixture struct {
	a                        *testApp
	admin, auditor, ann, bob db.User
	annKey                   string // a live kw_ key of ann's
	state                    func() string
	seq                      int
}

func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	a := newTestApp(t)
	f := &authzFixture{a: a,
		admin:   a.createUser("admin@example.com", db.RoleAdmin),
		auditor: a.createUser("auditor@example.com", db.RoleAuditor),
		ann:     a.createUser("ann@example.com", db.RoleMember),
		bob:     a.createUser("bob@example.com", db.RoleMember),
	}
	_, f.annKey = a.storeKey(f.ann.ID, db.KeyInput{Name: "ann-service"})
	d := attackDB(t, a)
	f.state = func() string { return mgmtState(t, d) }
	return f
}

// shareValidator lets f's app use the validator of from's document,
// after checking that the two apps serve the same document but for their
// own address: building a validator costs seconds, and the table builds an
// app per operation.
func (f *authzFixture) shareValidator(t *testing.T, from *testApp) {
	t.Helper()
	v := from.openAPIValidator()
	mine := strings.ReplaceAll(string(f.a.openAPIDoc()), f.a.http.URL, "BASE")
	theirs := strings.ReplaceAll(string(from.openAPIDoc()), from.http.URL, "BASE")
	if mine != theirs {
		t.Fatalf("two apps of one test serve different OpenAPI documents")
	}
	openAPIValidators.Store(f.a, v)
	t.Cleanup(func() { openAPIValidators.Delete(f.a) })
}

// user returns the fixture's person of role r (ann for members).
func (f *authzFixture) user(r db.Role) db.User {
	switch r {
	case db.RoleAdmin:
		return f.admin
	case db.RoleAuditor:
		return f.auditor
	}
	return f.ann
}

// next is a number unique within the fixture, for names and
// Idempotency-Keys.
func (f *authzFixture) next() int { f.seq++; return f.seq }

// tokenWith makes a token for u carrying exactly perms.
func (f *authzFixture) tokenWith(u db.User, perms []db.Permission) string {
	return f.a.token(u, perms...)
}

// mgmtState is every table the management API could write, as text:
// users, keys (with their limits, scopes and states), teams and their
// people, the catalog, settings, invites, management tokens (without last
// use, which authenticating moves), idempotency records and the audit
// log. A refused request leaves it as it was. The log is counted without
// api.read events: every read a token makes is audited with the status it
// got (handlers/mgmt_limits.go), a refused one included, which is a record
// of the attempt, not a change.
func mgmtState(t *testing.T, d *sql.DB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(snapshot(t, d))
	for _, q := range []string{
		`SELECT name, value FROM settings ORDER BY name`,
		`SELECT id, kind, email, role, COALESCE(used_at, 0) FROM user_tokens ORDER BY id`,
		`SELECT name, description, grant_role, needs_approval, COALESCE(retired_at, 0) FROM scopes ORDER BY id`,
		`SELECT id, COALESCE(team_id, 0), user_id, scopes, pending_scopes, pending_key, COALESCE(description, ''),
			COALESCE(expires_at, 0), COALESCE(disabled_at, 0), COALESCE(revoked_at, 0), allowed_ips, meta,
			COALESCE(rolled_from, 0) FROM api_keys ORDER BY id`,
		`SELECT id, name, description FROM teams ORDER BY id`,
		`SELECT team_id, user_id, role FROM team_members ORDER BY team_id, user_id`,
		`SELECT id, user_id, name, permissions, COALESCE(expires_at, 0), COALESCE(revoked_at, 0) FROM api_tokens ORDER BY id`,
		`SELECT user_id, idem_key, operation, COALESCE(key_id, 0) FROM api_idempotency ORDER BY user_id, idem_key`,
		`SELECT COUNT(*), COALESCE(MAX(id), 0) FROM audit_events WHERE action <> '` + db.ActionAPIRead + `'`,
	} {
		rows, err := d.Query(q)
		if err != nil {
			t.Fatalf("state %q: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

// newKey makes a key of owner's (a fresh one each time: a cell may revoke
// it).
func (f *authzFixture) newKey(owner db.User) db.Key {
	k, _ := f.a.storeKey(owner.ID, db.KeyInput{Name: fmt.Sprintf("target-%d", f.next())})
	return k
}

// newToken makes a management token of owner's and returns its id.
func (f *authzFixture) newToken(owner db.User) int64 {
	f.a.t.Helper()
	exp := f.a.clock.Now().Add(24 * time.Hour)
	tok, _, err := f.a.store.CreateAPIToken(context.Background(), owner.ID,
		db.APITokenInput{Name: fmt.Sprintf("target-%d", f.next()), Permissions: []db.Permission{db.PermKeysRead}, ExpiresAt: &exp}, db.CLIActor())
	if err != nil {
		f.a.t.Fatalf("token for %s: %v", owner.Email, err)
	}
	return tok.ID
}

// newMember adds a fresh member (a person an admin operation acts on).
func (f *authzFixture) newMember() db.User {
	return f.a.createUser(fmt.Sprintf("target-%d@example.com", f.next()), db.RoleMember)
}

// newTeam makes a team maintained by owner.
func (f *authzFixture) newTeam(owner db.User) db.Team {
	f.a.t.Helper()
	ctx := context.Background()
	tm, err := f.a.store.CreateTeam(ctx, fmt.Sprintf("team-%d", f.next()), "", db.CLIActor())
	if err != nil {
		f.a.t.Fatal(err)
	}
	if err := f.a.store.AddTeamMember(ctx, tm.ID, owner.Email, db.TeamMaintainer, db.CLIActor()); err != nil {
		f.a.t.Fatal(err)
	}
	return tm
}

// newTeamMember adds a fresh member to tm.
func (f *authzFixture) newTeamMember(tm db.Team) db.User {
	f.a.t.Helper()
	u := f.newMember()
	if err := f.a.store.AddTeamMember(context.Background(), tm.ID, u.Email, db.TeamMember, db.CLIActor()); err != nil {
		f.a.t.Fatal(err)
	}
	return u
}

// newScope adds a fresh scope to the catalog and returns its name.
func (f *authzFixture) newScope() string {
	f.a.t.Helper()
	name := fmt.Sprintf("target-%d", f.next())
	if _, err := f.a.store.CreateScope(context.Background(), db.ScopeInput{Name: name}, db.CLIActor()); err != nil {
		f.a.t.Fatal(err)
	}
	return name
}

// name is a fresh lowercase name (a scope, a team).
func (f *authzFixture) name() string { return fmt.Sprintf("made-%d", f.next()) }

// email is a fresh address nobody has.
func (f *authzFixture) email() string { return fmt.Sprintf("new-%d@example.com", f.next()) }

// idem is a fresh Idempotency-Key header.
func (f *authzFixture) idem() http.Header {
	return http.Header{"Idempotency-Key": {fmt.Sprintf("authz-%d", f.next())}}
}
