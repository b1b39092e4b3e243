package handlers

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"golang.org/x/time/rate"

	"github.com/keyward/keyward/db"
)

// The management API's limits, as huma middleware around every operation
// a management token authenticates:
//
//   - failed authentications are throttled per client address (apiAuthThrottle,
//     before apiAuth), with the back-off sign-in uses, so that nobody can
//     try tokens as fast as the network allows;
//   - each token may make so many calls a second (apiRateLimit, after
//     apiAuth), a token bucket per token id, announced on every answer in
//     the RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset fields
//     of draft-ietf-httpapi-ratelimit-headers, with Retry-After on a 429;
//   - every read is audited as api.read with the token's id (apiReadAudit);
//     writes already are, by the db methods they call with Caller.Actor.
//
// The buckets live in this process: behind a load balancer each instance
// allows the rate, which bounds a runaway script per instance; sign-in's
// per-account throttle is the one that must be shared, and it is.

// Defaults of the per-token rate: a script may burst 50 calls and then
// make 10 a second, enough to page through 10,000 keys in a few seconds,
// too few for one token to keep the single SQLite writer busy.
const (
	DefaultAPIRate  = 10.0
	apiBurstSeconds = 5 // the burst is this many seconds of the rate
)

// Rate limit response fields, also declared in the OpenAPI document.
const (
	HeaderRateLimitLimit     = "RateLimit-Limit"
	HeaderRateLimitRemaining = "RateLimit-Remaining"
	HeaderRateLimitReset     = "RateLimit-Reset"
	HeaderRateLimitPolicy    = "RateLimit-Policy"
)

// apiAuthPolicy slows an address that keeps presenting bad credentials:
// 20 free failures (a misconfigured script learns from the first 401),
// then 1 s, doubling up to a minute; forgotten after 10 quiet minutes.
var apiAuthPolicy = backoffPolicy{free: 20, base: time.Second, max: time.Minute, forget: 10 * time.Minute}

// apiLimitsBound bounds each limiter map like the other throttles.
var apiLimitsBound = backoffLimits{entries: 100_000, bytes: 16 << 20}

// tokenLimiter is a token bucket (rate.Limiter) per management token id,
// bounded in memory like the other throttles.
type tokenLimiter struct {
	mu         sync.Mutex
	now        func() time.Time
	rate       rate.Limit
	burst      int
	items      map[int64]*rate.Limiter
	capacity   int
	entryBytes int
}

func newTokenLimiter(now func() time.Time, perSecond float64) *tokenLimiter {
	if perSecond <= 0 {
		perSecond = DefaultAPIRate
	}
	burst := max(1, int(math.Round(perSecond*apiBurstSeconds)))
	// A key and a pointer in the map, and the limiter it points to.
	size := int(reflect.TypeFor[int64]().Size() + reflect.TypeFor[*rate.Limiter]().Size() + reflect.TypeFor[rate.Limiter]().Size())
	return &tokenLimiter{now: now, rate: rate.Limit(perSecond), burst: burst, items: map[int64]*rate.Limiter{},
		entryBytes: size, capacity: max(1, min(apiLimitsBound.entries, apiLimitsBound.bytes/size))}
}

// rateState is what one call learned from the bucket.
type rateState struct {
	allowed   bool
	remaining int           // whole calls left now
	reset     time.Duration // until the bucket is full again
	retry     time.Duration // until the next call is allowed (when refused)
}

// take spends one call of token id's allowance, if there is one.
func (l *tokenLimiter) take(id int64) rateState {
	now := l.now()
	l.mu.Lock()
	b, ok := l.items[id]
	if !ok {
		if len(l.items) >= l.capacity {
			l.prune(now)
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.items[id] = b
	}
	l.mu.Unlock()
	st := rateState{allowed: b.AllowN(now, 1)}
	if !st.allowed {
		r := b.ReserveN(now, 1)
		st.retry = r.DelayFrom(now)
		r.CancelAt(now)
	}
	tokens := b.TokensAt(now)
	st.remaining = max(0, int(math.Floor(tokens)))
	st.reset = time.Duration((float64(l.burst) - tokens) / float64(l.rate) * float64(time.Second))
	return st
}

// prune drops the tokens whose bucket has refilled (the same as having no
// entry), or, if that frees nothing, every entry: memory stays bounded
// even if more tokens call at once than the map may hold.
func (l *tokenLimiter) prune(now time.Time) {
	for id, b := range l.items {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.items, id)
		}
	}
	if len(l.items) >= l.capacity {
		clear(l.items)
	}
}

// bytes is what the map's entries take.
func (l *tokenLimiter) bytes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items) * l.entryBytes
}

