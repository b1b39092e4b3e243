package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// VerifyCode says why a key was refused; "" when it is valid.
type VerifyCode string

// Refusal codes, in the order Verify checks them.
const (
	CodeMalformed         VerifyCode = "MALFORMED"
	CodeNotFound          VerifyCode = "NOT_FOUND"
	CodeRevoked           VerifyCode = "REVOKED"
	CodeDisabled          VerifyCode = "DISABLED"
	CodeExpired           VerifyCode = "EXPIRED"
	CodePendingApproval   VerifyCode = "PENDING_APPROVAL"
	CodeIPNotAllowed      VerifyCode = "IP_NOT_ALLOWED"
	CodeInsufficientScope VerifyCode = "INSUFFICIENT_SCOPE"
)

// VerifyCodes lists every refusal code, for whatever must know them all up
// front (the metrics series, documentation tests).
var VerifyCodes = []VerifyCode{CodeMalformed, CodeNotFound, CodeRevoked, CodeDisabled, CodeExpired,
	CodePendingApproval, CodeIPNotAllowed, CodeInsufficientScope}

// VerifyRequest is one question from a service: is Key valid (for Scope, if
// set, and presented by ClientIP)? IP and UserAgent describe the caller,
// for "last used". ClientIP is the address of the client that presented
// the key to the service ("" when unknown), checked against the key's IP
// allowlist.
type VerifyRequest struct {
	Key, Scope, IP, UserAgent, ClientIP string
}

// VerifyResult is the answer. When the key exists but is refused, only Code
// and KeyID are set (KeyID is for logs, never for the caller). Scopes is
// shared with the cache: read it, do not modify it.
type VerifyResult struct {
	Valid     bool
	Code      VerifyCode
	KeyID     int64
	Name      string
	OwnerID   int64
	Owner     string // an email, or "team:NAME"
	OwnerType string // OwnerUser or OwnerTeam
	Scopes    []string
	ExpiresAt *time.Time
	// Meta is the key's metadata, a JSON object, nil for none. Shared with
	// the cache like Scopes.
	Meta []byte
}

// VerifierOptions tune a Verifier. Zero values take the defaults.
type VerifierOptions struct {
	// CacheTTL bounds how long a cached key is trusted. Changes made by
	// another process (the CLI, a second instance) are seen within
	// ChangePoll through the database's change counter; the TTL is the
	// backstop should that counter ever be unreadable. Default 1 minute.
	CacheTTL time.Duration
	// ChangePoll is how often Run reads the change counter (key_changes,
	// moved by triggers on every change verification depends on) and drops
	// the cache when it has moved. Default 250ms, which keeps a revocation
	// made with the CLI effective within half a second, requests in flight
	// included.
	ChangePoll time.Duration
	// NegativeTTL is the same for unknown keys. Default 2s.
	NegativeTTL time.Duration
	// FlushInterval is how often Run writes recorded usage. Default 500ms:
	// a use waits for the next tick and then for the flush to commit, and
	// "last used" must be fresh within a second even on a busy server.
	FlushInterval time.Duration
	// MaxEntries bounds the cache; when full it is emptied. Default 100000.
	MaxEntries int
	// MaxPendingKeys bounds how many distinct keys may have usage waiting
	// in memory for a flush, which matters only while flushes fail (the
	// database is away): beyond it, uses of keys not already pending are
	// dropped and counted (UsageDropped). Default 100000: about 25 MB
	// when each key is used from one address (measured), at most about
	// 0.6 GB when every key holds 16 addresses with 256-byte user agents.
	MaxPendingKeys int
	// Logger receives flush failures. Default slog.Default().
	Logger *slog.Logger
}

// defaultMaxPendingKeys is VerifierOptions.MaxPendingKeys' default.
const defaultMaxPendingKeys = 100_000

