package web

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// keyRoute is one /keys/:id route of the key authorization matrix. form
// is what a person allowed to use the route sends, so that an allowed
// request really changes the key; disabled starts the key disabled by its
// manager (the enable route needs something to lift).
type keyRoute struct {
	method, pattern, action string
	form                    func(f *teamFixture) url.Values
	disabled                bool
}

// keyRoutes is the matrix's route list; TestAuthzKeyRoutes checks it
// against the router, so a new key route fails the test until it is here.
var keyRoutes = []keyRoute{
	{http.MethodGet, "/keys/:id", "", nil, false},
	{http.MethodPost, "/keys/:id/edit", "/edit", func(*teamFixture) url.Values {
		return url.Values{"name": {"renamed"}, "description": {"changed by the matrix"}}
	}, false},
	{http.MethodPost, "/keys/:id/disable", "/disable", func(*teamFixture) url.Values {
		return url.Values{"reason": {"authorization matrix"}}
	}, false},
	{http.MethodPost, "/keys/:id/enable", "/enable", nil, true},
	{http.MethodPost, "/keys/:id/roll", "/roll", func(*teamFixture) url.Values { return url.Values{"grace": {"0"}} }, false},
	{http.MethodPost, "/keys/:id/revoke", "/revoke", func(*teamFixture) url.Values {
		return url.Values{"reason": {"authorization matrix"}}
	}, false},
	{http.MethodPost, "/keys/:id/limits", "/limits", func(*teamFixture) url.Values {
		return url.Values{"allowed_ips": {"10.0.0.0/8"}, "meta": {`{"tenant":"acme"}`}}
	}, false},
	{http.MethodPost, "/keys/:id/scopes", "/scopes", func(*teamFixture) url.Values {
		return url.Values{"scopes": {"read", "write:orders"}}
	}, false},
	{http.MethodPost, "/keys/:id/transfer", "/transfer", func(f *teamFixture) url.Values {
		return url.Values{"team": {itoa(f.ops.ID)}}
	}, false},
}

// Outcomes of one cell of the matrix.
const (
	manages  = "manages"   // GET shows the actions; every POST is done
	reads    = "reads"     // GET 200 read-only, no action form; every POST 404
	notFound = "not found" // 404 on everything
)

// keyState is every key column a key route can change, with the team
// owner, and the audit log's size: a refused request leaves it as it was.
func keyState(t *testing.T, d *sql.DB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(adminState(t, d))
	rows, err := d.Query(`SELECT id, COALESCE(team_id, 0), user_id, allowed_ips, meta,
		COALESCE(disabled_by, 0), COALESCE(disabled_reason, ''), COALESCE(rolled_from, 0) FROM api_keys ORDER BY id`)
	if err != nil {
		t.Fatalf("key state: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]any, 8)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = toString(v)
		}
		b.WriteString(strings.Join(parts, " ") + "\n")
	}
	return b.String()
}

// TestAuthzKeyRoutes is the one matrix of every key route × every
// role, on a team-owned key and on a personal key. The team key belongs to
// payments (maint maintains it, member is a member); the personal key is
// maint's own, so a teammate of its owner is an outsider to it. Admins
// manage both, except rolling: a roll hands a new secret to whoever asks,
// and only the key's owner (a person, or a team's maintainer) may hold it
// (handlers.KeyRoll), so an admin's roll is a 403 with that reason.
// Readers (the auditor; the team's member for the team key) see the page
// with no action form and get 404 on every POST, like an outsider, so a
// crafted POST learns nothing. Each cell runs on a fresh app, its status
// asserted and the database compared: unchanged when refused, changed
// when allowed.
func TestAuthzKeyRoutes(t *testing.T) {
	t.Run("matrix covers every key route", func(t *testing.T) {
		f := newTeamFixture(t)
		covered := map[string]bool{}
		for _, r := range keyRoutes {
			covered[r.method+" "+r.pattern] = true
		}
		n := 0
		for _, r := range f.a.server.echo.Routes() {
			if (r.Method != http.MethodGet && r.Method != http.MethodPost) || !strings.HasPrefix(r.Path, "/keys/:id") {
				continue
			}
			n++
			if !covered[r.Method+" "+r.Path] {
				t.Errorf("route %s %s: not in the key authorization matrix", r.Method, r.Path)
			}
		}
		if n != len(keyRoutes) {
			t.Errorf("key routes: got %d registered, want %d (the matrix)", n, len(keyRoutes))
		}
	})

	keys := []struct {
		name string
		key  func(f *teamFixture) db.Key
		want map[string]string
	}{
		{"team key", func(f *teamFixture) db.Key { return f.payKey }, map[string]string{
			"admin": manages, "maintainer": manages, "member": reads, "auditor": reads, "other member": notFound}},
		{"personal key", func(f *teamFixture) db.Key {
			k, _ := f.a.storeKey(f.maint.ID, db.KeyInput{Name: "maint-personal"})
			return k
		}, map[string]string{
			"admin": manages, "maintainer": manages, "member": notFound, "auditor": reads, "other member": notFound}},
	}
	for _, kc := range keys {
		for _, rt := range keyRoutes {
			for _, role := range []string{"admin", "maintainer", "member", "auditor", "other member", "signed out"} {
				t.Run(kc.name+"/"+rt.method+" "+rt.pattern+"/"+role, func(t *testing.T) {
					f := newTeamFixture(t)
					k := kc.key(f)
					if rt.disabled {
						maint := db.Actor{UserID: f.maint.ID, Label: f.maint.Email}
						if _, err := f.a.store.SetKeyDisabled(context.Background(), db.AnyOwner(), k.ID, true, "paused", maint); err != nil {
							t.Fatal(err)
						}
					}
					d := attackDB(t, f.a)
					before := keyState(t, d)
					path := "/keys/" + itoa(k.ID) + rt.action
					var form url.Values
					if rt.form != nil {
						form = rt.form(f)
					}
					b := f.browsers[role]
					if role == "signed out" {
						wantSignedOutRefused(t, b, rt.method, path, form)
					} else {
						wantKeyRouteOutcome(t, b, rt, path, form, kc.want[role], role == "admin")
					}
					after := keyState(t, d)
					changes := rt.method == http.MethodPost && kc.want[role] == manages &&
						!(role == "admin" && rt.action == "/roll")
					switch {
					case changes && after == before:
						t.Errorf("an allowed POST changed nothing")
					case !changes && after != before:
						t.Errorf("a refused request changed the database: %s", snapshotDiff(before, after))
					}
				})
			}
		}
	}
}

