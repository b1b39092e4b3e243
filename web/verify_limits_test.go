package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func formatted(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, " ")
}

// verifyBody posts body to the verify API and decodes the verdict.
func (a *testApp) verifyBody(body string, hdr http.Header) verifyAnswer {
	a.t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	for k, vs := range hdr {
		h[k] = vs
	}
	r := a.api(http.MethodPost, "/api/v1/keys/verify", strings.NewReader(body), h)
	if r.StatusCode != http.StatusOK {
		a.t.Fatalf("verify: got status %d, want 200; body: %s", r.StatusCode, r.body)
	}
	var v verifyAnswer
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		a.t.Fatalf("verify: body %q is not JSON: %v", r.body, err)
	}
	return v
}

// TestVerifyContractIPAllowlist: IP_NOT_ALLOWED through the verify API
// (the body's "ip" is the client that presented the key; the caller's own
// address does not count) and through forward auth (the request's client
// address, from X-Forwarded-For only through a trusted proxy), for IPv4
// and IPv6.
func TestVerifyContractIPAllowlist(t *testing.T) {
	allow := mustPrefixes(t, "10.0.0.0/8", "2001:db8::/32")
	t.Run("verify API", func(t *testing.T) {
		a := newTestApp(t)
		u := a.createUser("svc@example.com", db.RoleMember)
		_, secret := a.storeKey(u.ID, db.KeyInput{Name: "locked", AllowedIPs: allow})
		_, open := a.storeKey(u.ID, db.KeyInput{Name: "open"})
		tests := []struct {
			name, key, ip string // ip "-": no "ip" field
			want          string
		}{
			{"IPv4 inside", secret, "10.20.30.40", ""},
			{"IPv4 outside", secret, "192.0.2.1", "IP_NOT_ALLOWED"},
			{"IPv6 inside", secret, "2001:db8:abcd::1", ""},
			{"IPv6 outside", secret, "2001:db9::1", "IP_NOT_ALLOWED"},
			{"IPv4-mapped IPv6 inside", secret, "::ffff:10.0.0.1", ""},
			{"missing ip", secret, "-", "IP_NOT_ALLOWED"},
			{"empty ip", secret, "", "IP_NOT_ALLOWED"},
			{"no allowlist, missing ip", open, "-", ""},
			{"no allowlist, any ip", open, "192.0.2.1", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				body := map[string]string{"key": tt.key}
				if tt.ip != "-" {
					body["ip"] = tt.ip
				}
				v := a.verifyBody(mustJSON(body), nil)
				if v.Valid != (tt.want == "") || v.Code != tt.want {
					t.Errorf("got valid=%v code %q, want code %q", v.Valid, v.Code, tt.want)
				}
				if tt.want != "" && v.Key != nil {
					t.Errorf("a refusal carries the key: %v", v.Key)
				}
			})
		}
		t.Run("outside beats a missing scope", func(t *testing.T) {
			if v := a.verifyBody(mustJSON(map[string]string{"key": secret, "scope": "admin", "ip": "192.0.2.1"}), nil); v.Code != "IP_NOT_ALLOWED" {
				t.Errorf("got %q, want IP_NOT_ALLOWED", v.Code)
			}
		})
	})

	forwardAuth := func(a *testApp, secret, xff string) response {
		hdr := http.Header{"Authorization": {"Bearer " + secret}}
		if xff != "" {
			hdr.Set("X-Forwarded-For", xff)
		}
		return a.api(http.MethodGet, "/api/v1/auth", nil, hdr)
	}
	wantAuth := func(t *testing.T, r response, want string) {
		t.Helper()
		if want == "" {
			if r.StatusCode != http.StatusOK || r.Header.Get("X-Keyward-Owner-Type") != "user" {
				t.Errorf("got %d owner type %q; want 200 user; body %s", r.StatusCode, r.Header.Get("X-Keyward-Owner-Type"), r.body)
			}
			return
		}
		var v verifyAnswer
		_ = json.Unmarshal([]byte(r.body), &v)
		if r.StatusCode != http.StatusUnauthorized || v.Code != want || r.Header.Get("X-Keyward-Key-Id") != "" {
			t.Errorf("got %d code %q key id %q; want 401 %s and no identity", r.StatusCode, v.Code, r.Header.Get("X-Keyward-Key-Id"), want)
		}
		if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, "invalid_token") {
			t.Errorf("WWW-Authenticate: got %q, want invalid_token", got)
		}
	}

	t.Run("forward auth, direct client", func(t *testing.T) {
		a := newTestApp(t) // no trusted proxies: X-Forwarded-For is the client's own claim
		u := a.createUser("svc@example.com", db.RoleMember)
		_, local := a.storeKey(u.ID, db.KeyInput{Name: "loopback", AllowedIPs: mustPrefixes(t, "127.0.0.0/8")})
		_, remote := a.storeKey(u.ID, db.KeyInput{Name: "remote", AllowedIPs: allow})
		tests := []struct {
			name, key, xff, want string
		}{
			{"client inside", local, "", ""},
			{"client outside", remote, "", "IP_NOT_ALLOWED"},
			{"untrusted X-Forwarded-For inside is ignored", remote, "10.0.0.1", "IP_NOT_ALLOWED"},
			{"untrusted X-Forwarded-For outside is ignored", local, "192.0.2.1", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { wantAuth(t, forwardAuth(a, tt.key, tt.xff), tt.want) })
		}
	})

	t.Run("forward auth through a trusted proxy", func(t *testing.T) {
		a := newTestApp(t, withTrustedProxies("127.0.0.0/8"))
		u := a.createUser("svc@example.com", db.RoleMember)
		_, secret := a.storeKey(u.ID, db.KeyInput{Name: "locked", AllowedIPs: allow})
		tests := []struct {
			name, xff, want string
		}{
			{"IPv4 inside", "10.1.2.3", ""},
			{"IPv4 outside", "192.0.2.1", "IP_NOT_ALLOWED"},
			{"IPv6 inside", "2001:db8::42", ""},
			{"IPv6 outside", "2001:db9::42", "IP_NOT_ALLOWED"},
			{"the proxy itself is outside", "", "IP_NOT_ALLOWED"},
			// Walked from the right: the first address not of a trusted
			// proxy is the client; what the client wrote before it is not.
			{"spoofed left entry", "10.0.0.1, 192.0.2.1", "IP_NOT_ALLOWED"},
			{"client then trusted hop", "10.0.0.1, 127.0.0.2", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { wantAuth(t, forwardAuth(a, secret, tt.xff), tt.want) })
		}
	})
}