// Verifier answers "is this key valid?" at close to the speed of a map
// lookup. The path: ParseKey (no database for junk) -> SHA-256 -> cache ->
// on a miss one indexed query -> checks. Every change made through the Store
// drops the cache synchronously (SetKeyChangeHook), so a revocation is
// effective on the next request; changes made elsewhere are seen within
// ChangePoll (PollChanges), and CacheTTL is the backstop.
// Usage is recorded in memory and written by Flush, so no request waits on a
// write.
type Verifier struct {
	s   *Store
	opt VerifierOptions

	// gen is bumped by every invalidation. An entry carries the generation
	// read before its query; a mismatch makes it a miss, so a lookup racing
	// with a revocation can never store a stale snapshot that outlives it.
	gen     atomic.Uint64
	shards  [cacheShards]cacheShard
	lookups atomic.Int64
	// notified counts change notifications received (see watchChanges).
	notified atomic.Int64

	usage   usageRecorder
	flushMu sync.Mutex // one flush at a time, so a failed batch merges back in order
	trouble flushTrouble

	// changes is the key_changes version PollChanges last read
	// (changesSeen: there is one).
	changesMu   sync.Mutex
	changes     int64
	changesSeen bool
	// changesLost: a poll found the database unavailable, so changes may
	// have been missed; the next poll that works drops the cache.
	changesLost bool
	// knownIPs are the (key, address) pairs Flush has written to key_ips,
	// so a busy key's address costs no statement per flush. Guarded by
	// flushMu.
	knownIPs map[keyIP]struct{}
	// sightings are the networks and client families Flush has recorded
	// (see noteSightings). Guarded by flushMu.
	sightings sightingMemory
}

// cacheShards splits the cache so concurrent verifications rarely share a
// lock; the key hash is uniformly random, so its first byte picks a shard.
const cacheShards = 64

type cacheShard struct {
	mu      sync.RWMutex
	entries map[[32]byte]cacheEntry
	// vouched holds the hashes of keys a lookup found usable, with the
	// time of that lookup. Unlike entries it survives invalidation: it
	// only says "this key existed and was valid", which lets KnownValid
	// tell a service's key from a guess after the cache was dropped.
	vouched map[[32]byte]time.Time
}

// knownValidFor is how long a key found valid stays known to KnownValid
// without being looked up again: a service that verifies at least daily
// is never mistaken for a guesser.
const knownValidFor = 24 * time.Hour

// cacheEntry is a snapshot of a key (nil: no such key) as of fetched.
type cacheEntry struct {
	snap    *keySnapshot
	gen     uint64
	fetched time.Time
}

// keySnapshot is what verification needs to know about a key.
type keySnapshot struct {
	id, ownerID int64
	owner, name string // owner: an email or "team:NAME"
	ownerType   string
	scopes      []string
	expiresAt   *time.Time
	disabled    bool // the key, or the person owning a personal key
	revoked     bool
	allowed     []netip.Prefix
	meta        []byte
	pendingKey  bool     // the key waits for approval
	pending     []string // scopes waiting for approval
}

// NewVerifier returns a Verifier for s and registers its cache invalidation
// as s's key-change hook.
func NewVerifier(s *Store, opt VerifierOptions) *Verifier {
	if opt.CacheTTL <= 0 {
		opt.CacheTTL = time.Minute
	}
	if opt.ChangePoll <= 0 {
		opt.ChangePoll = 250 * time.Millisecond
	}
	if opt.NegativeTTL <= 0 {
		opt.NegativeTTL = 2 * time.Second
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = 500 * time.Millisecond
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = 100000
	}
	if opt.MaxPendingKeys <= 0 {
		opt.MaxPendingKeys = defaultMaxPendingKeys
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	v := &Verifier{s: s, opt: opt, knownIPs: map[keyIP]struct{}{}}
	for i := range v.shards {
		v.shards[i].entries = map[[32]byte]cacheEntry{}
		v.shards[i].vouched = map[[32]byte]time.Time{}
	}
	v.usage.reset(opt.MaxPendingKeys)
	s.SetKeyChangeHook(v.invalidate)
	return v
}

// invalidate makes every cached entry a miss, then frees them.
func (v *Verifier) invalidate() {
	v.gen.Add(1)
	for i := range v.shards {
		sh := &v.shards[i]
		sh.mu.Lock()
		clear(sh.entries)
		sh.mu.Unlock()
	}
}

// Lookups counts the database queries Verify has made.
func (v *Verifier) Lookups() int64 { return v.lookups.Load() }

// Verify answers req. The error is only for a database failure; every
// refusal is a result with a Code. A use is recorded in memory for the
// next flush, and so is a refusal of a key that exists (see refuse).
func (v *Verifier) Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	if ParseKey(req.Key) != nil {
		return VerifyResult{Code: CodeMalformed}, nil
	}
	now := v.s.Now()
	snap, err := v.snapshot(ctx, HashKey(req.Key), now)
	if err != nil {
		return VerifyResult{}, err
	}
	res := check(snap, req.Scope, req.ClientIP, now)
	if res.Valid {
		v.usage.record(snap.id, now, req.IP, req.UserAgent)
	} else if res.KeyID != 0 {
		v.usage.refuse(res.KeyID, now, req.IP, req.UserAgent, res.Code)
	}
	return res, nil
}

