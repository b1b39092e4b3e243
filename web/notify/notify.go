// Package notify delivers what Keyward tells people: it drains the outbox
// (package db writes an event in the transaction of the change that causes
// it) into e-mails and signed webhooks. A Worker fans events out into
// deliveries, leases due ones, sends them outside any transaction and
// records each attempt; the retry schedule, the 24-hour give-up and the
// disabling of failing endpoints live with the data in db. No request
// ever waits on a delivery.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/keyward/keyward/db"
)

// Sender sends one delivery of its channel and says how it went. It never
// returns early on ctx for a send already on the wire without saying so:
// an attempt cut short by ctx reports an error and is retried.
type Sender interface {
	Send(ctx context.Context, d db.Delivery) db.AttemptResult
}

// MailSender is the e-mail channel: deliveries, and the settings page's
// "Send test e-mail", which reports the server's answer at once.
type MailSender interface {
	Sender
	SendTest(ctx context.Context, to string) (string, error)
}

// WebhookSender is the webhook channel: deliveries, and the check the
// endpoint form makes before it saves a URL.
type WebhookSender interface {
	Sender
	// CheckURL refuses a URL whose host resolves to a loopback,
	// link-local or private address, unless allowPrivate.
	CheckURL(ctx context.Context, rawURL string, allowPrivate bool) error
}

// ErrNoMail: no e-mail settings, so nothing is sent by mail.
var ErrNoMail = errors.New("notify: e-mail is not configured")

// Options tune the worker; zero values take the defaults.
type Options struct {
	// Poll is how often the worker looks for events written by other
	// instances and for retries that fell due (default 2 s). Events of
	// this process wake it at once (Wake).
	Poll time.Duration
	// Lease is how long a claimed delivery is the worker's alone (default
	// 2 min, well over a send's timeout): when a worker dies mid-send, the
	// delivery is sent again once its lease runs out.
	Lease time.Duration
	// Batch is the deliveries claimed at once (default 50), Concurrency
	// how many are sent at once (default 8).
	Batch, Concurrency int
}

func (o *Options) setDefaults() {
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
}

// Service is the notification side of one server: its channels and the
// worker that drives them.
type Service struct {
	store *db.Store
	// Mail is nil without e-mail settings.
	mail  MailSender
	hooks WebhookSender
	opt   Options
	log   *slog.Logger
	// holder names this process's leases.
	holder string
	wake   chan struct{}
	// stats counts recorded attempts for /metrics.
	stats stats
}

// New builds the service. mail is nil when no e-mail settings exist; hooks
// sends webhooks. holder is this process's unique lease name.
func New(store *db.Store, mail MailSender, hooks WebhookSender, holder string, opt Options, log *slog.Logger) *Service {
	opt.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, mail: mail, hooks: hooks, opt: opt, log: log, holder: holder,
		wake: make(chan struct{}, 1)}
}

// MailConfigured reports whether e-mail is sent at all.
func (s *Service) MailConfigured() bool { return s.mail != nil }

// SendTestEmail sends a test message to addr now and returns the mail
// server's answer.
func (s *Service) SendTestEmail(ctx context.Context, to string) (string, error) {
	if s.mail == nil {
		return "", ErrNoMail
	}
	return s.mail.SendTest(ctx, to)
}

// CheckWebhookURL is the endpoint form's check of a URL's resolved
// addresses.
func (s *Service) CheckWebhookURL(ctx context.Context, rawURL string, allowPrivate bool) error {
	if s.hooks == nil {
		return nil
	}
	return s.hooks.CheckURL(ctx, rawURL, allowPrivate)
}

// Wake makes the worker look at the outbox now. It never blocks: the
// store calls it after committing an event (db.Store.SetOutboxHook).
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run drives the worker until ctx is done: it drains what is due, then
// waits for a wake-up or the poll interval. When it stops, the deliveries
// it claimed and did not finish (cut short, or not yet begun) are handed
// back, so a restart or another instance sends them at once rather than
// after the lease; only a crash leaves them to the lease.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	defer s.release(ctx)
	for {
		for {
			n, err := s.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Error("notifications: delivery round failed", slog.String("error", err.Error()))
			}
			if n == 0 || err != nil || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// releaseTimeout bounds the hand-back of unfinished deliveries at stop.
const releaseTimeout = 5 * time.Second

// release hands back this worker's unfinished claims. It runs after ctx
// is done, so it takes a context of its own.
func (s *Service) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	n, err := s.store.ReleaseDeliveries(ctx, s.holder)
	if err != nil {
		s.log.Warn("notifications: handing back unfinished deliveries failed; they are sent again when their lease runs out",
			slog.String("error", err.Error()))
		return
	}
	if n > 0 {
		s.log.Info("notifications: handed back unfinished deliveries", slog.Int64("deliveries", n))
	}
}

// skipped logs an event fan-out had to skip because it cannot be read.
func (s *Service) skipped(eventID string, err error) {
	s.log.Error("outbox event skipped: it cannot be read, so nothing is sent for it",
		slog.String("event_id", eventID), slog.String("error", err.Error()))
}

// RunOnce fans out pending events, claims the due deliveries and sends
// them, and returns how many deliveries it attempted.
func (s *Service) RunOnce(ctx context.Context) (int, error) {
	for {
		n, err := s.store.FanOut(ctx, db.FanOutOptions{Email: s.mail != nil, Unreadable: s.skipped})
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
	}
	ds, err := s.store.ClaimDeliveries(ctx, s.holder, s.opt.Batch, s.opt.Lease)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	sem := make(chan struct{}, s.opt.Concurrency)
	var wg sync.WaitGroup
	for _, d := range ds {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.deliver(ctx, d)
		}()
	}
	wg.Wait()
	return len(ds), nil
}

// deliver sends d through its channel and records the attempt. A send cut
// short by shutdown is not recorded: the lease runs out and the delivery
// is sent again, by this process after a restart or by another instance.
func (s *Service) deliver(ctx context.Context, d db.Delivery) {
	var sender Sender
	switch d.Channel {
	case db.ChannelEmail:
		if s.mail != nil {
			sender = s.mail
		}
	case db.ChannelWebhook:
		if s.hooks != nil {
			sender = s.hooks
		}
	}
	var r db.AttemptResult
	if sender == nil {
		r = db.AttemptResult{Error: d.Channel + " is not configured on this server", Permanent: true}
	} else {
		start := time.Now()
		r = sender.Send(ctx, d)
		if r.Latency == 0 {
			r.Latency = time.Since(start)
		}
	}
	if ctx.Err() != nil {
		return
	}
	s.stats.add(d.Channel, r.OK)
	if !r.OK {
		s.log.Warn("notification delivery failed", slog.Int64("delivery", d.ID), slog.String("event", d.Event.EventID),
			slog.String("type", d.Event.Type), slog.String("channel", d.Channel), slog.Int("attempt", d.Attempts+1),
			slog.Int("status", r.StatusCode), slog.String("error", r.Error))
	}
	if err := s.store.CompleteDelivery(ctx, s.holder, d, r); err != nil && ctx.Err() == nil {
		s.log.Error("notifications: recording an attempt failed", slog.Int64("delivery", d.ID),
			slog.String("error", err.Error()))
	}
}
