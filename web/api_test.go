package web

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// mustGenerate returns a well-formed key that no one was ever given.
func mustGenerate(t *testing.T) string {
	t.Helper()
	k, err := db.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// corrupt changes one character of key to another base62 character: CRC32
// catches every such change, so the result is always malformed.
func corrupt(key string, rng *rand.Rand) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte(key)
	i := 3 + rng.IntN(len(b)-3)
	for c := b[i]; b[i] == c; {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// badChecksum changes the last checksum character of key.
func badChecksum(key string) string {
	last := byte('0')
	if key[len(key)-1] == '0' {
		last = '1'
	}
	return key[:len(key)-1] + string(last)
}

func TestAPIVerifyCodes(t *testing.T) {
	a := newTestApp(t)
	ctx := t.Context()
	u := a.createUser("svc@example.com", db.RoleMember)
	exp := a.clock.Now().Add(30 * 24 * time.Hour)
	valid, validSecret := a.storeKey(u.ID, db.KeyInput{Name: "valid", Scopes: []string{"read", "write"}, ExpiresAt: &exp})
	_, bare := a.storeKey(u.ID, db.KeyInput{Name: "no scopes"})
	revoked, revokedSecret := a.storeKey(u.ID, db.KeyInput{Name: "revoked"})
	disabled, disabledSecret := a.storeKey(u.ID, db.KeyInput{Name: "disabled"})
	soon := a.clock.Now().Add(time.Minute)
	_, expiredSecret := a.storeKey(u.ID, db.KeyInput{Name: "expired", ExpiresAt: &soon})
	gone := a.createUser("gone@example.com", db.RoleMember)
	_, goneSecret := a.storeKey(gone.ID, db.KeyInput{Name: "owner disabled"})
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), revoked.ID, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.SetKeyDisabled(ctx, db.AnyOwner(), disabled.ID, true, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if err := a.store.SetUserDisabled(ctx, gone.ID, true, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(2 * time.Minute)

	t.Run("valid", func(t *testing.T) {
		body := a.api(http.MethodPost, "/api/v1/keys/verify",
			strings.NewReader(`{"key":"`+validSecret+`","scope":"write"}`), http.Header{"Content-Type": {"application/json"}})
		if body.StatusCode != http.StatusOK || !strings.HasPrefix(body.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("got %d %q, want 200 JSON", body.StatusCode, body.Header.Get("Content-Type"))
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body.body), &raw); err != nil {
			t.Fatal(err)
		}
		if got := sortedKeys(raw); !reflect.DeepEqual(got, []string{"key", "valid"}) {
			t.Errorf("top-level fields: got %v, want [key valid]", got)
		}
		v := a.verify(validSecret, "write")
		wantFields := []string{"expires_at", "id", "meta", "name", "owner", "owner_type", "scopes"}
		if got := sortedKeys(v.Key); !reflect.DeepEqual(got, wantFields) {
			t.Errorf("key fields: got %v, want %v", got, wantFields)
		}
		want := map[string]any{"id": float64(valid.ID), "name": "valid", "owner": "svc@example.com",
			"owner_type": "user", "scopes": []any{"read", "write"}, "meta": map[string]any{}}
		for f, w := range want {
			if !reflect.DeepEqual(v.Key[f], w) {
				t.Errorf("key.%s: got %v, want %v", f, v.Key[f], w)
			}
		}
		if got := mustTime(t, v.Key["expires_at"]); !got.Equal(exp.Truncate(time.Millisecond)) {
			t.Errorf("key.expires_at: got %v, want %v", got, exp)
		}
		nv := a.verify(bare, "")
		if !nv.Valid || nv.Key["expires_at"] != nil || !reflect.DeepEqual(nv.Key["scopes"], []any{}) {
			t.Errorf("key without scopes or expiry: got %+v, want scopes [] and expires_at null", nv)
		}
	})

	wellFormed := mustGenerate(t)
	tests := []struct {
		name, key, scope, code string
	}{
		{"wrong prefix", "kx_" + wellFormed[3:], "", "MALFORMED"},
		{"uppercase prefix", "KW_" + wellFormed[3:], "", "MALFORMED"},
		{"too short", wellFormed[:len(wellFormed)-1], "", "MALFORMED"},
		{"too long", wellFormed + "0", "", "MALFORMED"},
		{"bad checksum", badChecksum(wellFormed), "", "MALFORMED"},
		{"valid key, bad checksum", badChecksum(validSecret), "", "MALFORMED"},
		{"non-base62", wellFormed[:10] + "-" + wellFormed[11:], "", "MALFORMED"},
		{"whitespace around", " " + validSecret + " ", "", "MALFORMED"},
		{"not found", wellFormed, "", "NOT_FOUND"},
		{"revoked", revokedSecret, "", "REVOKED"},
		{"disabled", disabledSecret, "", "DISABLED"},
		{"expired", expiredSecret, "", "EXPIRED"},
		{"insufficient scope", validSecret, "admin", "INSUFFICIENT_SCOPE"},
		{"no scopes, scope asked", bare, "read", "INSUFFICIENT_SCOPE"},
		{"owner disabled", goneSecret, "", "DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.api(http.MethodPost, "/api/v1/keys/verify",
				strings.NewReader(mustJSON(map[string]string{"key": tt.key, "scope": tt.scope})),
				http.Header{"Content-Type": {"application/json"}})
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want 200", r.StatusCode)
			}
			var raw map[string]any
			if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"valid": false, "code": tt.code}
			if !reflect.DeepEqual(raw, want) {
				t.Errorf("got %v, want %v", raw, want)
			}
		})
	}
}

