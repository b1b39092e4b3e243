package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Sightings are the networks and client families a key has been used
// from (key_sightings). The flush records them for successful uses, and
// the first use from a network or by a family the key never had raises
// new_network or new_agent: a key that always ran from one data centre
// with python-requests and is suddenly used from a home network by curl
// is worth a look. A key's very first sighting of a kind raises nothing
// (every key has a first use), and neither does anything in the flush
// that makes it: which of two networks seen in the same half-second came
// first is chance.

// Sighting kinds, as stored in key_sightings.kind.
const (
	sightingNetwork = "network"
	sightingAgent   = "agent"
)

// maxKnownSightings bounds sightingMemory; when full it is emptied, which
// only costs a few inserts that find their row already there.
const maxKnownSightings = 100_000

// sightingKey is one (key, kind, value) row of key_sightings.
type sightingKey struct {
	id          int64
	kind, value string
}

// sightingMemory holds the sightings a Verifier has written or found, so a
// busy key's network and client family cost no statement per flush.
// Guarded by the Verifier's flushMu.
type sightingMemory struct {
	known map[sightingKey]struct{}
	// rules are the activity rules as this flush read them (nil: not yet;
	// writeUsage forgets them at its start), so a flush reads them once at
	// most, and only when a key shows something new.
	rules *ActivityRules
}

func (m *sightingMemory) has(k sightingKey) bool {
	_, ok := m.known[k]
	return ok
}

// remember adds the sightings of a committed flush.
func (m *sightingMemory) remember(ks []sightingKey) {
	if m.known == nil {
		m.known = map[sightingKey]struct{}{}
	}
	if len(m.known)+len(ks) > maxKnownSightings {
		clear(m.known)
	}
	for _, k := range ks {
		m.known[k] = struct{}{}
	}
}

// sighting is a network or client family seen in a flush, with the first
// use that showed it.
type sighting struct {
	sightingKey
	ip, ua string
	at     int64
}

const (
	insertSightingSQL = `INSERT INTO key_sightings (key_id, kind, value, first_seen_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key_id, kind, value) DO NOTHING`
	hasSightingSQL  = `SELECT 1 FROM key_sightings WHERE key_id = ? AND kind = ? AND value <> ? LIMIT 1`
	keyAddressesSQL = `SELECT ip, first_seen_at FROM key_ips WHERE key_id = ?`
)