// check applies the rules, in order, to a snapshot. Expiry is decided here
// from the snapshot's time, so a cached key still expires on the dot. The
// allowlist is checked only for keys that have one, so a key without costs
// nothing; a scope that waits for approval answers PENDING_APPROVAL, not
// INSUFFICIENT_SCOPE, so the service's operator knows whom to ask.
func check(snap *keySnapshot, scope, clientIP string, now time.Time) VerifyResult {
	switch {
	case snap == nil:
		return VerifyResult{Code: CodeNotFound}
	case snap.revoked:
		return VerifyResult{Code: CodeRevoked, KeyID: snap.id}
	case snap.disabled:
		return VerifyResult{Code: CodeDisabled, KeyID: snap.id}
	case snap.expiresAt != nil && !snap.expiresAt.After(now):
		return VerifyResult{Code: CodeExpired, KeyID: snap.id}
	case snap.pendingKey:
		return VerifyResult{Code: CodePendingApproval, KeyID: snap.id}
	case snap.allowed != nil && !ipAllowed(snap.allowed, clientIP):
		return VerifyResult{Code: CodeIPNotAllowed, KeyID: snap.id}
	case scope != "" && !slices.Contains(snap.scopes, scope):
		if slices.Contains(snap.pending, scope) {
			return VerifyResult{Code: CodePendingApproval, KeyID: snap.id}
		}
		return VerifyResult{Code: CodeInsufficientScope, KeyID: snap.id}
	}
	return VerifyResult{
		Valid: true, KeyID: snap.id, Name: snap.name, OwnerID: snap.ownerID, Owner: snap.owner,
		OwnerType: snap.ownerType, Scopes: snap.scopes, ExpiresAt: snap.expiresAt, Meta: snap.meta,
	}
}

// usable reports whether a key can be used at all (by some client, for no
// particular scope): what makes a key "known valid" to the throttle.
func usable(snap *keySnapshot, now time.Time) bool {
	return snap != nil && !snap.revoked && !snap.disabled && !snap.pendingKey &&
		(snap.expiresAt == nil || snap.expiresAt.After(now))
}

// snapshot returns the key with hash h from the cache, or from the database
// on a miss.
func (v *Verifier) snapshot(ctx context.Context, h [32]byte, now time.Time) (*keySnapshot, error) {
	sh := &v.shards[h[0]%cacheShards]
	gen := v.gen.Load()
	sh.mu.RLock()
	e, ok := sh.entries[h]
	sh.mu.RUnlock()
	if ok && e.gen == gen && now.Before(e.fetched.Add(v.ttl(e.snap))) && !now.Before(e.fetched) {
		return e.snap, nil
	}
	snap, err := v.lookup(ctx, h)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	if len(sh.entries) >= v.opt.MaxEntries/cacheShards+1 {
		clear(sh.entries)
	}
	sh.entries[h] = cacheEntry{snap: snap, gen: gen, fetched: now}
	if usable(snap, now) {
		if len(sh.vouched) >= v.opt.MaxEntries/cacheShards+1 {
			clear(sh.vouched)
		}
		sh.vouched[h] = now
	}
	sh.mu.Unlock()
	return snap, nil
}

