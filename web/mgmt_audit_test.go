package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

type apiEvent struct {
	ID         int64             `json:"id"`
	At         time.Time         `json:"at"`
	Actor      string            `json:"actor"`
	ActorID    *int64            `json:"actor_id"`
	Action     string            `json:"action"`
	TargetType string            `json:"target_type"`
	TargetID   *int64            `json:"target_id"`
	TokenID    *int64            `json:"token_id"`
	Detail     map[string]string `json:"detail"`
}

func (e apiEvent) tokenID() int64 {
	if e.TokenID == nil {
		return 0
	}
	return *e.TokenID
}

// auditFixture is an installation whose log holds events of the CLI (user
// creation) and of an admin's token (a scope added, then an hour later a
// user disabled).
type auditFixture struct {
	a          *testApp
	admin, ann db.User
	tok        string
	tokID      int64
	// later is between the scope event and the disable event.
	later time.Time
}

func newAuditFixture(t *testing.T) auditFixture {
	t.Helper()
	a := newTestApp(t)
	f := auditFixture{a: a, admin: a.createUser("admin@example.com", db.RoleAdmin), ann: a.createUser("ann@example.com", db.RoleMember)}
	f.tok, f.tokID = a.adminToken(f.admin)
	if r := a.mgmt(f.tok).post("/api/v1/admin/scopes", map[string]string{"name": "billing:read"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("create scope: got %d: %s", r.StatusCode, r.body)
	}
	a.clock.Advance(30 * time.Minute)
	f.later = a.clock.Now()
	a.clock.Advance(30 * time.Minute)
	if r := a.mgmt(f.tok).post("/api/v1/admin/users/"+itoa(f.ann.ID)+"/disable", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("disable: got %d: %s", r.StatusCode, r.body)
	}
	return f
}

// actions lists the events' actions in order.
func actions(events []apiEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Action
	}
	return out
}

// TestMgmtAuditList: the log's filters, each alone, select what the audit
// page would; events made with a token carry its id; pages walk the whole
// log newest first.
func TestMgmtAuditList(t *testing.T) {
	f := newAuditFixture(t)
	a := f.a
	auditor := a.createUser("audrey@example.com", db.RoleAuditor)
	reader := a.mgmt(a.token(auditor, db.PermAdminRead))

	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"token", url.Values{"token_id": {itoa(f.tokID)}}, []string{db.ActionUserDisable, db.ActionScopeCreate}},
		{"action", url.Values{"action": {db.ActionUserDisable}}, []string{db.ActionUserDisable}},
		{"actor in any case", url.Values{"actor": {"ADMIN@example.com"}}, []string{db.ActionUserDisable, db.ActionScopeCreate}},
		{"target", url.Values{"target_type": {"user"}, "target_id": {itoa(f.ann.ID)}}, []string{db.ActionUserDisable, db.ActionUserCreate}},
		{"since", url.Values{"since": {f.later.Format(time.RFC3339)}, "actor": {"admin@example.com"}}, []string{db.ActionUserDisable}},
		{"until", url.Values{"until": {f.later.Format(time.RFC3339)}, "actor": {"admin@example.com"}}, []string{db.ActionScopeCreate}},
		{"token action", url.Values{"action": {db.ActionTokenCreate}}, []string{db.ActionTokenCreate, db.ActionTokenCreate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := walk[apiEvent](t, reader, "/api/v1/admin/audit", tt.query, 100)
			if !slices.Equal(actions(got), tt.want) {
				t.Errorf("actions: got %v, want %v", actions(got), tt.want)
			}
			for _, e := range got {
				if e.Action == db.ActionUserDisable || e.Action == db.ActionScopeCreate {
					if e.tokenID() != f.tokID || e.ActorID == nil || *e.ActorID != f.admin.ID {
						t.Errorf("%s: got token %d actor %v, want token %d by the admin", e.Action, e.tokenID(), e.ActorID, f.tokID)
					}
				}
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		all, err := a.store.ListAudit(t.Context(), db.AuditFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		got := walk[apiEvent](t, reader, "/api/v1/admin/audit", nil, 2)
		if len(got) != len(all) {
			t.Fatalf("walked %d events, want %d", len(got), len(all))
		}
		for i := range all {
			if got[i].ID != all[i].ID {
				t.Errorf("event %d: got id %d, want %d (newest first, each once)", i, got[i].ID, all[i].ID)
			}
		}
		var disable apiEvent
		for _, e := range got {
			if e.Action == db.ActionUserDisable {
				disable = e
			}
		}
		if disable.Detail["sessions_ended"] == "" || disable.TargetType != "user" || disable.TargetID == nil || *disable.TargetID != f.ann.ID {
			t.Errorf("user.disable event: got %+v, want ann as target and its detail", disable)
		}
	})

	refusals := []struct {
		name, query string
		status      int
		code        string
	}{
		{"unknown action", "action=key.explode", http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"bad since", "since=yesterday", http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"bad cursor", "cursor=zzz", http.StatusBadRequest, "INVALID_CURSOR"},
		{"cursor not an id", "cursor=" + *encodeTestCursor("audit", "x"), http.StatusBadRequest, "INVALID_CURSOR"},
		{"users cursor", "cursor=" + *encodeTestCursor("user", "ann@example.com"), http.StatusBadRequest, "INVALID_CURSOR"},
		{"unknown filter", "key=3", http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			p := reader.get("/api/v1/admin/audit?"+tt.query).wantProblem(t, tt.status, tt.code)
			if tt.name == "unknown action" && !hasField(p.Errors, "query.action") {
				t.Errorf("errors: got %+v, want one at query.action", p.Errors)
			}
		})
	}
	t.Run("member refused", func(t *testing.T) {
		a.mgmt(a.token(a.createUser("cy@example.com", db.RoleMember))).get("/api/v1/admin/audit").
			wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
	})
}

