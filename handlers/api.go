package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// maxVerifyBody bounds the verify request: a key and a scope fit in far less.
const maxVerifyBody = 4 << 10

type verifyRequest struct {
	Key   string `json:"key"`
	Scope string `json:"scope"`
	// IP is the address of the client that presented the key to the
	// service (DESIGN.md): a key with an IP allowlist is refused with
	// IP_NOT_ALLOWED unless it is inside the list, so without it such a
	// key never verifies. Keys without an allowlist ignore it.
	IP string `json:"ip"`
}

type verifyKey struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Owner     string     `json:"owner"`      // an email, or "team:NAME"
	OwnerType string     `json:"owner_type"` // "user" or "team"
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
	// Meta is the owner's metadata object, {} when none, so a service
	// reads key.meta.tenant without a null check.
	Meta json.RawMessage `json:"meta"`
}

// emptyMeta is key.meta for a key without metadata.
var emptyMeta = json.RawMessage(`{}`)

type verifyResponse struct {
	Valid bool       `json:"valid"`
	Code  string     `json:"code,omitempty"`
	Key   *verifyKey `json:"key,omitempty"`
}

// APIVerify is POST /api/v1/keys/verify: {"key", "scope"} -> 200 with
// {"valid": true, "key": {...}} or {"valid": false, "code": "..."}. Bad
// requests (not JSON, no body, an unknown, misspelt or repeated field, no
// key) are 4xx with an error code.
//
// The body must be declared application/json. Browsers send a cross-site
// POST without asking first only for form and text/plain bodies; a JSON
// one needs a CORS preflight, which Keyward never grants (it sends no
// Access-Control-Allow-* header). So no web page can make its visitors'
// browsers verify keys and, by failing, throttle their address.
func (h *Handler) APIVerify(c echo.Context) error {
	if !isJSON(c.Request().Header.Get(echo.HeaderContentType)) {
		return &HTTPError{Status: http.StatusUnsupportedMediaType, Code: "UNSUPPORTED_MEDIA_TYPE",
			Message: `Send the body as JSON, with "Content-Type: application/json".`}
	}
	// One byte more than allowed tells a body that is too large.
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxVerifyBody+1))
	if err != nil {
		return BadRequest("BAD_BODY", "The request body could not be read.")
	}
	if len(body) > maxVerifyBody {
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Code: "BODY_TOO_LARGE",
			Message: "The request body is larger than 4 KiB."}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return BadRequest("EMPTY_BODY", `Send a JSON body: {"key": "kw_…", "scope": "optional"}.`)
	}
	req, err := decodeVerifyRequest(body)
	if err != nil {
		return err
	}
	if req.Key == "" {
		return BadRequest("MISSING_KEY", `The "key" field is required.`)
	}
	if req.IP != "" {
		if _, err := netip.ParseAddr(req.IP); err != nil {
			return BadRequest("INVALID_IP", `The "ip" field must be an IPv4 or IPv6 address, such as 203.0.113.7.`)
		}
	}
	ip := c.RealIP()
	if err := h.throttled(ip, req.Key); err != nil {
		return err
	}
	res, err := h.verify(c, req.Key, req.Scope, ip, req.IP)
	if err != nil {
		return err
	}
	if !res.Valid {
		return writeJSON(c, http.StatusOK, verifyResponse{Code: string(res.Code)})
	}
	scopes := res.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	meta := json.RawMessage(res.Meta)
	if meta == nil {
		meta = emptyMeta
	}
	return writeJSON(c, http.StatusOK, verifyResponse{Valid: true, Key: &verifyKey{
		ID: res.KeyID, Name: res.Name, Owner: res.Owner, OwnerType: res.OwnerType, Scopes: scopes,
		ExpiresAt: res.ExpiresAt, Meta: meta,
	}})
}

// isJSON reports whether a Content-Type is application/json, with or
// without parameters such as charset.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == echo.MIMEApplicationJSON
}

// decodeVerifyRequest reads a verify body strictly: member names match
// exactly ("KEY" is not "key"), none may appear twice, none other than key,
// scope and ip may appear, strings must be valid UTF-8 and nothing may follow
// the object. encoding/json would take {"key":k,"scope":"x","SCOPE":""} as
// a request without a scope (case-insensitive names, the last one wins),
// and silently ignore a misspelt "scopes": either drops the scope check
// the caller asked for. go-json-experiment/json (encoding/json/v2 to be)
// has exactly these rules.
func decodeVerifyRequest(body []byte) (verifyRequest, error) {
	var req *verifyRequest // stays nil for a body of null, which is no request
	err := jsonv2.Unmarshal(body, &req, jsonv2.RejectUnknownMembers(true))
	switch {
	case err == nil && req != nil:
		return *req, nil
	case errors.Is(err, jsontext.ErrDuplicateName):
		return verifyRequest{}, BadRequest("INVALID_JSON", `A field appears twice: send "key", "scope" and "ip" at most once each.`)
	case errors.Is(err, jsonv2.ErrUnknownName):
		return verifyRequest{}, BadRequest("INVALID_JSON", `Unknown field: the body takes only "key", "scope" and "ip", spelt exactly so (lower case).`)
	default:
		return verifyRequest{}, BadRequest("INVALID_JSON", `The body is not a JSON object: send {"key": "kw_…", "scope": "optional"}.`)
	}
}

