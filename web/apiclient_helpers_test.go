package web

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/keyward/keyward/web/apiclient"
)

// validatingDoer sends the generated client's requests like mgmtClient
// does and holds every response to the served OpenAPI document, so the
// client's calls are checked exactly as the hand-written tests' are.
type validatingDoer struct{ c *mgmtClient }

func (d validatingDoer) Do(req *http.Request) (*http.Response, error) {
	d.c.t.Helper()
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	send := req.Clone(req.Context())
	send.Body = io.NopCloser(bytes.NewReader(body))
	hc := &http.Client{Transport: d.c.app.http.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(send)
	if err != nil {
		return nil, err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(body))
	d.c.validate(check, resp, got)
	resp.Body = io.NopCloser(bytes.NewReader(got))
	return resp, nil
}

// apiClient is the generated client (web/apiclient) of a's management API,
// authenticated with bearer, every exchange validated against the document.
func (a *testApp) apiClient(bearer string) *apiclient.ClientWithResponses {
	a.t.Helper()
	c, err := apiclient.NewClientWithResponses(a.http.URL,
		apiclient.WithHTTPClient(validatingDoer{a.mgmt(bearer)}),
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+bearer)
			return nil
		}))
	if err != nil {
		a.t.Fatalf("generated client: %v", err)
	}
	return c
}
