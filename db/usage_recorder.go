package db

import (
	"sync"
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

// usageRecorder collects successful verifications between flushes.
type usageRecorder struct {
	mu    sync.Mutex
	batch usageBatch
}

type usageBatch struct {
	keys  map[int64]*keyUse
	hours map[int64]int64 // hours since the epoch -> verifications of any key
}

// keyUse is one key's use since the last flush.
type keyUse struct {
	last   int64 // unix ms of the latest use; ip and ua belong to it
	ip, ua string
	days   []dayUse // almost always one day
	ips    []ipUse  // distinct addresses, first use of each
}

type dayUse struct{ day, count int64 }

type ipUse struct {
	ip, ua string
	at     int64
}

func newUsageBatch() usageBatch {
	return usageBatch{keys: map[int64]*keyUse{}, hours: map[int64]int64{}}
}

func (r *usageRecorder) reset() { r.batch = newUsageBatch() }

// record notes one successful verification of keyID. O(1), no allocation
// for a key already seen since the last flush.
func (r *usageRecorder) record(keyID int64, now time.Time, ip, ua string) {
	ms := now.UnixMilli()
	ip, ua = truncateUTF8(ip, maxUsageIP), truncateUTF8(ua, maxUsageUserAgent)
	r.mu.Lock()
	u := r.batch.keys[keyID]
	if u == nil {
		u = &keyUse{}
		r.batch.keys[keyID] = u
	}
	u.add(ms, ms/msPerDay, 1, ip, ua)
	r.batch.hours[ms/msPerHour]++
	r.mu.Unlock()
}

// add counts n uses on day, the latest at ms from ip with ua.
func (u *keyUse) add(ms, day, n int64, ip, ua string) {
	if ms >= u.last {
		u.last, u.ip, u.ua = ms, ip, ua
	}
	u.addDay(day, n)
	u.addIP(ipUse{ip: ip, ua: ua, at: ms})
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
}

// take hands over everything recorded so far and starts a new batch.
func (r *usageRecorder) take() usageBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.batch
	r.batch = newUsageBatch()
	return b
}

// putBack merges a batch that could not be written into the pending one,
// so a failed flush loses nothing.
func (r *usageRecorder) putBack(b usageBatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, o := range b.keys {
		if u := r.batch.keys[id]; u != nil {
			u.merge(o)
		} else {
			r.batch.keys[id] = o
		}
	}
	for h, n := range b.hours {
		r.batch.hours[h] += n
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
