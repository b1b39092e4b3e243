package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
	"github.com/keyward/keyward/db/pgtest"
)

// receiver is a real webhook receiver, as a customer would write one: it
// verifies every request with the Standard Webhooks library and
// de-duplicates by webhook-id. It can hold requests open (to catch a
// worker mid-send) and answer with the status a test chooses.
type receiver struct {
	srv *httptest.Server

	mu        sync.Mutex
	secret    string
	arrived   map[string]int // webhook-id -> requests that verified
	delivered map[string]int // webhook-id -> 2xx answers
	types     map[string]string
	bad       int // requests whose signature did not verify
	inflight  int
	maxFlight int
	requests  int
	// status answers the n-th verified request (1-based); nil: 204.
	status func(n int) int
	// hold, when set, keeps each request open until a value arrives
	// (or the client goes away, which is then not answered at all).
	hold chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{arrived: map[string]int{}, delivered: map[string]int{}, types: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// setSecret gives the receiver the endpoint's signing secret.
func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
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
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	var ev struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &ev)
	r.types[id] = ev.Type
	r.arrived[id]++
	r.requests++
	n := r.requests
	r.inflight++
	r.maxFlight = max(r.maxFlight, r.inflight)
	hold, status := r.hold, r.status
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inflight--
		r.mu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return
		}
	}
	code := http.StatusNoContent
	if status != nil {
		code = status(n)
	}
	if code/100 == 2 {
		r.mu.Lock()
		r.delivered[id]++
		r.mu.Unlock()
	}
	w.WriteHeader(code)
}

// snapshot returns copies of what the receiver counted.
func (r *receiver) snapshot() (arrived, delivered map[string]int, bad, inflight, maxFlight int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	arrived, delivered = map[string]int{}, map[string]int{}
	for k, v := range r.arrived {
		arrived[k] = v
	}
	for k, v := range r.delivered {
		delivered[k] = v
	}
	return arrived, delivered, r.bad, r.inflight, r.maxFlight
}

// typesOf returns the event type of every webhook-id received.
func (r *receiver) typesOf() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for k, v := range r.types {
		out[k] = v
	}
	return out
}

// setHold sets (or with nil, clears) the gate requests wait on.
func (r *receiver) setHold(c chan struct{}) {
	r.mu.Lock()
	r.hold = c
	r.mu.Unlock()
}

// waitFor polls cond every 10 ms until it holds, failing the test after
// within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// engines are the databases the worker tests run on.
var engines = []string{"sqlite", "postgres"}

// openStore opens an empty database of engine with clock now (nil: the
// real time).
func openStore(t *testing.T, engine string, now func() time.Time) *db.Store {
	t.Helper()
	o := db.Options{Argon2: dbtest.Argon2, Now: now}
	if engine == "sqlite" {
		s, _ := dbtest.Open(t, o)
		return s
	}
	s, err := db.Open(context.Background(), pgtest.Database(t), o)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// addEndpoint registers r as an endpoint subscribed to types.
func addEndpoint(t *testing.T, s *db.Store, r *receiver, types ...string) db.WebhookEndpoint {
	t.Helper()
	ep, secret, err := s.CreateWebhookEndpoint(context.Background(), db.WebhookInput{URL: r.srv.URL + "/hooks",
		EventTypes: types, AllowHTTP: true}, db.CLIActor())
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	r.setSecret(secret)
	return ep
}

// quietLog drops the worker's log lines.
func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
