package db

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Usage is batched: a verification only updates a map under a mutex (no
// database, no channel that could block), and Flush writes everything seen
// since the last flush in one transaction. SQLite has one writer; a write
// per request would make "last used" the bottleneck of every API call.

const (
	msPerHour = 60 * 60 * 1000
	// maxIPsPerFlush bounds the distinct addresses remembered per key
	// between two flushes; an address beyond it is caught by a later flush.
	maxIPsPerFlush = 16
	// maxUsageIP and maxUsageUserAgent bound what a caller can make Keyward
	// store (bytes).
	maxUsageIP        = 64
	maxUsageUserAgent = 256
)

// usageRecorder collects verifications between flushes: successful uses,
// and refusals of keys that exist (see refuse).
//
// While the database is away every flush fails and puts its batch back, so
// what is pending grows with each distinct key verified. maxKeys bounds it:
// a use of a key that is already pending still counts (no memory grows),
// a use or refusal of any other key is dropped and counted in dropped, the
// figure behind keyward_usage_dropped_total. The hourly totals (one entry
// an hour, successful uses only) still count dropped uses.
type usageRecorder struct {
	mu      sync.Mutex
	batch   usageBatch
	maxKeys int
	dropped atomic.Int64 // read by metrics scrapes without the lock
}

type usageBatch struct {
	keys  map[int64]*keyUse
	hours map[int64]int64 // hours since the epoch -> verifications of any key
}

// keyUse is one key's use since the last flush. Every list is almost
// always one entry long, so a linear scan beats a map and allocates
// nothing once the entry exists.
type keyUse struct {
	last   int64 // unix ms of the latest use; ip and ua belong to it
	ip, ua string
	days   []dayUse // almost always one day
	ips    []ipUse  // distinct addresses, first use of each

	// refused is the latest refusal (at 0: none since the last flush).
	refused refusal
	refDays []refusalDay // refusals per (day, code)
	// hours are the uses and refusals per hour, hourIPs the same per
	// (hour, address) for up to maxIPsPerFlush pairs: what the anomaly
	// rules read.
	hours   []hourCount
	hourIPs []hourIP
	// agents are the distinct user agents of successful uses, first use of
	// each, up to maxAgentsPerFlush: the client families a key is used by.
	agents []ipUse
}

type dayUse struct{ day, count int64 }

type ipUse struct {
	ip, ua string
	at     int64
}

func newUsageBatch() usageBatch {
	return usageBatch{keys: map[int64]*keyUse{}, hours: map[int64]int64{}}
}

// reset empties the recorder and bounds it to maxKeys pending keys.
func (r *usageRecorder) reset(maxKeys int) {
	r.batch = newUsageBatch()
	r.maxKeys = maxKeys
}

// record notes one successful verification of keyID. O(1), no allocation
// for a key already seen since the last flush.
func (r *usageRecorder) record(keyID int64, now time.Time, ip, ua string) {
	ms := now.UnixMilli()
	ip, ua = truncateUTF8(ip, maxUsageIP), truncateUTF8(ua, maxUsageUserAgent)
	r.mu.Lock()
	r.batch.hours[ms/msPerHour]++
	u := r.pendingKey(keyID)
	if u == nil {
		r.mu.Unlock()
		r.dropped.Add(1)
		return
	}
	u.add(ms, ms/msPerDay, 1, ip, ua)
	r.mu.Unlock()
}

// pendingKey returns keyID's entry in the batch, made if there is room
// (nil when MaxPendingKeys keys are already pending). Called with r.mu held.
func (r *usageRecorder) pendingKey(keyID int64) *keyUse {
	u := r.batch.keys[keyID]
	if u == nil {
		if len(r.batch.keys) >= r.maxKeys {
			return nil
		}
		u = &keyUse{}
		r.batch.keys[keyID] = u
	}
	return u
}

// add counts n uses on day, the latest at ms from ip with ua.
func (u *keyUse) add(ms, day, n int64, ip, ua string) {
	if ms >= u.last {
		u.last, u.ip, u.ua = ms, ip, ua
	}
	u.addDay(day, n)
	u.addIP(ipUse{ip: ip, ua: ua, at: ms})
	hour := ms / msPerHour
	u.addHour(hourCount{hour: hour, uses: n})
	u.addHourIP(hourIP{hour: hour, ip: ip, uses: n})
	u.addAgent(ipUse{ip: ip, ua: ua, at: ms})
}

func (u *keyUse) addDay(day, n int64) {
	for i := range u.days {
		if u.days[i].day == day {
			u.days[i].count += n
			return
		}
	}
	u.days = append(u.days, dayUse{day: day, count: n})
}

// addIP remembers the first use from an address, up to maxIPsPerFlush.
func (u *keyUse) addIP(x ipUse) {
	if x.ip == "" {
		return
	}
	for i := range u.ips {
		if u.ips[i].ip == x.ip {
			if x.at < u.ips[i].at {
				u.ips[i] = x
			}
			return
		}
	}
	if len(u.ips) < maxIPsPerFlush {
		u.ips = append(u.ips, x)
	}
}

// merge folds other into u (a batch whose flush failed).
func (u *keyUse) merge(o *keyUse) {
	if o.last >= u.last {
		u.last, u.ip, u.ua = o.last, o.ip, o.ua
	}
	for _, d := range o.days {
		u.addDay(d.day, d.count)
	}
	for _, x := range o.ips {
		u.addIP(x)
	}
	u.mergeActivity(o)
}

// take hands over everything recorded so far and starts a new batch.
func (r *usageRecorder) take() usageBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.batch
	r.batch = newUsageBatch()
	return b
}

// putBack merges a batch that could not be written with what was recorded
// while it was being written, so a failed flush loses nothing of it. The
// failed batch comes first: it holds at most maxKeys keys, and uses
// recorded meanwhile join it as far as the bound allows (always for keys
// it already holds); the rest are dropped and counted, like any use beyond
// the bound.
func (r *usageRecorder) putBack(b usageBatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, u := range r.batch.keys {
		switch o := b.keys[id]; {
		case o != nil:
			o.merge(u)
		case len(b.keys) < r.maxKeys:
			b.keys[id] = u
		default:
			r.dropped.Add(u.uses() + u.refusals())
		}
	}
	for h, n := range r.batch.hours {
		b.hours[h] += n
	}
	r.batch = b
}

// uses is how many uses u counts, over all its days.
func (u *keyUse) uses() int64 {
	var n int64
	for _, d := range u.days {
		n += d.count
	}
	return n
}

// pending is how many keys have usage waiting for a flush.
func (r *usageRecorder) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batch.keys)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
// A cut string is a copy: a slice of it would keep the caller's whole
// header (up to 64 KiB) alive for as long as its use waits for a flush.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n])
}
