package db

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// finding is what a rule saw for one key in one hour, before it is decided
// against the key's alerts (raiseFindings).
type finding struct {
	rule  string
	keyID int64
	hour  int64
	// n is the measure that must grow for a finding to be raised again
	// in the same hour: uses (spike), addresses (many addresses),
	// refusals (dead key).
	n int64
	// typical is the spike's typical hour.
	typical int64
	// lastUse is the last hour the key was used before a dormancy.
	lastUse int64
	// ended says how a dead key ended ("revoked", "expired") and when;
	// minor: under the rule's threshold, which only adds to an alert
	// already open.
	ended   string
	endedAt int64
	minor   bool
	// addresses are the many-addresses rule's evidence.
	addresses []string
}

// hourRowsSQL reads every key with a bucket in the hour (the hour index),
// with what the rules' preconditions need: the key's end, and for keys
// used in the hour when the dormancy rule is on (the first parameter),
// the last hour and the last day before it with a use. Each look-back is
// one backward step on a primary key, not a scan of the key's history.
const hourRowsSQL = `SELECT h.key_id, h.uses, h.refusals, k.revoked_at, k.expires_at,
	CASE WHEN ? = 1 AND h.uses > 0 THEN (SELECT p.hour FROM key_usage_hourly p
		WHERE p.key_id = h.key_id AND p.hour < h.hour AND p.uses > 0 ORDER BY p.hour DESC LIMIT 1) END,
	CASE WHEN ? = 1 AND h.uses > 0 THEN (SELECT d.day FROM key_usage_daily d
		WHERE d.key_id = h.key_id AND d.day < ? AND d.count > 0 ORDER BY d.day DESC LIMIT 1) END
	FROM key_usage_hourly h JOIN api_keys k ON k.id = h.key_id
	WHERE h.hour = ?`

// trailingSQL reads the spike candidates' uses over the week before the
// hour; %s is a list of key ids.
const trailingSQL = `SELECT key_id, uses FROM key_usage_hourly
	WHERE key_id IN (%s) AND hour >= ? AND hour < ? AND uses > 0`

// manyAddressesSQL finds the keys with more than ? addresses in the hour.
const manyAddressesSQL = `SELECT key_id, COUNT(*) FROM key_hour_ips WHERE hour = ?
	GROUP BY key_id HAVING COUNT(*) > ?`

// hourAddressesSQL lists a key's busiest addresses in an hour;
// hourRefusedSQL those it was refused from.
const (
	hourAddressesSQL = `SELECT ip FROM key_hour_ips WHERE key_id = ? AND hour = ?
	ORDER BY uses + refusals DESC, ip LIMIT ?`
	hourRefusedSQL = `SELECT ip FROM key_hour_ips WHERE key_id = ? AND hour = ? AND refusals > 0
	ORDER BY refusals DESC, ip LIMIT ?`
)

const (
	// spikeWindow is the hours the typical hour is taken over: a week,
	// so the quiet nights and weekends count.
	spikeWindow = 7 * 24
	// spikeTop: the 95th percentile (nearest rank) of 168 hours is the
	// 160th smallest, the 9th largest.
	spikeTop = spikeWindow - (95*spikeWindow+99)/100 + 1
	// spikeRecent is the hours spikes reads first.
	spikeRecent = 12
	// maxListedAddresses bounds the addresses an alert's evidence lists.
	maxListedAddresses = 20
)

