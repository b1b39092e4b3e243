package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

// The authorization table of the management API: every operation of the
// served OpenAPI document × callers (nobody, an API key, tokens without
// and with the operation's permission, for a member, an auditor and an
// admin) × targets (the caller's own object, another person's, an id that
// does not exist). The expected answer is derived from the permission the
// operation declares and the dashboard's rules (handlers/key_access.go):
//
//   - no credential: 401 MISSING_TOKEN; an API key (kw_): 401
//     KEY_NOT_ACCEPTED; a token without the permission: 403
//     MISSING_PERMISSION, before any id is looked at;
//   - an id that does not exist: 404;
//   - another person's object: 404 (never 403: an outsider learns nothing
//     of what exists), unless the token reaches every object: admin:read
//     for reads, admin:write for changes, like an auditor's or an admin's
//     dashboard;
//   - otherwise the operation's success status.
//
// Exceptions are written in the table with the reason. Every answer goes
// through the validating client, and a refused request must leave the
// database as it was.

// Kinds of object an operation's path parameters name.
const (
	noTarget    = ""
	keyTarget   = "key"
	tokenTarget = "token"
	userTarget  = "user"
	teamTarget  = "team"
	scopeTarget = "scope"
	// teamMemberTarget is a team and a member of it ({id}, {user_id}).
	teamMemberTarget = "team member"
)

// Targets of a cell.
const (
	targetNone    = "no id"
	targetOwn     = "own"
	targetOther   = "another person's"
	targetMissing = "missing id"
	// targetExisting is an object nobody owns (a catalog scope).
	targetExisting = "existing"
)

// authzOp is one row of the table: how to call an operation so that an
// allowed call succeeds.
type authzOp struct {
	target string // what the path parameters name
	ok     int    // the status of an allowed call
	// anyToken: the operation declares no permission (any live token).
	anyToken bool
	body     func(f *authzFixture, ids map[string]string) any
	query    string
	idem     bool // send a fresh Idempotency-Key
	// prepare puts a fresh target in the state the operation acts on
	// (a disabled key for enable-key).
	prepare func(f *authzFixture, ids map[string]string)
	// reach says whether a token carrying perms acts on another person's
	// object; nil derives it from the operation's permission.
	reach func(perms []db.Permission) bool
	// except overrides the derived answer of "caller/target" cells, with
	// the reason in a comment.
	except map[string]cellWant
	// public: the operation takes no credential at all (its security
	// requirement is the empty one); it has no cells to run, and its
	// answers are tested where it is (report-leak: leaks_test.go).
	public bool
}

// cellWant is the answer a cell expects: a status and, for a refusal,
// the problem's code.
type cellWant struct {
	status int
	code   string
}

