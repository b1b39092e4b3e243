package handlers

import (
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Every map a client can grow is bounded twice: by entries and by bytes.
// Keys are fixed-size values (a netip.Addr, a SHA-256 digest, a nonce),
// never a string the client sent, so an entry costs the same whatever was
// submitted, and the bytes a map holds are its entries times that size.
// The accounting covers keys and values; the map's own slots (a control
// byte each, and the free slots of a table that has not filled up) add at
// most as much again.

// backoffLimits bounds one back-off map.
type backoffLimits struct {
	entries int
	bytes   int
}

// backoffPolicy is how a back-off slows its keys down.
type backoffPolicy struct {
	free   int           // failures allowed before any wait
	base   time.Duration // first wait
	max    time.Duration // longest wait
	forget time.Duration // an entry with no failure for this long is dropped
}

// backoff counts recent failures per key and, past a free allowance, makes
// the caller wait twice as long after each further failure (capped).
type backoff[K comparable] struct {
	mu     sync.Mutex
	now    func() time.Time
	policy backoffPolicy
	// capacity is the most entries the map may hold: the lower of the
	// entry and byte limits.
	capacity   int
	entryBytes int
	items      map[K]failures
}

type failures struct {
	n    int
	last time.Time
}

func newBackoff[K comparable](now func() time.Time, p backoffPolicy, l backoffLimits) *backoff[K] {
	size := int(reflect.TypeFor[K]().Size() + reflect.TypeFor[failures]().Size())
	return &backoff[K]{
		now: now, policy: p, entryBytes: size,
		capacity: max(1, min(l.entries, l.bytes/size)),
		items:    map[K]failures{},
	}
}

// wait returns how long key must wait before its next attempt.
func (b *backoff[K]) wait(key K) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.items[key]
	if !ok {
		return 0
	}
	now := b.now()
	if now.Sub(f.last) >= b.policy.forget {
		delete(b.items, key)
		return 0
	}
	return b.waitOf(f, now)
}

func (b *backoff[K]) waitOf(f failures, now time.Time) time.Duration {
	if f.n < b.policy.free {
		return 0
	}
	d := b.policy.base << min(f.n-b.policy.free, 20)
	if d > b.policy.max || d <= 0 {
		d = b.policy.max
	}
	if left := f.last.Add(d).Sub(now); left > 0 {
		return left
	}
	return 0
}

// fail records a failure of key and returns how many it has in a row.
func (b *backoff[K]) fail(key K) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f, ok := b.items[key]
	if ok && now.Sub(f.last) >= b.policy.forget {
		f = failures{}
	}
	if !ok && len(b.items) >= b.capacity {
		b.prune(now)
	}
	f.n++
	f.last = now
	b.items[key] = f
	return f.n
}

func (b *backoff[K]) reset(key K) {
	b.mu.Lock()
	delete(b.items, key)
	b.mu.Unlock()
}

// bytes is what the map's entries take: entries times the fixed entry size.
func (b *backoff[K]) bytes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items) * b.entryBytes
}

// prune makes room for one entry, losing as little as it can: first the
// forgotten entries, then those still within their free allowance (they
// slow nobody down), and only then the quarter with the oldest failures.
// Someone spraying new keys, one failure each, therefore cannot push out
// the entry that is slowing down guesses at the account they are after.
func (b *backoff[K]) prune(now time.Time) {
	for k, f := range b.items {
		if now.Sub(f.last) >= b.policy.forget {
			delete(b.items, k)
		}
	}
	if len(b.items) < b.capacity {
		return
	}
	for k, f := range b.items {
		if f.n < b.policy.free {
			delete(b.items, k)
		}
	}
	if len(b.items) < b.capacity {
		return
	}
	lasts := make([]time.Time, 0, len(b.items))
	for _, f := range b.items {
		lasts = append(lasts, f.last)
	}
	slices.SortFunc(lasts, time.Time.Compare)
	cut := lasts[len(lasts)/4]
	for k, f := range b.items {
		if !f.last.After(cut) {
			delete(b.items, k)
		}
	}
}

// addrKey turns a client address into a fixed-size map key. The address
// comes from the IP extractor, so it parses; anything else shares the one
// zero key rather than growing a map with strings. Zones are dropped: they
// name a local interface, not a client.
func addrKey(ip string) netip.Addr {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// verifyThrottle slows key guessing with a token bucket per client IP
// that only failed verifications (malformed and unknown keys) drain. Once
// an address has spent it, the handlers still answer keys the verifier
// knows to be valid (Handler.throttled), so a service that shares its
// address with a guesser keeps working; what waits is whatever could be a
// guess, including a valid key this server has not yet seen.
type verifyThrottle struct {
	mu         sync.Mutex
	now        func() time.Time
	items      map[netip.Addr]*rate.Limiter
	capacity   int
	entryBytes int
	// limit and burst are each address's allowance: verification's
	// failures (verifyFailRate) or leak reports (leakReportRate).
	limit rate.Limit
	burst int
}

const (
	verifyFailRate  = rate.Limit(10) // failures per second, sustained
	verifyFailBurst = 100
)

// verifyThrottleLimits bounds the addresses tracked at once.
var verifyThrottleLimits = backoffLimits{entries: 100_000, bytes: 16 << 20}

func newVerifyThrottle(now func() time.Time) *verifyThrottle {
	return newAddrThrottle(now, verifyFailRate, verifyFailBurst)
}

// newAddrThrottle is a token bucket per client address with the given
// allowance, for whatever must be limited per address (verification
// failures, leak reports).
func newAddrThrottle(now func() time.Time, limit rate.Limit, burst int) *verifyThrottle {
	// A key and a pointer in the map, and the limiter it points to.
	size := int(reflect.TypeFor[netip.Addr]().Size() + reflect.TypeFor[*rate.Limiter]().Size() +
		reflect.TypeFor[rate.Limiter]().Size())
	return &verifyThrottle{
		now: now, items: map[netip.Addr]*rate.Limiter{}, entryBytes: size, limit: limit, burst: burst,
		capacity: min(verifyThrottleLimits.entries, verifyThrottleLimits.bytes/size),
	}
}

func (t *verifyThrottle) Wait(ip string) time.Duration {
	t.mu.Lock()
	l, ok := t.items[addrKey(ip)]
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
	key := addrKey(ip)
	t.mu.Lock()
	l, ok := t.items[key]
	if !ok {
		if len(t.items) >= t.capacity {
			t.prune()
		}
		l = rate.NewLimiter(t.limit, t.burst)
		t.items[key] = l
	}
	t.mu.Unlock()
	l.AllowN(t.now(), 1)
}

// bytes is what the map's entries take: entries times the fixed entry size.
func (t *verifyThrottle) bytes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.items) * t.entryBytes
}

// prune drops the addresses whose bucket has refilled (the same as having
// no entry), or, if that frees nothing, every address: memory stays
// bounded even when a spray of addresses keeps all buckets drained.
func (t *verifyThrottle) prune() {
	now := t.now()
	for k, l := range t.items {
		if l.TokensAt(now) >= float64(t.burst) {
			delete(t.items, k)
		}
	}
	if len(t.items) >= t.capacity {
		clear(t.items)
	}
}