// wantSignedOutRefused: a visitor's GET goes to the sign-in page (and
// back here after it), a POST with a valid CSRF token to /login, and one
// without a token is refused by the CSRF check first.
func wantSignedOutRefused(t *testing.T, b *browser, method, path string, form url.Values) {
	t.Helper()
	if method == http.MethodGet {
		r := b.get(path)
		if want := "/login?next=" + url.QueryEscape(path); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != want {
			t.Errorf("GET: got %d Location %q, want 303 %s", r.StatusCode, r.Header.Get("Location"), want)
		}
		return
	}
	enc := form.Encode()
	wantRedirect(t, b.post(path, form), "/login")
	if r := b.send(http.MethodPost, path, enc, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST without a CSRF token: got %d, want 403", r.StatusCode)
	}
}

// wantKeyRouteOutcome asserts one signed-in cell of the matrix.
func wantKeyRouteOutcome(t *testing.T, b *browser, rt keyRoute, path string, form url.Values, outcome string, admin bool) {
	t.Helper()
	if rt.method == http.MethodGet {
		r := b.get(path)
		if outcome == notFound {
			wantErrorPage(t, r, http.StatusNotFound)
			return
		}
		if r.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200; body %.300s", r.StatusCode, r.body)
		}
		doc := r.doc(t)
		notes := doc.Find(`[data-testid="read-only-note"]`).Length()
		if outcome == reads {
			wantNoChangeForms(t, doc)
			if notes != 1 {
				t.Errorf("read-only notes: got %d, want 1 saying why there are no actions", notes)
			}
			return
		}
		if notes != 0 {
			t.Errorf("read-only notes: got %d, want none for who manages the key", notes)
		}
		for _, form := range []string{"edit-form", "limits-form", "key-scopes-form", "transfer-form"} {
			if doc.Find(`[data-testid="`+form+`"]`).Length() != 1 {
				t.Errorf("form %s: got none, want it for who manages the key", form)
			}
		}
		return
	}
	r := b.post(path, form)
	switch {
	case outcome != manages:
		wantErrorPage(t, r, http.StatusNotFound)
	case rt.action == "/roll" && admin:
		wantErrorPage(t, r, http.StatusForbidden)
		if !strings.Contains(r.body, "Only the owner of a key can roll it") {
			t.Errorf("admin's roll: got no reason, want “Only the owner of a key can roll it”; body %.300s", r.body)
		}
	case rt.action == "/roll":
		if r.StatusCode != http.StatusOK || !keyInText.MatchString(r.body) {
			t.Errorf("roll: got %d, want 200 with the new key shown once; body %.300s", r.StatusCode, r.body)
		}
	default:
		wantRedirect(t, r, path[:strings.LastIndex(path, "/")])
	}
}

// TestAuthzKeyRoutesBadInput: a reader (the auditor, a team member) or an
// outsider who posts a form the server would refuse beside its field gets
// the same 404 as with a valid one: form validation never runs before the
// access check gives someone who may not change the key a form to retry.
func TestAuthzKeyRoutesBadInput(t *testing.T) {
	bad := []struct {
		action string
		form   func(f *teamFixture) url.Values
	}{
		{"/edit", func(*teamFixture) url.Values { return url.Values{"name": {""}, "expires_on": {"not a date"}} }},
		{"/limits", func(*teamFixture) url.Values { return url.Values{"allowed_ips": {"10.0.0.0/99"}, "meta": {"[]"}} }},
		{"/scopes", func(*teamFixture) url.Values { return url.Values{"scopes": {"Not A Scope!"}} }},
		{"/transfer", func(*teamFixture) url.Values { return url.Values{"team": {"999999"}} }},
		{"/roll", func(*teamFixture) url.Values { return url.Values{"grace": {"forever"}} }},
	}
	for _, role := range []string{"member", "auditor", "other member"} {
		for _, tc := range bad {
			t.Run(role+"/"+tc.action, func(t *testing.T) {
				f := newTeamFixture(t)
				d := attackDB(t, f.a)
				before := keyState(t, d)
				wantErrorPage(t, f.browsers[role].post("/keys/"+itoa(f.payKey.ID)+tc.action, tc.form(f)), http.StatusNotFound)
				if after := keyState(t, d); after != before {
					t.Errorf("a refused request changed the database: %s", snapshotDiff(before, after))
				}
			})
		}
	}
}
