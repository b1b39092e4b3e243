package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/db"
)

// With --server (KEYWARD_SERVER) the key and user commands call a
// Keyward's management API over HTTP(S) instead of opening the database:
// the same commands, the same output, from any machine. They act as the
// person whose management token is in KEYWARD_TOKEN, with its permissions.
// The token is read from the environment only, never from a flag, so that
// it lands in neither the shell history nor the process list.

// tokenEnv is the one place the remote CLI reads its management token.
const tokenEnv = "KEYWARD_TOKEN"

// remoteTimeout bounds one management API call.
const remoteTimeout = 30 * time.Second

// maxRemoteBody bounds what is read of one answer: a page of 100 keys is
// far smaller.
const maxRemoteBody = 8 << 20

// remoteClient calls one server's management API with one token.
type remoteClient struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	token string
	http  *http.Client
}

// remote returns the management API client when --server is set, and nil
// (with no error) when the command should open the database. It refuses a
// URL it cannot use, a missing or malformed token, and http:// to a host
// other than loopback unless --insecure-http allows the token to travel
// in clear text.
func (a *app) remote() (*remoteClient, error) {
	raw, src := a.g.server.resolve(a.env)
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: %q is not a server URL like https://keys.example.com", src, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: put no credentials in the URL; the token goes in %s", src, tokenEnv)
	}
	insecureRaw, insecureSrc := a.g.insecureHTTP.resolve(a.env)
	insecure, err := strconv.ParseBool(insecureRaw)
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not true or false", insecureSrc, insecureRaw)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) && !insecure {
		return nil, fmt.Errorf("%s: refusing http:// to %s: the management token would cross the network in clear text. "+
			"Use https://, or --insecure-http (KEYWARD_INSECURE_HTTP=true) if you accept that", src, u.Host)
	}
	token := strings.TrimSpace(a.env(tokenEnv))
	if token == "" {
		return nil, fmt.Errorf("%s needs a management token in %s (there is no flag for it, so it stays out of shell history and ps): "+
			"create one on your Account page", src, tokenEnv)
	}
	if err := db.ParseAPIToken(token); err != nil {
		return nil, fmt.Errorf("%s is not a management token (kwt_…, 53 characters): create one on your Account page; "+
			"an API key (kw_…) is not accepted", tokenEnv)
	}
	return &remoteClient{
		base:  strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		token: token,
		http: &http.Client{
			Timeout: remoteTimeout,
			// A redirect could lead the token elsewhere (or to
			// http://): name it and let the operator fix --server.
			CheckRedirect: func(req *http.Request, _ []*http.Request) error {
				return fmt.Errorf("the server redirects to %s: set --server to the URL it redirects to", req.URL.Redacted())
			},
		},
	}, nil
}

// isLoopbackHost reports whether host (no port) names this machine:
// localhost or a loopback address. Traffic to it never crosses a network.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// remoteProblem is an RFC 9457 problem the management API answered.
type remoteProblem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
	KeyID int64 `json:"key_id"`
}

// Error is the problem on one line: its field messages (named by the
// flag behind each body field, as local errors are) or its detail,
// followed by its status and code for scripts and support.
func (p *remoteProblem) Error() string {
	msg := p.Detail
	if len(p.Errors) > 0 {
		parts := make([]string, 0, len(p.Errors))
		for _, f := range p.Errors {
			label := f.Location
			if field, ok := strings.CutPrefix(f.Location, "body."); ok && flagForField[field] != "" {
				label = flagForField[field]
			}
			if label == "" {
				parts = append(parts, f.Message)
				continue
			}
			parts = append(parts, label+": "+f.Message)
		}
		msg = strings.Join(parts, "; ")
	}
	if msg == "" {
		msg = p.Title
	}
	return fmt.Sprintf("%s (%d %s)", msg, p.Status, p.Code)
}

// request is one management API call.
type request struct {
	method, path string
	query        url.Values
	body         any
	// idempotent sends a fresh Idempotency-Key, as creates and rolls take.
	idempotent bool
}

// do sends req and decodes a 2xx answer into out (nil: ignore the body).
// Any other answer becomes a *remoteProblem, or an error naming the
// status when the server did not answer problem+json (a proxy's page).
func (rc *remoteClient) do(ctx context.Context, req request, out any) error {
	var body io.Reader
	if req.body != nil {
		raw, err := json.Marshal(req.body)
		if err != nil {
			return fmt.Errorf("encode the request to %s: %w", req.path, err)
		}
		body = bytes.NewReader(raw)
	}
	target := rc.base + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return fmt.Errorf("call %s: %w", req.path, err)
	}
	hr.Header.Set("Authorization", "Bearer "+rc.token)
	hr.Header.Set("Accept", "application/json, application/problem+json")
	hr.Header.Set("User-Agent", "keyward-cli/"+versionString())
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.idempotent {
		hr.Header.Set("Idempotency-Key", newIdempotencyKey())
	}
	resp, err := rc.http.Do(hr)
	if err != nil {
		// *url.Error names the URL, which holds no secret.
		return fmt.Errorf("call the server: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRemoteBody))
	if err != nil {
		return fmt.Errorf("read the answer of %s %s: %w", req.method, req.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("read the answer of %s %s: %w (is --server a Keyward?)", req.method, req.path, err)
	}
	return nil
}

// answerError turns a non-2xx answer into an error.
func answerError(resp *http.Response, raw []byte) error {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/problem+json" || ct == "application/json" {
		var p remoteProblem
		if err := json.Unmarshal(raw, &p); err == nil && (p.Code != "" || p.Detail != "") {
			if p.Status == 0 {
				p.Status = resp.StatusCode
			}
			return &p
		}
	}
	return fmt.Errorf("the server answered %s (is --server the URL of a Keyward?)", resp.Status)
}

// newIdempotencyKey names one create or roll, so that the server turns a
// repeated request into a 409 instead of a second key.
func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// apiPage is one page of a management API list.
type apiPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// remoteListAll follows a list's cursors and returns every item, as the
// local commands show every matching row.
func remoteListAll[T any](ctx context.Context, rc *remoteClient, path string, query url.Values) ([]T, error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", "100")
	var all []T
	for {
		var p apiPage[T]
		if err := rc.do(ctx, request{method: http.MethodGet, path: path, query: q}, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == nil || *p.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", *p.NextCursor)
	}
}

// remoteMe is GET /api/v1/me: whom the token acts for, with what.
type remoteMe struct {
	User struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
		Role  string `json:"role"`
	} `json:"user"`
	Token struct {
		Permissions []string `json:"permissions"`
	} `json:"token"`
}

func (m remoteMe) has(p db.Permission) bool {
	for _, have := range m.Token.Permissions {
		if have == string(p) {
			return true
		}
	}
	return false
}

func (rc *remoteClient) me(ctx context.Context) (remoteMe, error) {
	var m remoteMe
	err := rc.do(ctx, request{method: http.MethodGet, path: "/api/v1/me"}, &m)
	return m, err
}
