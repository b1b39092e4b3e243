package db

import "time"

// A refusal of a key that exists (revoked, disabled, expired, waiting for
// approval, outside its allowlist, without the scope) is recorded like a
// use: in memory under the recorder's lock, written by the next flush. It
// is how a key page shows that someone still holds a revoked key, and the
// input of the dead-key rule, without a write per request: a client
// retrying a revoked key in a loop costs a map lookup, not a transaction.

// maxAgentsPerFlush bounds the distinct user agents remembered per key
// between two flushes; one beyond it is caught by a later flush.
const maxAgentsPerFlush = 8

// refusal is the latest refusal of a key: when (unix ms), from where, by
// what, and why.
type refusal struct {
	at     int64
	ip, ua string
	code   VerifyCode
}

type refusalDay struct {
	day   int64
	code  VerifyCode
	count int64
}

// hourCount is a key's uses and refusals in one hour (hours since the
// epoch).
type hourCount struct {
	hour, uses, refusals int64
}

// hourIP is a key's uses and refusals from one address in one hour.
type hourIP struct {
	hour           int64
	ip             string
	uses, refusals int64
}

// refuse notes one refusal of keyID (which exists) with code. Like record:
// O(1), no allocation for a key already pending with the same day, code,
// hour and address, and bound by MaxPendingKeys. The global hourly total
// (usage_hourly) counts successful uses only, so refusals stay out of it.
func (r *usageRecorder) refuse(keyID int64, now time.Time, ip, ua string, code VerifyCode) {
	ms := now.UnixMilli()
	ip, ua = truncateUTF8(ip, maxUsageIP), truncateUTF8(ua, maxUsageUserAgent)
	r.mu.Lock()
	u := r.pendingKey(keyID)
	if u == nil {
		r.mu.Unlock()
		r.dropped.Add(1)
		return
	}
	u.addRefusal(refusal{at: ms, ip: ip, ua: ua, code: code}, 1)
	r.mu.Unlock()
}

// addRefusal counts n refusals like x (the latest of them).
func (u *keyUse) addRefusal(x refusal, n int64) {
	if x.at >= u.refused.at {
		u.refused = x
	}
	u.addRefusalDay(refusalDay{day: x.at / msPerDay, code: x.code, count: n})
	hour := x.at / msPerHour
	u.addHour(hourCount{hour: hour, refusals: n})
	u.addHourIP(hourIP{hour: hour, ip: x.ip, refusals: n})
}

func (u *keyUse) addRefusalDay(d refusalDay) {
	for i := range u.refDays {
		if u.refDays[i].day == d.day && u.refDays[i].code == d.code {
			u.refDays[i].count += d.count
			return
		}
	}
	u.refDays = append(u.refDays, d)
}

func (u *keyUse) addHour(h hourCount) {
	for i := range u.hours {
		if u.hours[i].hour == h.hour {
			u.hours[i].uses += h.uses
			u.hours[i].refusals += h.refusals
			return
		}
	}
	u.hours = append(u.hours, h)
}

// addHourIP counts x for its (hour, address), remembering at most
// maxIPsPerFlush pairs: the flush writes them all, so the bound is what a
// key called from everywhere costs in rows.
func (u *keyUse) addHourIP(x hourIP) {
	if x.ip == "" {
		return
	}
	for i := range u.hourIPs {
		if u.hourIPs[i].hour == x.hour && u.hourIPs[i].ip == x.ip {
			u.hourIPs[i].uses += x.uses
			u.hourIPs[i].refusals += x.refusals
			return
		}
	}
	if len(u.hourIPs) < maxIPsPerFlush {
		u.hourIPs = append(u.hourIPs, x)
	}
}

// addAgent remembers the first use by a user agent, up to
// maxAgentsPerFlush.
func (u *keyUse) addAgent(x ipUse) {
	if x.ua == "" {
		return
	}
	for i := range u.agents {
		if u.agents[i].ua == x.ua {
			if x.at < u.agents[i].at {
				u.agents[i] = x
			}
			return
		}
	}
	if len(u.agents) < maxAgentsPerFlush {
		u.agents = append(u.agents, x)
	}
}

// mergeActivity folds o's refusals, hourly counts and user agents into u
// (see merge).
func (u *keyUse) mergeActivity(o *keyUse) {
	if o.refused.at != 0 && o.refused.at >= u.refused.at {
		u.refused = o.refused
	}
	for _, d := range o.refDays {
		u.addRefusalDay(d)
	}
	for _, h := range o.hours {
		u.addHour(h)
	}
	for _, x := range o.hourIPs {
		u.addHourIP(x)
	}
	for _, x := range o.agents {
		u.addAgent(x)
	}
}

// refusals is how many refusals u counts, over all its days and codes.
func (u *keyUse) refusals() int64 {
	var n int64
	for _, d := range u.refDays {
		n += d.count
	}
	return n
}