// evaluateHour runs the rules that are on over hour h and raises what they
// find, one transaction per chunk of findings.
func (s *Store) evaluateHour(ctx context.Context, h int64, now time.Time, rules ActivityRules, rep *ActivityReport) error {
	if !rules.SpikeOn && !rules.DormantOn && !rules.DeadKeyOn && !rules.ManyAddressesOn {
		return nil
	}
	var found, spikes []finding
	rows, err := s.r.QueryContext(ctx, hourRowsSQL, boolInt(rules.DormantOn), boolInt(rules.DormantOn), h/24, h)
	start := h * msPerHour
	err = eachRow(rows, err, func() error {
		var (
			id, uses, refusals int64
			revoked, expires   sql.NullInt64
			lastHour, lastDay  sql.NullInt64
		)
		if err := rows.Scan(&id, &uses, &refusals, &revoked, &expires, &lastHour, &lastDay); err != nil {
			return err
		}
		if rules.SpikeOn && uses >= rules.SpikeMinUses {
			spikes = append(spikes, finding{rule: RuleSpike, keyID: id, hour: h, n: uses})
		}
		if rules.DormantOn && uses > 0 {
			if last, ok := lastUseBefore(lastHour, lastDay); ok && last < h-24*rules.DormantDays {
				found = append(found, finding{rule: RuleDormantUse, keyID: id, hour: h, n: uses, lastUse: last})
			}
		}
		if rules.DeadKeyOn && refusals > 0 {
			f := finding{rule: RuleDeadKey, keyID: id, hour: h, n: refusals, minor: refusals < rules.DeadKeyMinRefusals}
			switch {
			case revoked.Valid && revoked.Int64 <= start:
				f.ended, f.endedAt = "revoked", revoked.Int64
			case expires.Valid && expires.Int64 <= start:
				f.ended, f.endedAt = "expired", expires.Int64
			}
			if f.ended != "" {
				found = append(found, f)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("db: anomaly rules: read hour %d: %w", h, err)
	}
	spikes, err = s.spikes(ctx, h, rules, spikes)
	if err != nil {
		return err
	}
	found = append(found, spikes...)
	if rules.ManyAddressesOn {
		many, err := s.manyAddresses(ctx, h, rules.ManyAddresses)
		if err != nil {
			return err
		}
		found = append(found, many...)
	}
	slices.SortFunc(found, func(a, b finding) int { return cmp.Compare(a.keyID, b.keyID) })
	for chunk := range slices.Chunk(found, activityChunk) {
		if err := s.raiseFindings(ctx, chunk, now, rep); err != nil {
			return err
		}
	}
	return nil
}

// lastUseBefore is the last hour a key was used before the hour evaluated,
// from its last hourly bucket with uses and its last day with uses (days
// before the hour's day). Hourly buckets are kept 30 days and began with
// migration 0012; daily counts go back further, so a day with no hourly
// bucket of its own counts as used until its last hour, which never makes
// a dormancy longer than it was. ok is false for a key never used before:
// a first use is not a dormancy.
func lastUseBefore(lastHour, lastDay sql.NullInt64) (int64, bool) {
	switch {
	case lastHour.Valid && (!lastDay.Valid || lastHour.Int64/24 >= lastDay.Int64):
		return lastHour.Int64, true
	case lastDay.Valid:
		return lastDay.Int64*24 + 23, true
	}
	return 0, false
}

// spikes keeps the candidates (keys with at least the minimum volume in the
// hour) whose uses exceed the factor times their typical hour. It reads
// the candidates' last spikeRecent hours first: a key busy in enough of
// them to hold its typical hour up cannot be spiking (most busy services),
// and only the others have their whole week read.
func (s *Store) spikes(ctx context.Context, h int64, rules ActivityRules, cands []finding) ([]finding, error) {
	var out []finding
	for chunk := range slices.Chunk(cands, activityChunk) {
		recent, err := s.trailing(ctx, chunk, h-spikeRecent, h)
		if err != nil {
			return nil, err
		}
		var rest []finding
		for _, c := range chunk {
			// The spike fires iff the typical hour (the spikeTop-th largest)
			// is at most limit, iff fewer than spikeTop hours exceed it.
			limit, above := (c.n-1)/rules.SpikeFactor, 0
			for _, n := range recent[c.keyID] {
				if n > limit {
					above++
				}
			}
			if above < spikeTop {
				rest = append(rest, c)
			}
		}
		week, err := s.trailing(ctx, rest, h-spikeWindow, h)
		if err != nil {
			return nil, err
		}
		for _, c := range rest {
			c.typical = typicalHour(week[c.keyID])
			if c.n > rules.SpikeFactor*c.typical {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// trailing reads the uses of the keys of fs in hours [from, to), by key;
// hours without uses are left out.
func (s *Store) trailing(ctx context.Context, fs []finding, from, to int64) (map[int64][]int64, error) {
	hours := make(map[int64][]int64, len(fs))
	if len(fs) == 0 {
		return hours, nil
	}
	args := make([]any, 0, len(fs)+2)
	for _, c := range fs {
		args = append(args, c.keyID)
	}
	args = append(args, from, to)
	q := fmt.Sprintf(trailingSQL, strings.TrimSuffix(strings.Repeat("?, ", len(fs)), ", ")) // #nosec G201 -- only placeholders are formatted in
	rows, err := s.r.QueryContext(ctx, q, args...)
	err = eachRow(rows, err, func() error {
		var id, uses int64
		if err := rows.Scan(&id, &uses); err != nil {
			return err
		}
		hours[id] = append(hours[id], uses)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: anomaly rules: hours %d to %d: %w", from, to, err)
	}
	return hours, nil
}

// typicalHour is the 95th percentile (nearest rank) of a key's uses over
// the spikeWindow hours before the hour, given its hours with uses: the
// hours without any count as 0. A percentile rather than the mean, so one
// busy hour last week does not hide this one, and a few quiet days do not
// make an ordinary hour look like a spike.
func typicalHour(busy []int64) int64 {
	if len(busy) < spikeTop {
		return 0
	}
	slices.SortFunc(busy, func(a, b int64) int { return cmp.Compare(b, a) })
	return busy[spikeTop-1]
}

// manyAddresses finds the keys used or refused from more than limit
// addresses in hour h, with their busiest addresses.
func (s *Store) manyAddresses(ctx context.Context, h, limit int64) ([]finding, error) {
	rows, err := s.r.QueryContext(ctx, manyAddressesSQL, h, limit)
	var out []finding
	err = eachRow(rows, err, func() error {
		f := finding{rule: RuleManyAddresses, hour: h}
		if err := rows.Scan(&f.keyID, &f.n); err != nil {
			return err
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: anomaly rules: addresses of hour %d: %w", h, err)
	}
	for i := range out {
		if out[i].addresses, err = hourAddresses(ctx, s.r, out[i].keyID, h, false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hourAddresses lists up to maxListedAddresses of a key's addresses in
// hour h, busiest first; refusedOnly keeps those with refusals.
func hourAddresses(ctx context.Context, q querier, keyID, h int64, refusedOnly bool) ([]string, error) {
	query := hourAddressesSQL
	if refusedOnly {
		query = hourRefusedSQL
	}
	rows, err := q.QueryContext(ctx, query, keyID, h, maxListedAddresses)
	if err != nil {
		return nil, fmt.Errorf("db: anomaly rules: addresses of key %d: %w", keyID, err)
	}
	defer rows.Close()
	var ips []string
	for rows.Next() {
		var ip string
		if err := rows.Scan(&ip); err != nil {
			return nil, fmt.Errorf("db: anomaly rules: addresses of key %d: %w", keyID, err)
		}
		ips = append(ips, ip)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: anomaly rules: addresses of key %d: %w", keyID, err)
	}
	return ips, nil
}

// eachRow calls fn for each row of a query (rows and err as QueryContext
// returned them), then closes the rows: the first error stops it.
func eachRow(rows *Rows, err error, fn func() error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}
