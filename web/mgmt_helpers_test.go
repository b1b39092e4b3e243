package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

// The management API's tests go through mgmtClient, which holds every
// request it sends and every response it receives to the OpenAPI document
// the server itself serves: a response the document does not describe
// (an undeclared status, a missing or extra field, a wrong type) fails the
// test, so the document cannot drift from the code.

// openAPIValidators caches one validator per test server.
var openAPIValidators sync.Map // *testApp -> validator.Validator

// openAPIDoc fetches the served OpenAPI 3.1 document.
func (a *testApp) openAPIDoc() []byte {
	a.t.Helper()
	r := a.api(http.MethodGet, OpenAPIPath+".json", nil, nil)
	if r.StatusCode != http.StatusOK {
		a.t.Fatalf("GET %s.json: got %d, want 200", OpenAPIPath, r.StatusCode)
	}
	return []byte(r.body)
}

// openAPIValidator builds (once per server) a validator of the served
// document, and fails the test if the document itself is not valid.
func (a *testApp) openAPIValidator() validator.Validator {
	a.t.Helper()
	if v, ok := openAPIValidators.Load(a); ok {
		return v.(validator.Validator)
	}
	doc, err := libopenapi.NewDocument(a.openAPIDoc())
	if err != nil {
		a.t.Fatalf("parse the served OpenAPI document: %v", err)
	}
	v, errs := validator.NewValidator(doc, config.WithBodyDecoder("application/x-ndjson", jsonLinesDecoder()))
	if len(errs) > 0 {
		a.t.Fatalf("validator of the served OpenAPI document: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			a.t.Errorf("the served OpenAPI document is invalid: %s: %s", e.Message, e.Reason)
		}
		a.t.FailNow()
	}
	openAPIValidators.Store(a, v)
	a.t.Cleanup(func() { openAPIValidators.Delete(a) })
	return v
}

// token makes a management token for u with perms (all its role holds
// when none are given), directly in the store.
func (a *testApp) token(u db.User, perms ...db.Permission) string {
	a.t.Helper()
	if len(perms) == 0 {
		perms = db.RolePermissions(u.Role)
	}
	exp := a.clock.Now().Add(30 * 24 * time.Hour)
	_, secret, err := a.store.CreateAPIToken(context.Background(), u.ID,
		db.APITokenInput{Name: "test", Permissions: perms, ExpiresAt: &exp}, db.CLIActor())
	if err != nil {
		a.t.Fatalf("create token for %s: %v", u.Email, err)
	}
	return secret
}

// mgmtClient calls the management API with one bearer credential.
type mgmtClient struct {
	t      *testing.T
	app    *testApp
	bearer string
}

// mgmt returns a client sending "Authorization: Bearer bearer" (none when
// bearer is empty).
func (a *testApp) mgmt(bearer string) *mgmtClient {
	return &mgmtClient{t: a.t, app: a, bearer: bearer}
}

// mgmtResponse is a read, validated response.
type mgmtResponse struct {
	*http.Response
	body []byte
}

// call sends method path with body (marshalled as JSON unless it is a
// string, sent as is) and extra headers, then validates the exchange
// against the served document. It fails the test on a transport error or
// a response the document does not describe.
func (c *mgmtClient) call(method, path string, body any, hdr http.Header) mgmtResponse {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatalf("marshal request body: %v", err)
		}
	}
	newReq := func() *http.Request {
		var rd io.Reader
		if raw != nil {
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequest(method, c.app.http.URL+path, rd)
		if err != nil {
			c.t.Fatalf("new request: %v", err)
		}
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		}
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		return req
	}
	hc := &http.Client{Transport: c.app.http.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(newReq())
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	c.validate(newReq(), resp, got)
	return mgmtResponse{Response: resp, body: got}
}

// validate holds one response to the served document.
func (c *mgmtClient) validate(req *http.Request, resp *http.Response, body []byte) {
	c.t.Helper()
	v := c.app.openAPIValidator()
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	if ok, errs := v.ValidateHttpResponse(req, &check); !ok {
		for _, e := range errs {
			c.t.Errorf("%s %s → %d does not match the OpenAPI document: %s: %s\nbody: %s",
				req.Method, req.URL.Path, resp.StatusCode, e.Message, e.Reason, truncate(string(body), 600))
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (c *mgmtClient) get(path string) mgmtResponse {
	c.t.Helper()
	return c.call(http.MethodGet, path, nil, nil)
}
func (c *mgmtClient) post(path string, body any) mgmtResponse {
	c.t.Helper()
	return c.call(http.MethodPost, path, body, nil)
}

// decode unmarshals the body into v, failing the test otherwise.
func (r mgmtResponse) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", truncate(string(r.body), 300), err)
	}
}

// problem decodes a problem+json answer, failing the test if it is not one.
func (r mgmtResponse) problem(t *testing.T) handlers.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type: got %q, want application/problem+json (body %s)", ct, truncate(string(r.body), 300))
	}
	var p handlers.Problem
	r.decode(t, &p)
	if p.Status != r.StatusCode || p.Code == "" {
		t.Errorf("problem %+v: want status %d and a code", p, r.StatusCode)
	}
	return p
}

// wantProblem checks status and code of a problem answer.
func (r mgmtResponse) wantProblem(t *testing.T, status int, code string) handlers.Problem {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status: got %d, want %d (body %s)", r.StatusCode, status, truncate(string(r.body), 300))
	}
	p := r.problem(t)
	if p.Code != code {
		t.Errorf("code: got %q, want %q (detail %q)", p.Code, code, p.Detail)
	}
	return p
}
