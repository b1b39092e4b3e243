package notify_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify"
)

// signingSender signs and POSTs like the webhook channel does, for the
// worker's tests; it records each send's delivery and prior attempts.
type signingSender struct {
	client *http.Client
	mu     sync.Mutex
	sends  []sendCall
}

type sendCall struct {
	delivery int64
	attempts int
	event    string
}

var _ notify.WebhookSender = (*signingSender)(nil)

func newSigningSender() *signingSender {
	return &signingSender{client: &http.Client{Timeout: 10 * time.Second}}
}

func (s *signingSender) Send(ctx context.Context, d db.Delivery) db.AttemptResult {
	s.mu.Lock()
	s.sends = append(s.sends, sendCall{d.ID, d.Attempts, d.Event.EventID})
	s.mu.Unlock()
	body, err := d.Event.WebhookBody()
	if err != nil {
		return db.AttemptResult{Error: err.Error(), Permanent: true}
	}
	wh, err := standardwebhooks.NewWebhook(d.Endpoint.Secret)
	if err != nil {
		return db.AttemptResult{Error: err.Error(), Permanent: true}
	}
	now := time.Now()
	sig, err := wh.Sign(d.Event.EventID, now, body)
	if err != nil {
		return db.AttemptResult{Error: err.Error(), Permanent: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint.URL, bytes.NewReader(body))
	if err != nil {
		return db.AttemptResult{Error: err.Error(), Permanent: true}
	}
	req.Header.Set(standardwebhooks.HeaderWebhookID, d.Event.EventID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return db.AttemptResult{Error: err.Error()}
	}
	_ = resp.Body.Close()
	r := db.AttemptResult{StatusCode: resp.StatusCode, OK: resp.StatusCode/100 == 2}
	if !r.OK {
		r.Error = resp.Status
	}
	return r
}

func (s *signingSender) CheckURL(context.Context, string, bool) error { return nil }

// calls returns the sends made so far.
func (s *signingSender) calls() []sendCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sendCall(nil), s.sends...)
}
