package notify_test

import (
	"context"
	"sync"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify"
)

// recordingSender is the real webhook sender (private receivers allowed:
// the test's receiver listens on loopback over http), recording each
// send's delivery and the attempts recorded before it.
type recordingSender struct {
	notify.WebhookSender
	mu    sync.Mutex
	sends []sendCall
}

type sendCall struct {
	delivery int64
	attempts int
	event    string
}

func newSigningSender() *recordingSender {
	return &recordingSender{WebhookSender: notify.NewWebhookSender(notify.WebhookOptions{
		AllowPrivate: func(context.Context) bool { return true }})}
}

func (s *recordingSender) Send(ctx context.Context, d db.Delivery) db.AttemptResult {
	s.mu.Lock()
	s.sends = append(s.sends, sendCall{d.ID, d.Attempts, d.Event.EventID})
	s.mu.Unlock()
	return s.WebhookSender.Send(ctx, d)
}

// calls returns the sends made so far.
func (s *recordingSender) calls() []sendCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sendCall(nil), s.sends...)
}