func TestAPIVerifyBadRequests(t *testing.T) {
	a := newTestApp(t)
	tests := []struct {
		name   string
		body   io.Reader
		status int
		code   string
	}{
		{"missing body", nil, 400, "EMPTY_BODY"},
		{"empty body", strings.NewReader(""), 400, "EMPTY_BODY"},
		{"blank body", strings.NewReader(" \n\t"), 400, "EMPTY_BODY"},
		{"not JSON", strings.NewReader("key=kw_abc"), 400, "INVALID_JSON"},
		{"truncated JSON", strings.NewReader(`{"key":`), 400, "INVALID_JSON"},
		{"wrong type", strings.NewReader(`{"key":42}`), 400, "INVALID_JSON"},
		{"no key", strings.NewReader(`{}`), 400, "MISSING_KEY"},
		{"empty key", strings.NewReader(`{"key":"","scope":"read"}`), 400, "MISSING_KEY"},
		{"over 4 KiB", strings.NewReader(`{"key":"` + strings.Repeat("x", 4<<10) + `"}`), 413, "BODY_TOO_LARGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.api(http.MethodPost, "/api/v1/keys/verify", tt.body, http.Header{"Content-Type": {"application/json"}})
			if r.StatusCode != tt.status {
				t.Errorf("status: got %d, want %d", r.StatusCode, tt.status)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type: got %q, want JSON", ct)
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.body), &e); err != nil {
				t.Fatalf("body %q: %v", r.body, err)
			}
			if e.Error.Code != tt.code || e.Error.Message == "" {
				t.Errorf("error: got %+v, want code %s and a message", e.Error, tt.code)
			}
		})
	}
	// Wrong methods and unknown API paths answer in JSON, never with the
	// browser's sign-in redirect or an HTML page.
	for _, r := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/api/v1/keys/verify", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, "/api/v1/keys/verify", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/api/v1/keys/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v1", http.StatusNotFound, ""},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			resp := a.api(r.method, r.path, nil, nil)
			if resp.StatusCode != r.status {
				t.Errorf("status: got %d (Location %q), want %d", resp.StatusCode, resp.Header.Get("Location"), r.status)
			}
			if got := resp.Header.Get("Allow"); got != r.allow {
				t.Errorf("Allow: got %q, want %q", got, r.allow)
			}
			want := "application/json"
			if isManagementPath(r.path) {
				want = "application/problem+json" // the management API's error shape
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
				t.Errorf("Content-Type: got %q, want %s", ct, want)
			}
		})
	}
}

