package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward/db"
)

// DefaultWebhookTimeout is how long a receiver has to answer: a slower one
// counts as a failure and is retried on the schedule.
const DefaultWebhookTimeout = 10 * time.Second

// webhookUserAgent names Keyward to receivers (and their logs).
const webhookUserAgent = "Keyward-Webhooks/1"

// WebhookOptions configure the webhook sender; zero values take defaults.
type WebhookOptions struct {
	// Timeout caps one request, from connect to the last byte of the
	// answer (default DefaultWebhookTimeout).
	Timeout time.Duration
	// AllowPrivate reports the admin setting that lets endpoints be
	// plain http:// or resolve to loopback, link-local and private
	// addresses; it is read at every send. nil: never allowed.
	AllowPrivate func(ctx context.Context) bool
	// Resolver looks up receivers' hosts (default net.DefaultResolver).
	Resolver Resolver
	// Now stamps webhook-timestamp (default time.Now).
	Now func() time.Time
}

// webhookSender signs and POSTs webhook deliveries. It keeps two clients,
// so that a connection opened while private receivers were allowed is never
// reused once the setting is turned off.
type webhookSender struct {
	opt              WebhookOptions
	public, internal *http.Client
}

// NewWebhookSender builds the webhook channel.
func NewWebhookSender(opt WebhookOptions) WebhookSender {
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultWebhookTimeout
	}
	if opt.Resolver == nil {
		opt.Resolver = net.DefaultResolver
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &webhookSender{opt: opt, public: newWebhookClient(opt, false), internal: newWebhookClient(opt, true)}
}

// newWebhookClient makes a client that dials only addresses the guard
// checked, uses no proxy (a proxy would connect where the guard cannot
// see) and follows no redirect (a 3xx is the receiver's answer, and
// following it could lead anywhere).
func newWebhookClient(opt WebhookOptions, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: opt.Timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           guardedDial(opt.Resolver, d, allowPrivate),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opt.Timeout,
		ResponseHeaderTimeout: opt.Timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   opt.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Timeout is the sender's request timeout (the settings page and tests
// read it).
func (w *webhookSender) Timeout() time.Duration { return w.opt.Timeout }

func (w *webhookSender) allowPrivate(ctx context.Context) bool {
	return w.opt.AllowPrivate != nil && w.opt.AllowPrivate(ctx)
}

// CheckURL is the endpoint form's check: the same resolution and rules as
// a send, reported as a *db.ValidationError on the field "url".
func (w *webhookSender) CheckURL(ctx context.Context, rawURL string, allowPrivate bool) error {
	return checkURL(ctx, w.opt.Resolver, rawURL, allowPrivate)
}

// Send signs d's event per Standard Webhooks and POSTs it: webhook-id is
// the event's id (the same on every retry, for de-duplication),
// webhook-timestamp the send time. A 2xx answer is delivered; anything
// else, a timeout or a refused connection is a failure, retried unless
// the guard refused the receiver.
func (w *webhookSender) Send(ctx context.Context, d db.Delivery) db.AttemptResult {
	if d.Endpoint == nil || d.Endpoint.URL == "" {
		return db.AttemptResult{Error: "the endpoint no longer exists", Permanent: true}
	}
	allow := w.allowPrivate(ctx)
	u, err := url.Parse(d.Endpoint.URL)
	if err != nil {
		return db.AttemptResult{Error: "the endpoint's URL does not parse", Permanent: true}
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && allow) {
		return db.AttemptResult{Error: "refused: the URL is not https:// and private receivers are not allowed (admin setting)",
			Permanent: true}
	}
	body, err := d.Event.WebhookBody()
	if err != nil {
		return db.AttemptResult{Error: "the event could not be encoded", Permanent: true}
	}
	wh, err := standardwebhooks.NewWebhook(d.Endpoint.Secret)
	if err != nil {
		return db.AttemptResult{Error: "the endpoint's signing secret is unusable", Permanent: true}
	}
	now := w.opt.Now()
	sig, err := wh.Sign(d.Event.EventID, now, body)
	if err != nil {
		return db.AttemptResult{Error: "signing failed", Permanent: true}
	}
	ctx, cancel := context.WithTimeout(ctx, w.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return db.AttemptResult{Error: "the request could not be built", Permanent: true}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", webhookUserAgent)
	h.Set(standardwebhooks.HeaderWebhookID, d.Event.EventID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)

	client := w.public
	if allow {
		client = w.internal
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return db.AttemptResult{Latency: time.Since(start), Error: w.describe(err), Permanent: isRefused(err)}
	}
	// Read a little of the answer so the connection can be reused; what
	// the receiver says is not kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	r := db.AttemptResult{StatusCode: resp.StatusCode, Latency: time.Since(start)}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		r.OK = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		r.Error = fmt.Sprintf("HTTP %s: redirects are not followed; register the final URL", resp.Status)
	default:
		r.Error = "HTTP " + resp.Status
	}
	return r
}

// isRefused reports whether err is the guard's refusal.
func isRefused(err error) bool {
	var refused *RefusedError
	return errors.As(err, &refused)
}

// describe turns a transport error into the delivery log's line: the
// cause, without the URL (the log shows the endpoint already).
func (w *webhookSender) describe(err error) string {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return refused.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return fmt.Sprintf("timed out after %v", w.opt.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