// KnownValid reports whether key is one this verifier has found valid in
// its database within the last 24 hours. The per-address guessing throttle
// asks it before refusing a request: a key that is known cannot be a guess,
// so a service behind the same address (a NAT, a shared proxy) as a
// guesser keeps being answered. It costs no database work; unknown and
// malformed keys are simply not known.
func (v *Verifier) KnownValid(key string) bool {
	if ParseKey(key) != nil {
		return false
	}
	h := HashKey(key)
	sh := &v.shards[h[0]%cacheShards]
	sh.mu.RLock()
	at, ok := sh.vouched[h]
	sh.mu.RUnlock()
	now := v.s.Now()
	return ok && now.Sub(at) < knownValidFor && !now.Before(at)
}

func (v *Verifier) ttl(snap *keySnapshot) time.Duration {
	if snap == nil {
		return v.opt.NegativeTTL
	}
	return v.opt.CacheTTL
}

const verifyLookupSQL = `SELECT k.id, k.user_id, u.email, k.name, k.scopes, k.expires_at,
	k.disabled_at, k.revoked_at, u.disabled_at, t.name, k.allowed_ips, k.meta, k.pending_key, k.pending_scopes
	FROM api_keys k JOIN users u ON u.id = k.user_id LEFT JOIN teams t ON t.id = k.team_id
	WHERE k.key_hash = ?`

// lookup reads the key with hash h, or nil if there is none.
func (v *Verifier) lookup(ctx context.Context, h [32]byte) (*keySnapshot, error) {
	v.lookups.Add(1)
	var (
		snap                                      keySnapshot
		scopes, allowed, meta, pending            string
		expires, disabled, revoked, ownerDisabled sql.NullInt64
		team                                      sql.NullString
		pendingKey                                int64
	)
	err := v.s.r.QueryRowContext(ctx, verifyLookupSQL, h[:]).Scan(&snap.id, &snap.ownerID, &snap.owner,
		&snap.name, &scopes, &expires, &disabled, &revoked, &ownerDisabled, &team, &allowed, &meta,
		&pendingKey, &pending)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("db: verify lookup: %w", err)
	}
	snap.scopes = splitScopes(scopes)
	snap.expiresAt = timePtr(expires)
	snap.ownerType = OwnerUser
	if team.Valid {
		// A team's key does not depend on the person who made it.
		snap.owner, snap.ownerType = teamOwner(team.String), OwnerTeam
		ownerDisabled.Valid = false
	}
	snap.disabled = disabled.Valid || ownerDisabled.Valid
	snap.revoked = revoked.Valid
	snap.allowed = parseStoredPrefixes(allowed)
	if meta != "" {
		snap.meta = []byte(meta)
	}
	snap.pendingKey = pendingKey != 0
	snap.pending = splitScopes(pending)
	return &snap, nil
}

const keyChangesSQL = `SELECT version FROM key_changes WHERE id = 1`

// PollChanges reads the database's change counter and drops the cache if it
// has moved since the last poll: that is how changes made by other
// processes reach this one. The first poll only takes note. When the
// counter cannot be read the cache is dropped anyway, since nothing then
// says it is still right, except when the database is unavailable: then
// the cache keeps answering for the keys it holds, each for at most
// CacheTTL after it was read, so services keep working through a short
// outage, and the first poll that reads the counter again drops it all
// (changes made meanwhile by whoever could still reach the database).
func (v *Verifier) PollChanges(ctx context.Context) error {
	var version int64
	err := v.s.r.QueryRowContext(ctx, keyChangesSQL).Scan(&version)
	v.changesMu.Lock()
	defer v.changesMu.Unlock()
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			v.changesLost = true
		} else {
			v.invalidate()
			v.changesSeen = false
		}
		return fmt.Errorf("db: read key changes: %w", err)
	}
	if v.changesLost || (v.changesSeen && version != v.changes) {
		v.invalidate()
	}
	v.changesLost = false
	v.changes, v.changesSeen = version, true
	return nil
}

// Run flushes recorded usage every FlushInterval and follows the changes
// made elsewhere (watchChanges) until ctx is done, then flushes once more so
// a graceful shutdown loses nothing.
func (v *Verifier) Run(ctx context.Context) {
	t := time.NewTicker(v.opt.FlushInterval)
	defer t.Stop()
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		v.watchChanges(ctx)
	}()
	defer func() { <-watching }()
	for {
		select {
		case <-t.C:
			if ctx.Err() == nil {
				_ = v.Flush(ctx)
			}
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = v.Flush(final)
			cancel()
			return
		}
	}
}