// authzOps is the table, by operation id. An operation the document
// serves that is missing here fails TestMgmtAuthorization.
var authzOps = map[string]authzOp{
	"get-me": {ok: http.StatusOK, anyToken: true},

	// Keys: the dashboard's key access (handlers/key_access.go).
	"list-keys":     {ok: http.StatusOK},
	"list-all-keys": {ok: http.StatusOK},
	"create-key":    {ok: http.StatusCreated, idem: true, body: bodyOf(func(f *authzFixture) any { return map[string]any{"name": f.name()} })},
	"get-key":       {target: keyTarget, ok: http.StatusOK},
	"get-key-usage": {target: keyTarget, ok: http.StatusOK},
	"update-key":    {target: keyTarget, ok: http.StatusOK, body: bodyOf(func(*authzFixture) any { return map[string]any{"description": "changed"} })},
	"disable-key":   {target: keyTarget, ok: http.StatusOK, body: bodyOf(func(*authzFixture) any { return map[string]any{"reason": "authz table"} })},
	"enable-key":    {target: keyTarget, ok: http.StatusOK, prepare: disableKey},
	"revoke-key":    {target: keyTarget, ok: http.StatusOK, body: bodyOf(func(*authzFixture) any { return map[string]any{"reason": "authz table"} })},
	// A roll hands the new secret to whoever asks, so only the key's
	// owner rolls it, as on the dashboard (handlers.KeyRoll): a token
	// that sees every key (admin:read) is told why (403 OWNER_ONLY),
	// anyone else gets the outsider's 404.
	"roll-key": {target: keyTarget, ok: http.StatusCreated, idem: true,
		body:  bodyOf(func(*authzFixture) any { return map[string]any{"grace": "1h"} }),
		reach: func([]db.Permission) bool { return false },
		except: map[string]cellWant{
			"admin/" + targetOther:   {http.StatusForbidden, "OWNER_ONLY"},
			"auditor/" + targetOther: {http.StatusForbidden, "OWNER_ONLY"},
		}},
	// A key rolls itself with its own secret (scheme "key"): a
	// management token is refused there as a key is everywhere else.
	"roll-self": {ok: http.StatusCreated, idem: true, body: bodyOf(func(*authzFixture) any { return map[string]any{"grace": "1h"} })},
	// Anyone reports a leaked key, with no credential: whatever the
	// caller holds, the answer is the same 202.
	"report-leak": {public: true},
	// Tokens: any live token lists and revokes its person's tokens (a
	// script that finds its token leaked can end it); admin:write
	// revokes anyone's, as an admin can on the dashboard.
	"list-tokens":  {ok: http.StatusOK, anyToken: true},
	"revoke-token": {target: tokenTarget, ok: http.StatusOK, anyToken: true, reach: has(db.PermAdminWrite)},

	// Admin: users, invites, the audit log, the catalog.
	"list-users":    {ok: http.StatusOK},
	"create-invite": {ok: http.StatusCreated, body: bodyOf(func(f *authzFixture) any { return map[string]any{"email": f.email(), "role": "member"} })},
	"disable-user":  {target: userTarget, ok: http.StatusOK},
	"enable-user":   {target: userTarget, ok: http.StatusOK, prepare: disableUser},
	"set-user-role": {target: userTarget, ok: http.StatusOK, body: bodyOf(func(*authzFixture) any { return map[string]any{"role": "auditor"} })},
	"list-audit":    {ok: http.StatusOK},
	"export-audit":  {ok: http.StatusOK},
	"list-catalog":  {ok: http.StatusOK},
	"list-scopes":   {ok: http.StatusOK},
	"create-scope":  {ok: http.StatusCreated, body: bodyOf(func(f *authzFixture) any { return map[string]any{"name": f.name()} })},
	"update-scope":  {target: scopeTarget, ok: http.StatusOK, body: bodyOf(func(*authzFixture) any { return map[string]any{"description": "changed"} })},
	"rename-scope":  {target: scopeTarget, ok: http.StatusOK, body: bodyOf(func(f *authzFixture) any { return map[string]any{"new_name": f.name()} })},
	"retire-scope":  {target: scopeTarget, ok: http.StatusOK},
	"restore-scope": {target: scopeTarget, ok: http.StatusOK, prepare: retireScope},

	// Teams: a person sees the teams they are in and manages those they
	// maintain ("own" is a team the caller maintains, "another person's"
	// one bob maintains); admin:read sees every team, admin:write
	// manages every team (handlers/mgmt_teams.go, the dashboard's
	// teamAccess).
	"list-teams":           {ok: http.StatusOK},
	"create-team":          {ok: http.StatusCreated, body: bodyOf(func(f *authzFixture) any { return map[string]any{"name": f.name()} })},
	"get-team":             {target: teamTarget, ok: http.StatusOK},
	"add-team-member":      {target: teamTarget, ok: http.StatusOK, body: bodyOf(func(f *authzFixture) any { return map[string]any{"email": f.newMember().Email, "role": "member"} })},
	"set-team-member-role": {target: teamMemberTarget, ok: http.StatusOK, body: bodyOf(func(*authzFixture) any { return map[string]any{"role": "maintainer"} })},
	"remove-team-member":   {target: teamMemberTarget, ok: http.StatusOK},
}

// authzCaller is one column of callers.
type authzCaller struct {
	name string
	role db.Role // whose credential ("" for nobody)
	cred string  // "none", "key" or "token"
	// perms are the token's permissions for op (nil for all the role
	// holds); skip is true when the column says nothing new for op.
	perms func(op servedOp) (perms []db.Permission, skip bool)
}

func without(r db.Role) func(op servedOp) ([]db.Permission, bool) {
	return func(op servedOp) ([]db.Permission, bool) {
		all := db.RolePermissions(r)
		if op.Perm == "" || !slices.Contains(all, op.Perm) {
			return nil, true
		}
		return slices.DeleteFunc(slices.Clone(all), func(p db.Permission) bool { return p == op.Perm }), false
	}
}

var authzCallers = []authzCaller{
	{name: "nobody", cred: "none"},
	{name: "member's API key", role: db.RoleMember, cred: "key"},
	{name: "member without the permission", role: db.RoleMember, cred: "token", perms: without(db.RoleMember)},
	{name: "member", role: db.RoleMember, cred: "token"},
	{name: "auditor", role: db.RoleAuditor, cred: "token"},
	{name: "admin", role: db.RoleAdmin, cred: "token"},
	{name: "admin without the permission", role: db.RoleAdmin, cred: "token", perms: without(db.RoleAdmin)},
	{name: "admin with keys permissions only", role: db.RoleAdmin, cred: "token",
		perms: func(op servedOp) ([]db.Permission, bool) {
			return []db.Permission{db.PermKeysRead, db.PermKeysWrite}, op.Perm != db.PermKeysRead && op.Perm != db.PermKeysWrite
		}},
}