// TestAPIMalformedCostsNoLookup sends junk from many client IPs (so the
// throttle stays out of the way) and checks that none reached the database.
func TestAPIMalformedCostsNoLookup(t *testing.T) {
	a := newTestApp(t, withTrustedProxies("127.0.0.0/8"))
	rng := rand.New(rand.NewPCG(1, 2))
	base := mustGenerate(t)
	before := a.verifier.Lookups()
	for i := range 1000 {
		var key string
		switch i % 4 {
		case 0:
			key = corrupt(base, rng)
		case 1:
			key = corrupt(mustGenerate(t), rng)
		case 2:
			b := make([]byte, rng.IntN(80))
			for j := range b {
				b[j] = byte(0x20 + rng.IntN(0x5f))
			}
			key = string(b)
		default:
			key = "kw_" + base[3:3+rng.IntN(49)]
		}
		if key == "" {
			key = "kw_"
		}
		xff := "10.0." + itoa(int64(i/50)) + ".1"
		if v := a.verifyFrom(xff, key, ""); v.Valid || v.Code != "MALFORMED" {
			t.Fatalf("key %q: got valid=%v %q, want MALFORMED", key, v.Valid, v.Code)
		}
	}
	if got := a.verifier.Lookups() - before; got != 0 {
		t.Errorf("database lookups for 1,000 malformed keys: got %d, want 0", got)
	}
	a.verify(base, "")
	if got := a.verifier.Lookups() - before; got != 1 {
		t.Errorf("lookups for one well-formed key: got %d, want 1", got)
	}
}

func TestAPIForwardAuth(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("svc@example.com", db.RoleMember)
	k, secret := a.storeKey(u.ID, db.KeyInput{Name: "edge", Scopes: []string{"read", "write"}})
	revoked, revokedSecret := a.storeKey(u.ID, db.KeyInput{Name: "revoked"})
	if _, err := a.store.RevokeKey(t.Context(), db.AnyOwner(), revoked.ID, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		query  string
		hdr    http.Header
		status int
	}{
		{"bearer", "", http.Header{"Authorization": {"Bearer " + secret}}, 200},
		{"bearer lowercase scheme", "", http.Header{"Authorization": {"bearer " + secret}}, 200},
		{"x-api-key", "", http.Header{"X-Api-Key": {secret}}, 200},
		{"scope held", "?scope=write", http.Header{"Authorization": {"Bearer " + secret}}, 200},
		{"missing key", "", nil, 401},
		{"basic auth", "", http.Header{"Authorization": {"Basic " + secret}}, 401},
		{"malformed key", "", http.Header{"Authorization": {"Bearer kw_nope"}}, 401},
		{"unknown key", "", http.Header{"Authorization": {"Bearer " + mustGenerate(t)}}, 401},
		{"revoked key", "", http.Header{"X-Api-Key": {revokedSecret}}, 401},
		{"scope missing", "?scope=admin", http.Header{"Authorization": {"Bearer " + secret}}, 403},
		{"key in query", "?key=" + secret, nil, 401},
		{"api_key in query", "?api_key=" + secret + "&access_token=" + secret, nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.api(http.MethodGet, "/api/v1/auth"+tt.query, nil, tt.hdr)
			if r.StatusCode != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", r.StatusCode, tt.status, r.body)
			}
			h := r.Header
			switch tt.status {
			case 200:
				want := map[string]string{"X-Keyward-Key-Id": itoa(k.ID), "X-Keyward-User": "svc@example.com", "X-Keyward-Scopes": "read,write"}
				for name, w := range want {
					if got := h.Get(name); got != w {
						t.Errorf("%s: got %q, want %q", name, got, w)
					}
				}
			default:
				if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate: got %q, want Bearer", got)
				}
				if h.Get("X-Keyward-Key-Id") != "" || h.Get("X-Keyward-User") != "" {
					t.Errorf("refusal carries identity headers")
				}
			}
		})
	}
}

func TestAPIAndBrowserStaySeparate(t *testing.T) {
	a := newTestApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "k"})

	t.Run("session does not authenticate the API", func(t *testing.T) {
		if b.sessionCookie() == "" {
			t.Fatal("browser has no session cookie")
		}
		r := b.get("/api/v1/auth")
		if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("got %d %q, want 401 with WWW-Authenticate Bearer", r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("key does not authenticate the browser", func(t *testing.T) {
		for _, hdr := range []http.Header{{"Authorization": {"Bearer " + secret}}, {"X-Api-Key": {secret}}} {
			r := a.api(http.MethodGet, "/keys", nil, hdr)
			loc := r.Header.Get("Location")
			if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
				t.Errorf("GET /keys with %v: got %d %q, want 303 to /login", sortedKeys(hdr), r.StatusCode, loc)
			}
		}
		if r := a.api(http.MethodPost, "/keys", strings.NewReader("name=x"), http.Header{
			"Authorization": {"Bearer " + secret}, "Content-Type": {"application/x-www-form-urlencoded"},
		}); r.StatusCode < 300 || r.StatusCode == http.StatusOK {
			t.Errorf("POST /keys with a key: got %d, want a refusal", r.StatusCode)
		}
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(bytes.TrimSpace(b))
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