// apiJSON is the Content-Type of every JSON answer of the API.
const apiJSON = echo.MIMEApplicationJSON + "; charset=UTF-8"

// writeJSON answers with v encoded by encoding/json, as
// "application/json; charset=UTF-8". Unlike c.JSON it does not read the
// query string for Echo's ?pretty: API answers have one form.
func writeJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderContentType, apiJSON)
	c.Response().WriteHeader(status)
	return json.NewEncoder(c.Response()).Encode(v)
}

// WriteJSON is writeJSON for the error handler in package web, so that
// every JSON answer has the same Content-Type.
func WriteJSON(c echo.Context, status int, v any) error { return writeJSON(c, status, v) }

// throttled refuses a verification from an address that has spent its
// allowance of failures, unless the key is one the verifier knows to be
// valid: a known key cannot be a guess, and refusing it would let one
// guesser (or a web page its visitors open) stop every service that shares
// the guesser's address. Unknown and malformed keys wait.
func (h *Handler) throttled(ip, key string) error {
	wait := h.verifyThrottle.Wait(ip)
	if wait == 0 || h.Verifier.KnownValid(key) {
		return nil
	}
	return TooManyRequests(wait, "Too many failed verifications from this address. Slow down.")
}

// APIForwardAuth is GET /api/v1/auth[?scope=S] for nginx auth_request,
// Traefik forwardAuth and Caddy forward_auth. The key comes from
// "Authorization: Bearer" or "X-API-Key", never from the URL. 200 carries
// the key's identity in X-Keyward-* headers; 401 (with WWW-Authenticate)
// for a missing or bad key; 403 for a missing scope.
func (h *Handler) APIForwardAuth(c echo.Context) error {
	ip := c.RealIP()
	key := bearerKey(c.Request())
	if err := h.throttled(ip, key); err != nil {
		return err
	}
	hdr := c.Response().Header()
	if key == "" {
		hdr.Set("WWW-Authenticate", `Bearer realm="keyward"`)
		return writeJSON(c, http.StatusUnauthorized, verifyResponse{Code: "MISSING_KEY"})
	}
	scope := ""
	if c.Request().URL.RawQuery != "" { // most proxies ask without one: skip parsing it
		scope = c.QueryParam("scope")
	}
	// The client that presented the key is the one that reached the proxy:
	// the request's address, read from X-Forwarded-For only through
	// trusted proxies (e.IPExtractor).
	res, err := h.verify(c, key, scope, ip, ip)
	if err != nil {
		return err
	}
	switch {
	case res.Valid:
		// Canonical keys written directly, the four values in one
		// allocation: this answer is the forward-auth hot path.
		v := []string{strconv.FormatInt(res.KeyID, 10), res.Owner, strings.Join(res.Scopes, ","), res.OwnerType}
		hdr["X-Keyward-Key-Id"], hdr["X-Keyward-User"], hdr["X-Keyward-Scopes"] = v[0:1:1], v[1:2:2], v[2:3:3]
		hdr["X-Keyward-Owner-Type"] = v[3:4:4]
		return c.NoContent(http.StatusOK)
	case res.Code == db.CodeInsufficientScope:
		hdr.Set("WWW-Authenticate", `Bearer realm="keyward", error="insufficient_scope", scope="`+headerSafe(scope)+`"`)
		return writeJSON(c, http.StatusForbidden, verifyResponse{Code: string(res.Code)})
	default:
		hdr.Set("WWW-Authenticate", `Bearer realm="keyward", error="invalid_token"`)
		return writeJSON(c, http.StatusUnauthorized, verifyResponse{Code: string(res.Code)})
	}
}

// verify runs the verifier, counts the outcome and feeds the throttle. Only
// malformed and unknown keys count as failures: they are what guessing looks
// like, while a revoked key retried by a stale config is not an attack.
//
// ip is the caller's address (for "last used" and the throttle); clientIP
// the address of the client that presented the key, for its allowlist.
func (h *Handler) verify(c echo.Context, key, scope, ip, clientIP string) (db.VerifyResult, error) {
	start := time.Now()
	res, err := h.Verifier.Verify(ctx(c), db.VerifyRequest{
		Key: key, Scope: scope, IP: ip, UserAgent: c.Request().UserAgent(), ClientIP: clientIP,
	})
	if err != nil {
		return res, err
	}
	h.metrics.verification(res.Code, time.Since(start))
	if res.Code == db.CodeMalformed || res.Code == db.CodeNotFound {
		h.verifyThrottle.Failure(ip)
	}
	return res, nil
}

// bearerKey reads the key from the Authorization or X-API-Key header.
func bearerKey(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		scheme, token, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// headerSafe drops characters that could break a quoted header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// Healthz is GET /healthz: 200 when the database answers, 503 with the
// code UNAVAILABLE and Retry-After when it does not, so a load balancer
// takes the instance out.
func (h *Handler) Healthz(c echo.Context) error {
	if err := h.Store.Ping(ctx(c)); err != nil {
		if errors.Is(err, db.ErrUnavailable) {
			return err
		}
		return &HTTPError{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE",
			Message: "The database does not answer.", RetryAfter: UnavailableRetryAfter}
	}
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}
