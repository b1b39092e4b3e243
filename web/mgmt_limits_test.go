package web

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

func withAPIRate(r float64) appOption { return func(c *Config) { c.APIRate = r } }

// TestMgmtRateLimit: each token has its own allowance, announced on every
// answer; past it, 429 RATE_LIMITED with Retry-After, until time refills it.
func TestMgmtRateLimit(t *testing.T) {
	a := newTestApp(t, withAPIRate(1)) // 1/s, burst 5
	ann := a.createUser("ann@example.com", db.RoleMember)
	tok, other := a.token(ann), a.token(ann)
	c := a.mgmt(tok)
	for i := range 5 {
		r := c.get("/api/v1/me")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("call %d: got %d, want 200: %s", i+1, r.StatusCode, r.body)
		}
		want := map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": strconv.Itoa(4 - i),
			"RateLimit-Reset": strconv.Itoa(i + 1), "RateLimit-Policy": "5;w=5"}
		for h, v := range want {
			if got := r.Header.Get(h); got != v {
				t.Errorf("call %d: %s got %q, want %q", i+1, h, got, v)
			}
		}
	}
	r := c.get("/api/v1/me")
	r.wantProblem(t, http.StatusTooManyRequests, "RATE_LIMITED")
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After: got %q, want 1", got)
	}
	if got := r.Header.Get("RateLimit-Remaining"); got != "0" {
		t.Errorf("RateLimit-Remaining on the 429: got %q, want 0", got)
	}
	// A refused call is refused whatever it asks: a write too.
	c.post("/api/v1/tokens/1/revoke", nil).wantProblem(t, http.StatusTooManyRequests, "RATE_LIMITED")
	if r := a.mgmt(other).get("/api/v1/me"); r.StatusCode != http.StatusOK {
		t.Errorf("another token of the same person: got %d, want 200 (its own allowance)", r.StatusCode)
	}
	a.clock.Advance(time.Second)
	if r := c.get("/api/v1/me"); r.StatusCode != http.StatusOK || r.Header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("a second later: got %d with %q left, want 200 with 0 left", r.StatusCode, r.Header.Get("RateLimit-Remaining"))
	}
}

// TestMgmtAuthFailuresThrottled: an address that keeps presenting bad
// credentials is slowed down, valid token or not, until it waits.
func TestMgmtAuthFailuresThrottled(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	good := a.token(ann)
	bad, _ := db.GenerateAPIToken()
	// 20 free failures; then the address waits, doubling with each
	// further failure.
	for range 20 {
		a.mgmt(bad).get("/api/v1/me").wantProblem(t, http.StatusUnauthorized, "INVALID_TOKEN")
	}
	for _, bearer := range []string{bad, good, ""} {
		r := a.mgmt(bearer).get("/api/v1/me")
		r.wantProblem(t, http.StatusTooManyRequests, "RATE_LIMITED")
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After: got %q, want 1", got)
		}
	}
	a.clock.Advance(time.Second)
	if r := a.mgmt(good).get("/api/v1/me"); r.StatusCode != http.StatusOK {
		t.Fatalf("after the wait, a good token: got %d, want 200", r.StatusCode)
	}
	a.mgmt("").get("/api/v1/me").wantProblem(t, http.StatusUnauthorized, "MISSING_TOKEN")
	r := a.mgmt(good).get("/api/v1/me")
	r.wantProblem(t, http.StatusTooManyRequests, "RATE_LIMITED")
	if got := r.Header.Get("Retry-After"); got != "2" {
		t.Errorf("after one more failure, Retry-After: got %q, want 2 (doubled)", got)
	}
	// Verification is not affected: its throttle is its own.
	_, key := a.storeKey(ann.ID, db.KeyInput{Name: "svc"})
	if got := a.verify(key, ""); !got.Valid {
		t.Errorf("verify from the throttled address: got %+v, want valid", got)
	}
}

// TestMgmtReadsAudited: every read is an api.read event with the token's
// id, route and status; writes keep their own events and add no api.read.
func TestMgmtReadsAudited(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	id, tok := a.namedToken(ann, "reader", db.PermKeysRead)
	other, _ := a.namedToken(ann, "other")
	c := a.mgmt(tok)
	c.get("/api/v1/me")
	c.get("/api/v1/tokens?cursor=bogus") // a refused read is audited too
	c.post("/api/v1/tokens/"+strconv.FormatInt(other, 10)+"/revoke", nil)

	ev := a.waitAudit(db.AuditFilter{Action: db.ActionAPIRead}, 2)
	want := []struct{ route, status string }{{"/api/v1/tokens", "400"}, {"/api/v1/me", "200"}}
	for i, w := range want {
		e := ev[i]
		if e.TokenID != id || e.ActorID != ann.ID || e.Actor != ann.Email || e.TargetID != id ||
			e.Detail["method"] != "GET" || e.Detail["route"] != w.route || e.Detail["status"] != w.status {
			t.Errorf("event %d: got %+v %v, want token %d GET %s %s", i, e, e.Detail, id, w.route, w.status)
		}
	}
	if got := a.waitAudit(db.AuditFilter{TokenID: id}, 3); got[0].Action != db.ActionTokenRevoke {
		t.Errorf("the write: got %q, want %s with the token's id", got[0].Action, db.ActionTokenRevoke)
	}
	// A refused token reads nothing, so nothing is recorded for it.
	a.mgmt("kwt_nope").get("/api/v1/me")
	if got := a.waitAudit(db.AuditFilter{Action: db.ActionAPIRead}, 2); len(got) != 2 {
		t.Errorf("api.read events: got %d, want 2", len(got))
	}
}

// waitAudit waits (up to 5 s) until the filter matches at least n events,
// newest first: a read's event is written after its answer.
func (a *testApp) waitAudit(f db.AuditFilter, n int) []db.AuditEvent {
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, err := a.store.ListAudit(context.Background(), f)
		if err != nil {
			a.t.Fatal(err)
		}
		if len(ev) >= n {
			return ev
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("audit %+v: got %d events, want %d", f, len(ev), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