// targetsOf lists the targets of an operation on kind. A person's own
// account is no target of the admin operations on users (an admin
// demoting or disabling themselves is bad input, tested there).
func targetsOf(kind string) []string {
	switch kind {
	case noTarget:
		return []string{targetNone}
	case userTarget:
		return []string{targetOther, targetMissing}
	case scopeTarget:
		return []string{targetExisting, targetMissing}
	}
	return []string{targetOwn, targetOther, targetMissing}
}

// pathFor makes a fresh target of kind for the cell and fills op's path
// with it, returning the path and the values of its parameters.
func (f *authzFixture) pathFor(t *testing.T, op servedOp, kind, target string, caller db.User) (string, map[string]string) {
	t.Helper()
	owner := caller
	if target == targetOther {
		owner = f.bob
	}
	ids := map[string]string{}
	switch {
	case kind == noTarget:
	case target == targetMissing && kind == scopeTarget:
		ids["name"] = "no-such-scope"
	case target == targetMissing:
		for _, p := range op.PathParams {
			ids[p] = "999999"
		}
	case kind == keyTarget:
		ids["id"] = itoa(f.newKey(owner).ID)
	case kind == tokenTarget:
		ids["id"] = itoa(f.newToken(owner))
	case kind == userTarget:
		ids["id"] = itoa(f.newMember().ID)
	case kind == teamTarget:
		ids["id"] = itoa(f.newTeam(owner).ID)
	case kind == teamMemberTarget:
		tm := f.newTeam(owner)
		ids["id"], ids["user_id"] = itoa(tm.ID), itoa(f.newTeamMember(tm).ID)
	case kind == scopeTarget:
		ids["name"] = f.newScope()
	default:
		t.Fatalf("%s: unknown target kind %q", op.ID, kind)
	}
	path := op.Path
	for _, p := range op.PathParams {
		v, ok := ids[p]
		if !ok {
			t.Fatalf("%s: target kind %q gives no value for path parameter %s", op.ID, kind, p)
		}
		path = strings.ReplaceAll(path, "{"+p+"}", v)
	}
	return path, ids
}

// want derives the expected status and problem code of one cell.
func (spec authzOp) want(op servedOp, c authzCaller, perms []db.Permission, target string) (int, string) {
	switch {
	case c.cred == "none" && op.accepts(handlers.SchemeToken):
		return http.StatusUnauthorized, "MISSING_TOKEN"
	case c.cred == "none":
		return http.StatusUnauthorized, "MISSING_KEY"
	case c.cred == "key" && !op.accepts(handlers.SchemeKey):
		return http.StatusUnauthorized, "KEY_NOT_ACCEPTED"
	case c.cred == "token" && !op.accepts(handlers.SchemeToken):
		return http.StatusUnauthorized, "TOKEN_NOT_ACCEPTED"
	case op.Perm != "" && !slices.Contains(perms, op.Perm):
		return http.StatusForbidden, "MISSING_PERMISSION"
	}
	if w, ok := spec.except[c.name+"/"+target]; ok {
		return w.status, w.code
	}
	switch target {
	case targetMissing:
		return http.StatusNotFound, "NOT_FOUND"
	case targetOther:
		reach := spec.reach
		if reach == nil {
			reach = reachByPermission(op.Perm)
		}
		if !reach(perms) {
			return http.StatusNotFound, "NOT_FOUND"
		}
	}
	return spec.ok, ""
}

// reachByPermission is the dashboard's rule: reading another person's
// key takes admin:read, changing it admin:write; the admin side's
// operations act on anyone's objects.
func reachByPermission(p db.Permission) func([]db.Permission) bool {
	return func(perms []db.Permission) bool {
		switch p {
		case db.PermKeysRead:
			return slices.Contains(perms, db.PermAdminRead)
		case db.PermKeysWrite:
			return slices.Contains(perms, db.PermAdminWrite)
		case db.PermAdminRead, db.PermAdminWrite:
			return true
		}
		return false
	}
}

// bodyOf is a body that does not depend on the target.
func bodyOf(fn func(f *authzFixture) any) func(*authzFixture, map[string]string) any {
	return func(f *authzFixture, _ map[string]string) any { return fn(f) }
}

// disableUser prepares a disabled account (for enable-user).
func disableUser(f *authzFixture, ids map[string]string) {
	id, _ := strconv.ParseInt(ids["id"], 10, 64)
	if err := f.a.store.SetUserDisabled(context.Background(), id, true, db.CLIActor()); err != nil {
		f.a.t.Fatal(err)
	}
}

