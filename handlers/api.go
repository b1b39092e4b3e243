package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	// A body shorter than the buffer ends in an early EOF: the normal case.
	n, err := io.ReadFull(c.Request().Body, *bp)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return BadRequest("BAD_BODY", "The request body could not be read.")
	}
	body := (*bp)[:n] // recycled: decodeVerifyRequest copies what it keeps
	if len(body) > maxVerifyBody {
		return &HTTPError{Status: http.StatusRequestEntityTooLarge, Code: "BODY_TOO_LARGE",
			Message: "The request body is larger than 4 KiB."}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return BadRequest("EMPTY_BODY", `Send a JSON body: {"key": "kw_…", "scope": "optional"}.`)
	}
	req, err := decodeVerifyRequest(body)
	if err != nil {
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
		return writeVerifyJSON(c, http.StatusOK, verifyResponse{Code: string(res.Code)})
	}
	scopes := res.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return writeVerifyJSON(c, http.StatusOK, verifyResponse{Valid: true, Key: &verifyKey{
		ID: res.KeyID, Name: res.Name, Owner: res.Owner, Scopes: scopes, ExpiresAt: res.ExpiresAt,
	}})
}

// writeVerifyJSON answers with r: the same bytes and Content-Type as
// c.JSON, from a recycled buffer.
func writeVerifyJSON(c echo.Context, status int, r verifyResponse) error {
	bp := jsonBufs.Get().(*[]byte)
	b := r.appendJSON((*bp)[:0])
	err := c.JSONBlob(status, b)
	*bp = b[:0]
	jsonBufs.Put(bp)
	return err
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
		return writeVerifyJSON(c, http.StatusUnauthorized, verifyResponse{Code: "MISSING_KEY"})
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
		return writeVerifyJSON(c, http.StatusForbidden, verifyResponse{Code: string(res.Code)})
	default:
		hdr.Set("WWW-Authenticate", `Bearer realm="keyward", error="invalid_token"`)
		return writeVerifyJSON(c, http.StatusUnauthorized, verifyResponse{Code: string(res.Code)})
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

// The verify API's JSON, without encoding/json's reflection on the hot
// path. Profiling the verify endpoint under load showed Echo's c.JSON
// (reflection, an Encoder per call, a query-string parse for ?pretty) and
// json.Unmarshal as Keyward's largest costs after the network itself. Both
// directions here are exact: the encoder writes byte for byte what
// encoding/json writes for verifyResponse, and the decoder only accepts
// bodies whose meaning it is sure of, handing everything else to
// json.Unmarshal (api_json_test.go holds both to that).

// bodyBufs recycles verify request buffers of maxVerifyBody+1 bytes: one
// byte more than allowed tells a body that is too large.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, maxVerifyBody+1); return &b }}

// jsonBufs recycles response buffers; a verify answer is ~200 bytes.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendJSON appends r as encoding/json's Encoder would write it: the
// object, then a newline.
func (r *verifyResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, r.Valid)
	if r.Code != "" {
		b = append(b, `,"code":`...)
		b = appendJSONString(b, r.Code)
	}
	if k := r.Key; k != nil {
		b = append(b, `,"key":{"id":`...)
		b = strconv.AppendInt(b, k.ID, 10)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, k.Name)
		b = append(b, `,"owner":`...)
		b = appendJSONString(b, k.Owner)
		b = append(b, `,"scopes":`...)
		if k.Scopes == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, s := range k.Scopes {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, s)
			}
			b = append(b, ']')
		}
		b = append(b, `,"expires_at":`...)
		if k.ExpiresAt == nil {
			b = append(b, "null"...)
		} else {
			b = appendJSONTime(b, *k.ExpiresAt)
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

// appendJSONString quotes s. Printable ASCII other than the characters
// encoding/json escapes (" and \, and < > & for HTML safety) is copied as
// is; anything else goes through encoding/json so that escapes, invalid
// UTF-8 and U+2028/U+2029 come out exactly as it writes them.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // a string always marshals; keep the output valid regardless
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds as needed), for the years any key can have.
func appendJSONTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		q, err := t.MarshalJSON()
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, q...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// decodeVerifyRequest reads a verify body: the fast path for the plain
// form every client sends, json.Unmarshal for anything else.
func decodeVerifyRequest(body []byte) (verifyRequest, error) {
	if req, ok := decodeVerifyFast(body); ok {
		return req, nil
	}
	var req verifyRequest
	err := json.Unmarshal(body, &req)
	return req, err
}

// decodeVerifyFast parses an object whose members are all named exactly
// "key" or "scope" and whose values are strings of printable ASCII without
// escapes, with JSON whitespace anywhere between tokens. It returns false
// for anything else (other or differently cased names, escapes, non-ASCII,
// non-string values, trailing data, invalid JSON), which json.Unmarshal
// then decides, so both paths always agree. As in encoding/json, a repeated
// member's last value wins.
func decodeVerifyFast(b []byte) (verifyRequest, bool) {
	var req verifyRequest
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return req, false
	}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return req, skipJSONSpace(b, i+1) == len(b)
	}
	for {
		name, j, ok := plainJSONString(b, i)
		if !ok {
			return req, false
		}
		i = skipJSONSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return req, false
		}
		val, j, ok := plainJSONString(b, skipJSONSpace(b, i+1))
		if !ok {
			return req, false
		}
		switch string(name) {
		case "key":
			req.Key = string(val)
		case "scope":
			req.Scope = string(val)
		default:
			return req, false
		}
		i = skipJSONSpace(b, j)
		if i >= len(b) {
			return req, false
		}
		switch b[i] {
		case ',':
			i = skipJSONSpace(b, i+1)
		case '}':
			return req, skipJSONSpace(b, i+1) == len(b)
		default:
			return req, false
		}
	}
}

// plainJSONString reads a string token at b[i] made only of printable ASCII
// other than the backslash, and returns its contents and the index after
// its closing quote.
func plainJSONString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
