package main

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hookReceiver is the local webhook receiver of the notification phase:
// what a customer would run. It verifies every request with the Standard
// Webhooks library, de-duplicates by webhook-id and notes when each event
// first arrived.
type hookReceiver struct {
	srv *http.Server
	url string

	mu     sync.Mutex
	secret string
	first  map[string]time.Time // webhook-id -> first arrival
	dupes  int                  // requests for an id already received
	bad    int                  // requests whose signature did not verify
	last   time.Time
}

func startReceiver() (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &hookReceiver{first: map[string]time.Time{}, url: "http://" + ln.Addr().String() + "/keyward"}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *hookReceiver) close() { _ = r.srv.Close() }

func (r *hookReceiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad++
		http.Error(w, "signature does not verify", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	if _, ok := r.first[id]; ok {
		r.dupes++
	} else {
		r.first[id] = now
		r.last = now
	}
	w.WriteHeader(http.StatusNoContent)
}

// stats returns the distinct events received, the duplicates, the bad
// requests and the time of the latest new event.
func (r *hookReceiver) stats() (events, dupes, bad int, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first), r.dupes, r.bad, r.last
}

// firstArrival returns the earliest first arrival.
func (r *hookReceiver) firstArrival() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t time.Time
	for _, at := range r.first {
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}
