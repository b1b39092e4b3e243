package notify

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward/db"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real webhook receiver: it records what it gets and answers
// with status.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	hits atomic.Int64
}

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		r.hits.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func testSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func testDelivery(url, secret string) db.Delivery {
	return db.Delivery{ID: 1, Channel: db.ChannelWebhook, EndpointID: 1,
		Event: db.OutboxEvent{EventID: "msg_test1", Type: db.EventKeyRevoked,
			At:   time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC),
			Data: map[string]any{"key": map[string]any{"id": 7, "name": "deploy"}, "reason": "left"}},
		Endpoint: &db.EndpointTarget{URL: url, Secret: secret}}
}

// allowAll turns the private receivers setting on: the test receivers
// listen on loopback.
func allowAll(context.Context) bool { return true }

// TestWebhookSignedAndVerified: the receiver verifies the signature with
// the Standard Webhooks library, sees the headers and body Keyward
// promises, and rejects the same request with a tampered body. A retry
// carries the same webhook-id.
func TestWebhookSignedAndVerified(t *testing.T) {
	rcv := newReceiver(t, http.StatusNoContent)
	secret := testSecret(t)
	s := NewWebhookSender(WebhookOptions{AllowPrivate: allowAll})
	d := testDelivery(rcv.URL+"/hook", secret)
	for i := range 2 {
		if r := s.Send(context.Background(), d); !r.OK || r.StatusCode != http.StatusNoContent {
			t.Fatalf("send %d: got %+v, want OK with 204", i, r)
		}
	}
	reqs := rcv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := d.Event.WebhookBody()
	for i, req := range reqs {
		if err := wh.Verify(req.body, req.header); err != nil {
			t.Errorf("request %d: Verify: %v", i, err)
		}
		if got := string(req.body); got != string(want) {
			t.Errorf("request %d: body %s, want %s", i, got, want)
		}
		for h, want := range map[string]string{"webhook-id": "msg_test1", "Content-Type": "application/json",
			"User-Agent": "Keyward-Webhooks/1"} {
			if got := req.header.Get(h); got != want {
				t.Errorf("request %d: %s %q, want %q", i, h, got, want)
			}
		}
	}
	tampered := strings.Replace(string(reqs[0].body), `"left"`, `"stayed"`, 1)
	if tampered == string(reqs[0].body) {
		t.Fatal("tampering changed nothing")
	}
	if err := wh.Verify([]byte(tampered), reqs[0].header); err == nil {
		t.Error("Verify accepted a tampered body")
	}
	other, _ := standardwebhooks.NewWebhook(testSecret(t))
	if err := other.Verify(reqs[0].body, reqs[0].header); err == nil {
		t.Error("Verify accepted the signature under another secret")
	}
	var body struct {
		Type      string         `json:"type"`
		Timestamp time.Time      `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(reqs[0].body, &body); err != nil || body.Type != db.EventKeyRevoked || body.Data["reason"] != "left" {
		t.Errorf("body: got %+v (%v), want type key.revoked with the data", body, err)
	}
}

// TestWebhookAnswers: only a 2xx is delivered; a redirect is not followed;
// error statuses are failures with their code, retried (not permanent).
func TestWebhookAnswers(t *testing.T) {
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		followed.Add(1)
	}))
	defer target.Close()
	tests := []struct {
		name   string
		status int
		ok     bool
	}{
		{"200", http.StatusOK, true},
		{"202", http.StatusAccepted, true},
		{"302 is not followed", http.StatusFound, false},
		{"308 is not followed", http.StatusPermanentRedirect, false},
		{"404", http.StatusNotFound, false},
		{"500", http.StatusInternalServerError, false},
	}
	s := NewWebhookSender(WebhookOptions{AllowPrivate: allowAll})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", target.URL)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			r := s.Send(context.Background(), testDelivery(srv.URL, testSecret(t)))
			if r.OK != tt.ok || r.StatusCode != tt.status || r.Permanent {
				t.Errorf("got %+v, want ok %v, status %d, not permanent", r, tt.ok, tt.status)
			}
			if !tt.ok && !strings.Contains(r.Error, "HTTP") {
				t.Errorf("error %q, want the HTTP status", r.Error)
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("redirect target hit %d times, want 0", n)
	}
}

// TestWebhookTimeout: a receiver slower than the timeout is a failure (to
// be retried). The default timeout is 10 s; the test uses 200 ms.
func TestWebhookTimeout(t *testing.T) {
	if got := NewWebhookSender(WebhookOptions{}).(*webhookSender).Timeout(); got != 10*time.Second {
		t.Errorf("default timeout %v, want 10s", got)
	}
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	s := NewWebhookSender(WebhookOptions{Timeout: 200 * time.Millisecond, AllowPrivate: allowAll})
	start := time.Now()
	r := s.Send(context.Background(), testDelivery(slow.URL, testSecret(t)))
	if r.OK || r.Permanent || !strings.Contains(r.Error, "timed out") {
		t.Errorf("got %+v, want a retryable timeout", r)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("send took %v, want about the 200 ms timeout", el)
	}
}

// TestWebhookSSRFAtSend: with private receivers off, a host resolving to a
// loopback address ("localhost" through /etc/hosts, or an IP literal) is
// refused at connect time, for good, and the receiver sees nothing; plain
// http is refused too. With the setting on, the same receiver gets it.
func TestWebhookSSRFAtSend(t *testing.T) {
	rcv := newReceiver(t, http.StatusOK)
	port := rcv.URL[strings.LastIndex(rcv.URL, ":")+1:]
	tests := []struct {
		name, url, want string
	}{
		{"localhost over https", "https://localhost:" + port + "/", "loopback"},
		{"IPv4 literal over https", "https://127.0.0.1:" + port + "/", "loopback"},
		{"IPv6 literal", "https://[::1]:" + port + "/", "loopback"},
		{"metadata address", "https://169.254.169.254/latest/meta-data", "link-local"},
		{"plain http", "http://localhost:" + port + "/", "not https"},
	}
	off := NewWebhookSender(WebhookOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := off.Send(context.Background(), testDelivery(tt.url, testSecret(t)))
			if r.OK || !r.Permanent || !strings.Contains(r.Error, tt.want) {
				t.Errorf("got %+v, want a permanent refusal mentioning %q", r, tt.want)
			}
		})
	}
	if n := rcv.hits.Load(); n != 0 {
		t.Fatalf("receiver got %d requests while refused, want 0", n)
	}
	on := NewWebhookSender(WebhookOptions{AllowPrivate: allowAll})
	if r := on.Send(context.Background(), testDelivery("http://localhost:"+port+"/", testSecret(t))); !r.OK {
		t.Errorf("with private receivers allowed: got %+v, want OK", r)
	}
}

// flipResolver answers first with a public address, then with loopback:
// DNS rebinding.
type flipResolver struct{ calls atomic.Int64 }

func (f *flipResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if f.calls.Add(1) == 1 {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// TestWebhookDNSRebinding: a name that passed the form's check but
// resolves to loopback at send time is refused at send time.
func TestWebhookDNSRebinding(t *testing.T) {
	res := &flipResolver{}
	s := NewWebhookSender(WebhookOptions{Resolver: res})
	if err := s.CheckURL(context.Background(), "https://rebind.example/hook", false); err != nil {
		t.Fatalf("CheckURL with a public answer: %v", err)
	}
	r := s.Send(context.Background(), testDelivery("https://rebind.example/hook", testSecret(t)))
	if r.OK || !r.Permanent || !strings.Contains(r.Error, "127.0.0.1") {
		t.Errorf("send after rebinding: got %+v, want a permanent refusal naming 127.0.0.1", r)
	}
}

type fixedResolver map[string][]string

func (f fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if out == nil {
		return nil, &netDNSError{host}
	}
	return out, nil
}

type netDNSError struct{ host string }

func (e *netDNSError) Error() string { return "no such host " + e.host }

// TestCheckURL: the form's check, with the real resolver for localhost
// and IP literals and a fixed one for public names.
func TestCheckURL(t *testing.T) {
	res := fixedResolver{"hooks.example.com": {"93.184.216.34"}, "mixed.example.com": {"93.184.216.34", "10.0.0.5"},
		"v6.example.com": {"2606:4700::1"}, "cgnat.example.com": {"100.64.1.2"}}
	tests := []struct {
		name, url    string
		allowPrivate bool
		resolver     Resolver
		want         string // "" = accepted
	}{
		{"public https", "https://hooks.example.com/in", false, res, ""},
		{"public IPv6", "https://v6.example.com/in", false, res, ""},
		{"localhost via /etc/hosts", "https://localhost/in", false, nil, "loopback"},
		{"IP literal", "https://127.0.0.1:8443/in", false, nil, "loopback"},
		{"RFC 1918 literal", "https://192.168.1.10/in", false, nil, "private"},
		{"one private answer among public ones", "https://mixed.example.com/in", false, res, "private"},
		{"CGNAT", "https://cgnat.example.com/in", false, res, "carrier-grade"},
		{"plain http", "http://hooks.example.com/in", false, res, "https://"},
		{"does not resolve", "https://nowhere.example.com/in", false, res, "cannot resolve"},
		{"not a URL", "hooks", false, res, "absolute URL"},
		{"localhost allowed", "http://localhost:9000/in", true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewWebhookSender(WebhookOptions{Resolver: tt.resolver})
			err := s.CheckURL(context.Background(), tt.url, tt.allowPrivate)
			msg := db.FieldErrors(err)["url"]
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want accepted", err)
			case tt.want != "" && !strings.Contains(msg, tt.want):
				t.Errorf("got url error %q (%v), want one mentioning %q", msg, err, tt.want)
			}
		})
	}
}

func TestRefusedReason(t *testing.T) {
	tests := []struct {
		addr    string
		refused bool
	}{
		{"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true},
		{"169.254.169.254", true}, {"fe80::1", true},
		{"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.0.1", true}, {"fc00::1", true}, {"fd12:3456::1", true},
		{"0.0.0.0", true}, {"::", true}, {"224.0.0.1", true}, {"ff02::1", true},
		{"100.64.0.1", true}, {"100.127.255.254", true}, {"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true},
		{"255.255.255.255", true},
		{"8.8.8.8", false}, {"93.184.216.34", false}, {"100.128.0.1", false}, {"2606:4700::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got := refusedReason(netip.MustParseAddr(tt.addr))
			if (got != "") != tt.refused {
				t.Errorf("refusedReason(%s) = %q, want refused %v", tt.addr, got, tt.refused)
			}
		})
	}
}