// TestMgmtAuditExport reads the JSON Lines export of a log longer than
// its page of 500: every event once, newest first, each line a JSON
// object, and the filters of the list honoured.
func TestMgmtAuditExport(t *testing.T) {
	f := newAuditFixture(t)
	a := f.a
	const bulk = 1234
	for i := range bulk {
		if err := a.store.Audit(t.Context(), db.AuditEvent{Actor: "system", Action: db.ActionSettingChange,
			TargetType: "setting", Target: "stale_days", Detail: map[string]string{"n": itoa(int64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	reader := a.mgmt(a.token(a.createUser("audrey@example.com", db.RoleAuditor)))
	all, err := a.store.ListAudit(t.Context(), db.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	newest := all[0].ID

	tests := []struct {
		name  string
		query string
		check func(t *testing.T, events []apiEvent)
	}{
		{"everything", "", func(t *testing.T, events []apiEvent) {
			if len(events) < bulk+5 || events[0].ID != newest {
				t.Errorf("got %d events from id %d, want at least %d from %d", len(events), events[0].ID, bulk+5, newest)
			}
		}},
		{"action", "action=" + db.ActionSettingChange, func(t *testing.T, events []apiEvent) {
			if len(events) != bulk {
				t.Errorf("got %d events, want %d", len(events), bulk)
			}
			if events[len(events)-1].Detail["n"] != "0" {
				t.Errorf("last line: got %+v, want the oldest setting change", events[len(events)-1])
			}
		}},
		{"token", "token_id=" + itoa(f.tokID), func(t *testing.T, events []apiEvent) {
			if got := actions(events); !slices.Equal(got, []string{db.ActionUserDisable, db.ActionScopeCreate}) {
				t.Errorf("got %v, want the token's two changes", got)
			}
			for _, e := range events {
				if e.tokenID() != f.tokID {
					t.Errorf("%s: got token_id %d, want %d", e.Action, e.tokenID(), f.tokID)
				}
			}
		}},
		{"nothing", "actor=nobody@example.com", func(t *testing.T, events []apiEvent) {
			if len(events) != 0 {
				t.Errorf("got %d events, want none", len(events))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader.get("/api/v1/admin/audit.jsonl?" + tt.query)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("got %d, want 200: %s", r.StatusCode, truncate(string(r.body), 300))
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type: got %q, want application/x-ndjson", ct)
			}
			var events []apiEvent
			sc := bufio.NewScanner(bytes.NewReader(r.body))
			sc.Buffer(nil, 1<<20)
			for n := 1; sc.Scan(); n++ {
				var e apiEvent
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ID == 0 {
					t.Fatalf("line %d is not an event: %v: %s", n, err, sc.Text())
				}
				if len(events) > 0 && e.ID >= events[len(events)-1].ID {
					t.Fatalf("line %d: id %d after %d, want newest first, each once", n, e.ID, events[len(events)-1].ID)
				}
				events = append(events, e)
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			tt.check(t, events)
		})
	}
	t.Run("refusals", func(t *testing.T) {
		reader.get("/api/v1/admin/audit.jsonl?action=nope").wantProblem(t, http.StatusUnprocessableEntity, "VALIDATION_FAILED")
		reader.get("/api/v1/admin/audit.jsonl?cursor=x").wantProblem(t, http.StatusUnprocessableEntity, "VALIDATION_FAILED")
		a.mgmt(a.token(a.createUser("cy@example.com", db.RoleMember))).get("/api/v1/admin/audit.jsonl").
			wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
	})
}
