package handlers

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// backoff counts recent failures per key and, past a free allowance, makes
// the caller wait twice as long after each further failure (capped).
type backoff struct {
	mu     sync.Mutex
	now    func() time.Time
	free   int           // failures allowed before any wait
	base   time.Duration // first wait
	max    time.Duration // longest wait
	forget time.Duration // an entry with no failure for this long is dropped
	limit  int           // bound on tracked keys
	items  map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newBackoff(now func() time.Time, free int, base, max, forget time.Duration) *backoff {
	return &backoff{now: now, free: free, base: base, max: max, forget: forget, limit: 100_000, items: map[string]*failures{}}
}

// wait returns how long key must wait before its next attempt.
func (b *backoff) wait(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.items[key]
	if !ok {
		return 0
	}
	now := b.now()
	if now.Sub(f.last) >= b.forget {
		delete(b.items, key)
		return 0
	}
	if f.n < b.free {
		return 0
	}
	d := b.base << min(f.n-b.free, 20)
	if d > b.max || d <= 0 {
		d = b.max
	}
	if left := f.last.Add(d).Sub(now); left > 0 {
		return left
	}
	return 0
}

func (b *backoff) fail(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f, ok := b.items[key]
	if !ok {
		if len(b.items) >= b.limit {
			b.prune(now)
		}
		f = &failures{}
		b.items[key] = f
	}
	f.n++
	f.last = now
}

func (b *backoff) reset(key string) {
	b.mu.Lock()
	delete(b.items, key)
	b.mu.Unlock()
}

// prune drops forgotten entries, or everything if that is not enough
// (an attacker spraying keys must not grow memory without bound).
func (b *backoff) prune(now time.Time) {
	for k, f := range b.items {
		if now.Sub(f.last) >= b.forget {
			delete(b.items, k)
		}
	}
	if len(b.items) >= b.limit {
		clear(b.items)
	}
}

// loginThrottle slows password guessing: failures are counted per
// client IP (generous, since offices share an address) and per account
// (strict), and each gets its own back-off.
type loginThrottle struct {
	byIP      *backoff
	byAccount *backoff
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{
		byIP:      newBackoff(now, 20, time.Second, 15*time.Minute, time.Hour),
		byAccount: newBackoff(now, 5, time.Second, 15*time.Minute, time.Hour),
	}
}

func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func (t *loginThrottle) Wait(ip, email string) time.Duration {
	return max(t.byIP.wait(ip), t.byAccount.wait(accountKey(email)))
}

func (t *loginThrottle) Failure(ip, email string) {
	t.byIP.fail(ip)
	if email != "" {
		t.byAccount.fail(accountKey(email))
	}
}

// Success clears the account's counter but not the IP's: one good password
// must not reset a spray across many accounts from the same address.
func (t *loginThrottle) Success(_, email string) {
	t.byAccount.reset(accountKey(email))
}

// verifyThrottle slows key guessing with a token bucket per client IP
// that only failed verifications (malformed and unknown keys) drain. Once
// an address has spent it, the handlers still answer keys the verifier
// knows to be valid (Handler.throttled), so a service that shares its
// address with a guesser keeps working; what waits is whatever could be a
// guess, including a valid key this server has not yet seen.
type verifyThrottle struct {
	mu    sync.Mutex
	now   func() time.Time
	items map[string]*rate.Limiter
	limit int
}

const (
	verifyFailRate  = rate.Limit(10) // failures per second, sustained
	verifyFailBurst = 100
)

func newVerifyThrottle(now func() time.Time) *verifyThrottle {
	return &verifyThrottle{now: now, items: map[string]*rate.Limiter{}, limit: 100_000}
}

func (t *verifyThrottle) Wait(ip string) time.Duration {
	t.mu.Lock()
	l, ok := t.items[ip]
	t.mu.Unlock()
	if !ok {
		return 0
	}
	now := t.now()
	if l.TokensAt(now) >= 1 {
		return 0
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return max(d, time.Second)
}

func (t *verifyThrottle) Failure(ip string) {
	t.mu.Lock()
	l, ok := t.items[ip]
	if !ok {
		if len(t.items) >= t.limit {
			clear(t.items)
		}
		l = rate.NewLimiter(verifyFailRate, verifyFailBurst)
		t.items[ip] = l
	}
	t.mu.Unlock()
	l.AllowN(t.now(), 1)
}
