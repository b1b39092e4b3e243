package web

import (
	"net/http"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestCredentialsStayInTheirLane: a management token (kwt_) never opens
// verify or forward auth, by either header, and an API key (kw_) never
// opens the management API, even though both have the same structure.
func TestCredentialsStayInTheirLane(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	tok := a.token(ann)
	_, key := a.storeKey(ann.ID, db.KeyInput{Name: "svc"})

	t.Run("verify refuses a token", func(t *testing.T) {
		if got := a.verify(tok, ""); got.Valid || got.Code != "MALFORMED" {
			t.Errorf("got %+v, want invalid MALFORMED", got)
		}
	})
	for _, hdr := range []http.Header{
		{"Authorization": {"Bearer " + tok}},
		{"X-Api-Key": {tok}},
	} {
		t.Run("forward auth refuses a token in "+firstHeader(hdr), func(t *testing.T) {
			r := a.api(http.MethodGet, "/api/v1/auth", nil, hdr)
			if r.StatusCode != http.StatusUnauthorized || r.Header.Get("X-Keyward-Key-Id") != "" {
				t.Errorf("got %d (key id %q), want 401 and no key", r.StatusCode, r.Header.Get("X-Keyward-Key-Id"))
			}
		})
	}
	t.Run("forward auth still takes the key", func(t *testing.T) {
		if r := a.api(http.MethodGet, "/api/v1/auth", nil, http.Header{"X-Api-Key": {key}}); r.StatusCode != http.StatusOK {
			t.Errorf("got %d, want 200", r.StatusCode)
		}
	})
	t.Run("management API refuses a key", func(t *testing.T) {
		a.mgmt(key).get("/api/v1/me").wantProblem(t, http.StatusUnauthorized, "KEY_NOT_ACCEPTED")
		a.mgmt("").call(http.MethodGet, "/api/v1/tokens", nil, http.Header{"X-Api-Key": {tok}}).
			wantProblem(t, http.StatusUnauthorized, "MISSING_TOKEN")
	})
}

func firstHeader(h http.Header) string {
	for k := range h {
		return k
	}
	return ""
}
