package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/keyward/keyward/db"
)

// Leaked keys: anyone who finds a kw_ key where it should not be reports
// it, and the key is revoked at once (db.Store.ReportLeak). The answer is
// the same whatever was sent, so the endpoint cannot be used to test
// whether a string is a live key: same status, same headers, same body,
// and no sooner than a fixed floor after the request arrived, so that the
// few extra rows a real key's revocation writes do not show in the timing.

// maxLeakBody bounds a report: a key and a URL fit many times over. A
// longer body is read no further and treated as any other unreadable
// report (answered alike).
const maxLeakBody = 8 << 10

// DefaultLeakAnswerFloor is how long a report's answer takes at least,
// measured from its receipt: far above the database work of either path
// (about a millisecond on SQLite, a few on PostgreSQL), so that timing
// tells a real key from a guess only when the database is slower than
// this, and short enough not to bother a person reporting a key.
const DefaultLeakAnswerFloor = 250 * time.Millisecond

// Leak reports allowed per client address: a burst of leakReportBurst,
// then one every six seconds. Every report spends one, whatever it
// contained: the limit is on reporting, not on failing.
const (
	leakReportRate  = rate.Limit(1.0 / 6)
	leakReportBurst = 10
)

// leakRequest is the report's JSON body.
type leakRequest struct {
	Key string `json:"key"`
	URL string `json:"url"`
}

// leakReceived is the one answer to every report that is not rate limited.
type leakReceived struct {
	Received bool `json:"received"`
}

// APIReportLeak is POST /api/v1/keys/report-leak: {"key": "kw_…", "url":
// "where it was found (optional)"} -> 202 {"received": true}, for a real
// key, an unknown one, a malformed one, bad JSON or no body alike. Past
// the per-address allowance: 429 RATE_LIMITED with Retry-After.
func (h *Handler) APIReportLeak(c echo.Context) error {
	start := time.Now()
	ip := c.RealIP()
	if wait := h.leakThrottle.Wait(ip); wait > 0 {
		return TooManyRequests(wait, "Too many leak reports from this address. Wait a moment and try again.")
	}
	h.leakThrottle.Failure(ip) // spend one report of the allowance
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxLeakBody+1))
	var req leakRequest
	if err == nil && len(body) <= maxLeakBody {
		// Anything that does not decode is a report of nothing: it takes
		// the same path as an unknown key and gets the same answer.
		_ = json.Unmarshal(body, &req)
	}
	if _, err := h.Store.ReportLeak(ctx(c), db.LeakReport{Key: req.Key, URL: req.URL, Source: db.LeakSourceReport, IP: ip}); err != nil {
		return err
	}
	h.waitLeakFloor(ctx(c), start)
	return writeJSON(c, http.StatusAccepted, leakReceived{Received: true})
}

// waitLeakFloor waits until the answer floor after start has passed (or
// the client has gone).
func (h *Handler) waitLeakFloor(ctx context.Context, start time.Time) {
	floor := h.LeakAnswerFloor
	if floor == 0 {
		floor = DefaultLeakAnswerFloor
	}
	left := floor - time.Since(start)
	if floor < 0 || left <= 0 {
		return
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
