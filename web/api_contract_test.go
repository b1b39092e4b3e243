package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// apiError is the body of every API error.
type apiError struct {
	Error struct{ Code, Message string } `json:"error"`
}

func wantAPIError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status: got %d, want %d; body %s", r.StatusCode, status, r.body)
	}
	var e apiError
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("body %q is not a JSON error: %v", r.body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("error: got %+v, want code %s and a message", e.Error, code)
	}
}

// TestAPIVerifyNeedsJSONContentType: a verify request must say it is JSON,
// which a browser cannot send cross-site without a CORS preflight, and
// Keyward grants none. So no web page can make its visitors verify keys
// (and spend their address's allowance of failures).
func TestAPIVerifyNeedsJSONContentType(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("svc@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "svc"})
	body := `{"key":"` + secret + `"}`
	tests := []struct {
		name, contentType string
		want              int
	}{
		{"application/json", "application/json", http.StatusOK},
		{"with a charset", "application/json; charset=utf-8", http.StatusOK},
		{"in capitals", "Application/JSON", http.StatusOK},
		{"text/plain (a CORS simple request)", "text/plain", http.StatusUnsupportedMediaType},
		{"text/plain with a charset", "text/plain;charset=UTF-8", http.StatusUnsupportedMediaType},
		{"a form", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart", "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"none", "", http.StatusUnsupportedMediaType},
		{"malformed", "application/json; charset", http.StatusUnsupportedMediaType},
		{"json-ish", "application/json-patch+json", http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{"Origin": {"https://evil.example"}}
			if tt.contentType != "" {
				hdr.Set("Content-Type", tt.contentType)
			}
			r := a.api(http.MethodPost, "/api/v1/keys/verify", strings.NewReader(body), hdr)
			if tt.want == http.StatusOK {
				if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"valid":true`) {
					t.Errorf("got %d %s, want 200 valid", r.StatusCode, r.body)
				}
			} else {
				wantAPIError(t, r, tt.want, "UNSUPPORTED_MEDIA_TYPE")
			}
			wantNoCORS(t, r)
		})
	}
	t.Run("preflight", func(t *testing.T) {
		r := a.api(http.MethodOptions, "/api/v1/keys/verify", nil, http.Header{
			"Origin":                         {"https://evil.example"},
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"content-type"},
		})
		if r.StatusCode < 400 {
			t.Errorf("status: got %d, want a refusal", r.StatusCode)
		}
		wantNoCORS(t, r)
	})
}

func wantNoCORS(t *testing.T, r response) {
	t.Helper()
	for name := range r.Header {
		if strings.HasPrefix(name, "Access-Control-") {
			t.Errorf("got CORS header %s: %q, want none", name, r.Header.Get(name))
		}
	}
}

// TestAPIVerifyStrictJSON: field names match exactly and appear once, and
// no other field is accepted, so no body can drop the scope check its
// sender meant (encoding/json takes "SCOPE" for "scope" and keeps the last
// of two).
func TestAPIVerifyStrictJSON(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("svc@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "svc", Scopes: []string{"read"}})
	k := `"` + secret + `"`
	tests := []struct {
		name, body string
	}{
		{"scope dropped by a differently cased twin", `{"key":` + k + `,"scope":"nope","SCOPE":""}`},
		{"key in capitals", `{"KEY":` + k + `}`},
		{"key capitalised", `{"Key":` + k + `}`},
		{"scope capitalised", `{"key":` + k + `,"Scope":"nope"}`},
		{"key twice", `{"key":"kw_guess","key":` + k + `}`},
		{"scope twice", `{"key":` + k + `,"scope":"nope","scope":""}`},
		{"misspelt scope", `{"key":` + k + `,"scopes":"nope"}`},
		{"another field", `{"key":` + k + `,"extra":1}`},
		{"invalid UTF-8", "{\"key\":" + k + ",\"scope\":\"\xff\"}"},
		{"trailing data", `{"key":` + k + `} {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.api(http.MethodPost, "/api/v1/keys/verify", strings.NewReader(tt.body),
				http.Header{"Content-Type": {"application/json"}})
			wantAPIError(t, r, http.StatusBadRequest, "INVALID_JSON")
		})
	}
	// "ip" is part of the verify contract (the address of the service's
	// caller): a service that sends it is answered, and it must be an
	// address.
	t.Run("the contract's ip field", func(t *testing.T) {
		for _, ip := range []string{"203.0.113.7", "2001:db8::1"} {
			r := a.api(http.MethodPost, "/api/v1/keys/verify",
				strings.NewReader(`{"key":`+k+`,"scope":"read","ip":"`+ip+`"}`),
				http.Header{"Content-Type": {"application/json"}})
			if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"valid":true`) {
				t.Errorf("ip %s: got %d %s, want 200 valid", ip, r.StatusCode, r.body)
			}
		}
		r := a.api(http.MethodPost, "/api/v1/keys/verify", strings.NewReader(`{"key":`+k+`,"ip":"not-an-address"}`),
			http.Header{"Content-Type": {"application/json"}})
		wantAPIError(t, r, http.StatusBadRequest, "INVALID_IP")
	})
	t.Run("exact names still verify", func(t *testing.T) {
		if v := a.verify(secret, "read"); !v.Valid {
			t.Errorf("got %q, want valid", v.Code)
		}
		if v := a.verify(secret, "nope"); v.Code != "INSUFFICIENT_SCOPE" {
			t.Errorf("got valid=%v %q, want INSUFFICIENT_SCOPE", v.Valid, v.Code)
		}
	})
}

// TestAPIAnswersNotCachedUTF8: every answer under /api (and /healthz),
// errors included, is Cache-Control: no-store, and every JSON body is
// declared "application/json; charset=UTF-8".
func TestAPIAnswersNotCachedUTF8(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("svc@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "svc", Scopes: []string{"read"}})
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	bearer := http.Header{"Authorization": {"Bearer " + secret}}
	tests := []struct {
		name, method, path, body string
		hdr                      http.Header
		status                   int
	}{
		{"verify: valid", http.MethodPost, "/api/v1/keys/verify", `{"key":"` + secret + `"}`, jsonHdr, 200},
		{"verify: refused", http.MethodPost, "/api/v1/keys/verify", `{"key":"kw_guess"}`, jsonHdr, 200},
		{"verify: bad JSON", http.MethodPost, "/api/v1/keys/verify", `{`, jsonHdr, 400},
		{"verify: not JSON", http.MethodPost, "/api/v1/keys/verify", `{}`, nil, 415},
		{"verify: by GET", http.MethodGet, "/api/v1/keys/verify", "", nil, 405},
		{"unknown API path", http.MethodGet, "/api/v1/nothing", "", nil, 404},
		{"API path outside v1", http.MethodGet, "/api/other", "", nil, 404},
		{"forward auth: valid", http.MethodGet, "/api/v1/auth", "", bearer, 200},
		{"forward auth: no key", http.MethodGet, "/api/v1/auth", "", nil, 401},
		{"forward auth: scope missing", http.MethodGet, "/api/v1/auth?scope=admin", "", bearer, 403},
		{"healthz", http.MethodGet, "/healthz", "", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.api(tt.method, tt.path, strings.NewReader(tt.body), tt.hdr)
			if r.StatusCode != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", r.StatusCode, tt.status, r.body)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
			if r.body == "" {
				return
			}
			// The management API (everything under /api/v1 but the two
			// verification routes) answers errors in problem details.
			want := "application/json; charset=UTF-8"
			if p, _, _ := strings.Cut(tt.path, "?"); isManagementPath(p) {
				want = "application/problem+json"
			}
			if got := r.Header.Get("Content-Type"); got != want {
				t.Errorf("Content-Type: got %q, want %s", got, want)
			}
			if !json.Valid([]byte(r.body)) {
				t.Errorf("body %q is not JSON", r.body)
			}
		})
	}
}