// ceilSeconds rounds d up to whole seconds, as the header fields want.
func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// apiAuthThrottle refuses, with 429 and Retry-After, calls from an address
// that has failed to authenticate too often, before any token is looked
// up; it counts the 401s apiAuth answers.
func (h *Handler) apiAuthThrottle(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		if !usesScheme(ctx.Operation(), SchemeToken) {
			next(ctx)
			return
		}
		addr := addrKey(humaecho.Unwrap(ctx).RealIP())
		if wait := h.apiAuthFailures.wait(addr); wait > 0 {
			_ = huma.WriteErr(api, ctx, http.StatusTooManyRequests, "", TooManyRequests(wait,
				"Too many failed authentications from your address. Try again in "+plural(ceilSeconds(wait), "second")+"."))
			return
		}
		next(ctx)
		if ctx.Status() == http.StatusUnauthorized {
			h.apiAuthFailures.fail(addr)
		}
	}
}

// apiRateLimit spends one call of the caller's token and announces what
// is left; past the allowance it answers 429 RATE_LIMITED.
func (h *Handler) apiRateLimit(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		c := callerFrom(ctx.Context())
		if c == nil {
			next(ctx)
			return
		}
		st := h.apiLimiter.take(c.Token.ID)
		ctx.SetHeader(HeaderRateLimitLimit, strconv.Itoa(h.apiLimiter.burst))
		ctx.SetHeader(HeaderRateLimitRemaining, strconv.Itoa(st.remaining))
		ctx.SetHeader(HeaderRateLimitReset, strconv.Itoa(ceilSeconds(st.reset)))
		ctx.SetHeader(HeaderRateLimitPolicy, fmt.Sprintf("%d;w=%d", h.apiLimiter.burst, apiBurstSeconds))
		if !st.allowed {
			_ = huma.WriteErr(api, ctx, http.StatusTooManyRequests, "", TooManyRequests(max(st.retry, time.Second),
				fmt.Sprintf("This token may make %d calls at once and %g a second after that. Slow down.", h.apiLimiter.burst, float64(h.apiLimiter.rate))))
			return
		}
		next(ctx)
	}
}

// apiReadAudit records each read (GET) a token makes as an api.read event:
// who (the person and the token id), which route, and how it was answered.
// Writes are audited by the db methods that make them, in their own
// transaction; a read changes nothing, so its event is written after the
// answer is decided, and a failure to write it is logged and counted, not
// turned into an error for a read that already succeeded.
func (h *Handler) apiReadAudit(ctx huma.Context, next func(huma.Context)) {
	c := callerFrom(ctx.Context())
	if c == nil || (ctx.Method() != http.MethodGet && ctx.Method() != http.MethodHead) {
		next(ctx)
		return
	}
	next(ctx)
	op := ctx.Operation()
	e := db.AuditEvent{ActorID: c.User.ID, Actor: c.User.Email, Action: db.ActionAPIRead, TargetType: "token",
		TargetID: c.Token.ID, Target: c.Token.Name, IP: c.IP, TokenID: c.Token.ID,
		Detail: map[string]string{"method": ctx.Method(), "route": op.Path, "operation": op.OperationID,
			"status": strconv.Itoa(ctx.Status())}}
	if err := h.Store.Audit(ctx.Context(), e); err != nil {
		h.metrics.auditFailures.Inc()
		h.Logger.ErrorContext(ctx.Context(), "audit write failed", "action", e.Action, "error", err.Error())
	}
}

// declareRateLimitFields adds the rate limit fields to every response of
// every operation a token authenticates, as operations are added: the
// document says what the middleware sends, and the tests' validating
// client holds answers to it. They are required on successes; a refusal
// before the token is known (401, or a 429 for the address) has none.
func declareRateLimitFields(_ *huma.OpenAPI, op *huma.Operation) {
	if !usesScheme(op, SchemeToken) {
		return
	}
	integer := func(desc string, required bool) *huma.Param {
		return &huma.Param{Description: desc, Required: required, Schema: &huma.Schema{Type: "integer", Minimum: new(float64)}}
	}
	for code, resp := range op.Responses {
		n, _ := strconv.Atoi(code)
		ok := n >= 200 && n < 300
		if resp.Headers == nil {
			resp.Headers = map[string]*huma.Param{}
		}
		resp.Headers[HeaderRateLimitLimit] = integer("Calls the token may make at once (the burst of its allowance).", ok)
		resp.Headers[HeaderRateLimitRemaining] = integer("Calls left now.", ok)
		resp.Headers[HeaderRateLimitReset] = integer("Seconds until the allowance is whole again.", ok)
		resp.Headers[HeaderRateLimitPolicy] = &huma.Param{Description: `The allowance as "LIMIT;w=WINDOW" (calls per window of seconds).`,
			Required: ok, Schema: &huma.Schema{Type: "string"}}
		if n == http.StatusTooManyRequests {
			resp.Headers["Retry-After"] = integer("Seconds to wait before calling again.", false)
		}
	}
}

// newAPIAuthFailures is the per-address back-off of failed token
// authentications.
func newAPIAuthFailures(now func() time.Time) *backoff[netip.Addr] {
	return newBackoff[netip.Addr](now, apiAuthPolicy, apiLimitsBound)
}
