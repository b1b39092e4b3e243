package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward/db"
)

// Helpers of the outbox's process tests: a real webhook receiver, written
// as a customer would write one. It verifies each request with the
// Standard Webhooks library (a request that does not verify is refused and
// counted as bad) and de-duplicates by webhook-id: delivered counts the
// 2xx answers per id, which must be exactly one for every event. It can
// hold requests open, to catch a server mid-send.
type hookReceiver struct {
	srv *httptest.Server

	mu        sync.Mutex
	secret    string
	arrived   map[string]int // webhook-id -> verified requests
	delivered map[string]int // webhook-id -> 2xx answers
	bad       int
	hold      chan struct{}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	r := &hookReceiver{arrived: map[string]int{}, delivered: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	r.mu.Lock()
	wh, err := standardwebhooks.NewWebhook(r.secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.bad++
		r.mu.Unlock()
		http.Error(w, "signature does not verify", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	r.arrived[id]++
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done(): // the sender went away: no answer
			return
		}
	}
	r.mu.Lock()
	r.delivered[id]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// setHold makes requests from now on wait for hold (nil: answer at once).
func (r *hookReceiver) setHold(hold chan struct{}) {
	r.mu.Lock()
	r.hold = hold
	r.mu.Unlock()
}

// counts returns copies of the per-id counts and the bad requests.
func (r *hookReceiver) counts() (arrived, delivered map[string]int, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	arrived, delivered = map[string]int{}, map[string]int{}
	for k, v := range r.arrived {
		arrived[k] = v
	}
	for k, v := range r.delivered {
		delivered[k] = v
	}
	return arrived, delivered, r.bad
}

// addHookEndpoint registers the receiver on s as an endpoint subscribed to
// types, turning on the admin setting that lets endpoints be http:// and
// loopback (the receiver is both), as an admin would for a receiver
// inside the network.
func addHookEndpoint(t *testing.T, s *db.Store, r *hookReceiver, types ...string) {
	t.Helper()
	ctx := context.Background()
	if err := s.SetWebhooksAllowPrivate(ctx, true, db.CLIActor()); err != nil {
		t.Fatalf("allow private webhooks: %v", err)
	}
	_, secret, err := s.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: r.srv.URL + "/keyward",
		EventTypes: types, AllowHTTP: true}, db.CLIActor())
	if err != nil {
		t.Fatalf("create webhook endpoint: %v", err)
	}
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
}

// newIDs returns the ids in m that are not in seen.
func newIDs(m map[string]int, seen ...string) []string {
	var out []string
	for id := range m {
		known := false
		for _, s := range seen {
			known = known || s == id
		}
		if !known {
			out = append(out, id)
		}
	}
	return out
}