// noteSightings records the networks of the addresses the flush wrote
// first for key id (newAddrs) and the families of its user agents
// (agents), raising an alert for each one new to a key that already had
// sightings of its kind. It returns every sighting now known to be stored,
// for sightingMemory once the flush commits.
func (v *Verifier) noteSightings(ctx context.Context, tx *Tx, id int64, newAddrs, agents []ipUse) ([]sightingKey, error) {
	var cands []sighting
	add := func(kind, value string, x ipUse) {
		if value == "" {
			return
		}
		k := sightingKey{id, kind, value}
		if v.sightings.has(k) {
			return
		}
		for i := range cands {
			if cands[i].sightingKey == k {
				if x.at < cands[i].at {
					cands[i].ip, cands[i].ua, cands[i].at = x.ip, x.ua, x.at
				}
				return
			}
		}
		cands = append(cands, sighting{sightingKey: k, ip: x.ip, ua: x.ua, at: x.at})
	}
	for _, x := range newAddrs {
		add(sightingNetwork, networkOf(x.ip), x)
	}
	for _, x := range agents {
		add(sightingAgent, uaFamily(x.ua), x)
	}
	if len(cands) == 0 {
		return nil, nil
	}
	var stored []sightingKey
	// had: whether the key had sightings of the kind before this flush,
	// asked only once a row turns out new (after a restart, every busy
	// key's family costs one INSERT that finds its row, nothing more).
	had := map[string]bool{}
	for _, c := range cands {
		res, err := tx.execCached(ctx, insertSightingSQL, id, c.kind, c.value, c.at)
		if err != nil {
			return nil, fmt.Errorf("db: flush usage: key %d %s sighting: %w", id, c.kind, err)
		}
		stored = append(stored, c.sightingKey)
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue
		}
		h, checked := had[c.kind]
		if !checked {
			var old bool
			if h, old, err = v.hadSightings(ctx, tx, c, newAddrs); err != nil {
				return nil, err
			}
			had[c.kind] = h
			if old {
				continue
			}
		}
		if !h {
			continue
		}
		if err := v.raiseSighting(ctx, tx, c); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// hadSightings reports whether c's key had sightings of c's kind other
// than c (just written, the first new one of this flush). A key used
// before sightings existed has none, but its addresses are in key_ips: the
// first time, its networks are seeded from there (except the addresses
// this flush wrote), so an upgrade does not alert on every key, nor on a
// new address in a network the key always used: old reports that c
// itself is such a network.
func (v *Verifier) hadSightings(ctx context.Context, tx *Tx, c sighting, newAddrs []ipUse) (had, old bool, err error) {
	id, kind := c.id, c.kind
	var one int
	err = tx.queryRowCached(ctx, hasSightingSQL, id, kind, c.value).Scan(&one)
	if err == nil {
		return true, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, false, fmt.Errorf("db: flush usage: key %d sightings: %w", id, err)
	}
	if kind != sightingNetwork {
		return false, false, nil
	}
	seed, err := networksOf(ctx, tx, id, newAddrs)
	if err != nil {
		return false, false, err
	}
	_, old = seed[c.value] // the key had it all along: not new after all
	delete(seed, c.value)
	for n, at := range seed {
		if _, err := tx.execCached(ctx, insertSightingSQL, id, sightingNetwork, n, at); err != nil {
			return false, false, fmt.Errorf("db: flush usage: key %d seed networks: %w", id, err)
		}
	}
	return len(seed) > 0 || old, old, nil
}

// raiseSighting raises new_network or new_agent for c, when the rule is on
// (the sighting is recorded either way).
func (v *Verifier) raiseSighting(ctx context.Context, tx *Tx, c sighting) error {
	if v.sightings.rules == nil {
		r, err := readActivityRules(ctx, tx)
		if err != nil {
			return err
		}
		v.sightings.rules = &r
	}
	rules := v.sightings.rules
	f := AlertFinding{KeyID: c.id, At: fromMillis(c.at),
		Evidence: map[string]any{"ip": c.ip, "user_agent": c.ua}}
	switch c.kind {
	case sightingNetwork:
		if !rules.NewNetworkOn {
			return nil
		}
		f.Rule, f.Summary, f.Evidence["network"] = RuleNewNetwork, "First use from a new network "+c.value, c.value
	default:
		if !rules.NewAgentOn {
			return nil
		}
		f.Rule, f.Summary, f.Evidence["agent"] = RuleNewAgent, "First use by a new client: "+c.value, c.value
	}
	_, _, err := raiseAlert(ctx, tx, v.s.Now(), f)
	return err
}

// networksOf reads key id's addresses in key_ips, except those in skip, as
// networks with the first time each was seen.
func networksOf(ctx context.Context, tx *Tx, id int64, skip []ipUse) (map[string]int64, error) {
	rows, err := tx.QueryContext(ctx, keyAddressesSQL, id)
	if err != nil {
		return nil, fmt.Errorf("db: flush usage: key %d addresses: %w", id, err)
	}
	defer rows.Close()
	seed := map[string]int64{}
	for rows.Next() {
		var (
			ip string
			at int64
		)
		if err := rows.Scan(&ip, &at); err != nil {
			return nil, fmt.Errorf("db: flush usage: key %d addresses: %w", id, err)
		}
		if slices.ContainsFunc(skip, func(x ipUse) bool { return x.ip == ip }) {
			continue
		}
		if n := networkOf(ip); n != "" {
			if first, ok := seed[n]; !ok || at < first {
				seed[n] = at
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: flush usage: key %d addresses: %w", id, err)
	}
	return seed, nil
}