// TestVerifyContractMeta: the owner's metadata comes back in the verify
// answer as key.meta exactly: the same members and values (nested objects,
// unicode, numbers beyond float64), in the order written. A key without
// metadata answers {}, never null, and every answer carries owner_type.
func TestVerifyContractMeta(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("svc@example.com", db.RoleMember)
	meta := `{"tenant":"acme","plan":{"tier":"pro","limits":{"rps":100,"burst":[1,2.50,-3e2]}},` +
		`"name":"Zoë 東京 🚀","escaped":"\u00e9\n","big":12345678901234567890,"ok":true,"none":null,"html":"<b>&</b>"}`
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "tenant", Meta: meta})
	_, bare := a.storeKey(u.ID, db.KeyInput{Name: "bare"})

	r := a.api(http.MethodPost, "/api/v1/keys/verify", strings.NewReader(mustJSON(map[string]string{"key": secret})),
		http.Header{"Content-Type": {"application/json"}})
	var raw struct {
		Key struct {
			Meta      json.RawMessage `json:"meta"`
			OwnerType string          `json:"owner_type"`
			Owner     string          `json:"owner"`
		} `json:"key"`
	}
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
		t.Fatalf("answer %q: %v", r.body, err)
	}
	if got, want := decodeOrdered(t, raw.Key.Meta), decodeOrdered(t, []byte(meta)); !reflect.DeepEqual(got, want) {
		t.Errorf("key.meta:\n got %s\nwant %s", raw.Key.Meta, meta)
	}
	// Numbers keep their spelling: a float64 decoder would round these.
	for _, lit := range []string{"12345678901234567890", "2.50", "-3e2"} {
		if !bytes.Contains(raw.Key.Meta, []byte(lit)) {
			t.Errorf("key.meta lost the number %s: %s", lit, raw.Key.Meta)
		}
	}
	if raw.Key.OwnerType != "user" || raw.Key.Owner != "svc@example.com" {
		t.Errorf("owner %q owner_type %q, want svc@example.com user", raw.Key.Owner, raw.Key.OwnerType)
	}
	if v := a.verify(bare, ""); !reflect.DeepEqual(v.Key["meta"], map[string]any{}) || v.Key["owner_type"] != "user" {
		t.Errorf("bare key: meta %#v owner_type %v, want {} and user", v.Key["meta"], v.Key["owner_type"])
	}
}

// decodeOrdered reads JSON into a list of tokens, so two documents compare
// equal only with the same members, values and order; numbers stay text.
func decodeOrdered(t *testing.T, b []byte) []any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []any
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		out = append(out, tok)
	}
}

// TestVerifyContractCodesInMetrics: every refusal code has its series on
// /metrics from the start (zero until it happens), the new ones included,
// and IP_NOT_ALLOWED refusals are counted.
func TestVerifyContractCodesInMetrics(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("svc@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "locked", AllowedIPs: mustPrefixes(t, "10.0.0.0/8")})
	for range 2 {
		if r := a.api(http.MethodGet, "/api/v1/auth", nil, http.Header{"X-Api-Key": {secret}}); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forward auth from outside: got %d, want 401", r.StatusCode)
		}
	}
	r := a.api(http.MethodGet, "/metrics", nil, nil)
	for _, code := range db.VerifyCodes {
		if !strings.Contains(r.body, `keyward_verifications_total{outcome="`+string(code)+`"}`) {
			t.Errorf("/metrics has no series for %s", code)
		}
	}
	for _, want := range []string{
		`keyward_verifications_total{outcome="IP_NOT_ALLOWED"} 2`,
		`keyward_verifications_total{outcome="PENDING_APPROVAL"} 0`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics: missing %q", want)
		}
	}
}