// disableKey prepares a key disabled by its owner (for enable-key; one
// an admin disabled only an admin may enable).
func disableKey(f *authzFixture, ids map[string]string) {
	id, _ := strconv.ParseInt(ids["id"], 10, 64)
	ctx := context.Background()
	k := f.a.getKey(id)
	owner, err := f.a.store.GetUser(ctx, k.UserID)
	if err != nil {
		f.a.t.Fatal(err)
	}
	if _, err := f.a.store.SetKeyDisabled(ctx, db.AnyOwner(), id, true, "paused", db.Actor{UserID: owner.ID, Label: owner.Email}); err != nil {
		f.a.t.Fatal(err)
	}
}

// retireScope prepares a retired scope (for restore-scope).
func retireScope(f *authzFixture, ids map[string]string) {
	if _, err := f.a.store.SetScopeRetired(context.Background(), ids["name"], true, db.CLIActor()); err != nil {
		f.a.t.Fatal(err)
	}
}

// has is a reach rule: tokens carrying p reach another person's objects.
func has(p db.Permission) func([]db.Permission) bool {
	return func(perms []db.Permission) bool { return slices.Contains(perms, p) }
}

func TestMgmtAuthorization(t *testing.T) {
	first := newTestApp(t)
	ops := servedOperations(t, first)
	served := map[string]bool{}
	for _, op := range ops {
		served[op.ID] = true
	}
	for id := range authzOps {
		if !served[id] {
			t.Errorf("operation %s is in the authorization table but the document does not serve it", id)
		}
	}
	for _, op := range ops {
		spec, ok := authzOps[op.ID]
		if !ok {
			t.Errorf("operation %s (%s %s, permission %q) is not in the authorization table: add it to the table (authzOps)",
				op.ID, op.Method, op.Path, op.Perm)
			continue
		}
		if spec.public {
			if len(op.Schemes) != 0 {
				t.Errorf("operation %s is public in the table but declares %v", op.ID, op.Schemes)
			}
			continue
		}
		if len(op.Schemes) == 0 {
			t.Errorf("operation %s declares no security requirement: every management operation needs a credential", op.ID)
		}
		if op.accepts(handlers.SchemeToken) && op.Perm == "" && !spec.anyToken {
			t.Errorf("operation %s declares no permission: name one, or mark it anyToken in the table", op.ID)
		}
		t.Run(op.ID, func(t *testing.T) { runAuthzOp(t, op, spec, first) })
	}
}

// runAuthzOp runs every cell of one operation on one fresh app (its own
// rate buckets and failure throttle, which the table's many refusals
// would otherwise fill).
func runAuthzOp(t *testing.T, op servedOp, spec authzOp, first *testApp) {
	f := newAuthzFixture(t)
	f.shareValidator(t, first)
	for _, c := range authzCallers {
		perms := db.RolePermissions(c.role)
		if c.perms != nil {
			var skip bool
			if perms, skip = c.perms(op); skip {
				continue
			}
		}
		bearer := ""
		switch c.cred {
		case "key":
			bearer = f.annKey
		case "token":
			bearer = f.tokenWith(f.user(c.role), perms)
		}
		for _, target := range targetsOf(spec.target) {
			t.Run(c.name+"/"+target, func(t *testing.T) {
				path, ids := f.pathFor(t, op, spec.target, target, f.user(c.role))
				if spec.prepare != nil && target != targetMissing {
					spec.prepare(f, ids)
				}
				var body any
				if spec.body != nil {
					body = spec.body(f, ids)
				}
				var hdr http.Header
				if spec.idem {
					hdr = f.idem()
				}
				if spec.query != "" {
					path += "?" + spec.query
				}
				before := f.state()
				r := f.a.mgmt(bearer).call(op.Method, path, body, hdr)
				status, code := spec.want(op, c, perms, target)
				if r.StatusCode != status {
					t.Fatalf("%s %s: got %d, want %d (body %s)", op.Method, path, r.StatusCode, status, truncate(string(r.body), 300))
				}
				if code != "" {
					if p := r.problem(t); p.Code != code {
						t.Errorf("%s %s: code got %q, want %q", op.Method, path, p.Code, code)
					}
				}
				after := f.state()
				switch {
				case status >= 400 && after != before:
					t.Errorf("a refused request changed the database: %s", snapshotDiff(before, after))
				case status < 400 && op.Method != http.MethodGet && after == before:
					t.Errorf("an allowed %s changed nothing", op.Method)
				}
			})
		}
	}
}
