package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// maxVerifyBody bounds the verify request: a key and a scope fit in far less.
const maxVerifyBody = 4 << 10

type verifyRequest struct {
	Key   string `json:"key"`
	Scope string `json:"scope"`
}

type verifyKey struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Owner     string     `json:"owner"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
}

type verifyResponse struct {
	Valid bool       `json:"valid"`
	Code  string     `json:"code,omitempty"`
	Key   *verifyKey `json:"key,omitempty"`
}

// APIVerify is POST /api/v1/keys/verify: {"key", "scope"} -> 200 with
// {"valid": true, "key": {...}} or {"valid": false, "code": "..."}. Bad
// requests (no body, not JSON, no key) are 400 with an error code.
func (h *Handler) APIVerify(c echo.Context) error {
	ip := c.RealIP()
	if wait := h.verifyThrottle.Wait(ip); wait > 0 {
		return TooManyRequests(wait, "Too many failed verifications from this address. Slow down.")
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
	var req verifyRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return BadRequest("INVALID_JSON", `The body is not valid JSON: send {"key": "kw_…", "scope": "optional"}.`)
	}
	if req.Key == "" {
		return BadRequest("MISSING_KEY", `The "key" field is required.`)
	}
	res, err := h.verify(c, req.Key, req.Scope, ip)
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
	return writeJSON(c, http.StatusOK, verifyResponse{Valid: true, Key: &verifyKey{
		ID: res.KeyID, Name: res.Name, Owner: res.Owner, Scopes: scopes, ExpiresAt: res.ExpiresAt,
	}})
}

// writeJSON answers with v encoded by encoding/json. Unlike c.JSON it
// does not read the query string for Echo's ?pretty: API answers have one
// form.
func writeJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(status)
	return json.NewEncoder(c.Response()).Encode(v)
}

// APIForwardAuth is GET /api/v1/auth[?scope=S] for nginx auth_request,
// Traefik forwardAuth and Caddy forward_auth. The key comes from
// "Authorization: Bearer" or "X-API-Key", never from the URL. 200 carries
// the key's identity in X-Keyward-* headers; 401 (with WWW-Authenticate)
// for a missing or bad key; 403 for a missing scope.
func (h *Handler) APIForwardAuth(c echo.Context) error {
	ip := c.RealIP()
	if wait := h.verifyThrottle.Wait(ip); wait > 0 {
		return TooManyRequests(wait, "Too many failed verifications from this address. Slow down.")
	}
	key := bearerKey(c.Request())
	hdr := c.Response().Header()
	if key == "" {
		hdr.Set("WWW-Authenticate", `Bearer realm="keyward"`)
		return writeJSON(c, http.StatusUnauthorized, verifyResponse{Code: "MISSING_KEY"})
	}
	scope := ""
	if c.Request().URL.RawQuery != "" { // most proxies ask without one: skip parsing it
		scope = c.QueryParam("scope")
	}
	res, err := h.verify(c, key, scope, ip)
	if err != nil {
		return err
	}
	switch {
	case res.Valid:
		// Canonical keys written directly, the three values in one
		// allocation: this answer is the forward-auth hot path.
		v := []string{strconv.FormatInt(res.KeyID, 10), res.Owner, strings.Join(res.Scopes, ",")}
		hdr["X-Keyward-Key-Id"], hdr["X-Keyward-User"], hdr["X-Keyward-Scopes"] = v[0:1:1], v[1:2:2], v[2:3:3]
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
func (h *Handler) verify(c echo.Context, key, scope, ip string) (db.VerifyResult, error) {
	start := time.Now()
	res, err := h.Verifier.Verify(ctx(c), db.VerifyRequest{
		Key: key, Scope: scope, IP: ip, UserAgent: c.Request().UserAgent(),
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

// Healthz is GET /healthz: 200 when the database answers.
func (h *Handler) Healthz(c echo.Context) error {
	if err := h.Store.Ping(ctx(c)); err != nil {
		return &HTTPError{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "The database does not answer."}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
