package db

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ActivityRules are the anomaly rules' switches and thresholds, and what a
// leak report does to a key. An admin tunes them on the settings page;
// each is one row in settings, validated and audited like the Policy.
type ActivityRules struct {
	// Spike: an hour with more than SpikeFactor times the key's typical
	// hour (the 95th percentile of its hours over the trailing 7 days) and
	// at least SpikeMinUses uses.
	SpikeOn      bool
	SpikeFactor  int64
	SpikeMinUses int64
	// NewNetworkOn, NewAgentOn: the first use from a network (IPv4 /24,
	// IPv6 /48) or by a client family the key has never been used from.
	NewNetworkOn, NewAgentOn bool
	// Dormant: a use after DormantDays days without any.
	DormantOn   bool
	DormantDays int64
	// DeadKey: at least DeadKeyMinRefusals refusals in an hour of a key
	// that was revoked or had expired before that hour began.
	DeadKeyOn          bool
	DeadKeyMinRefusals int64
	// ManyAddresses: a key used or refused from more than ManyAddresses
	// distinct addresses in one hour.
	ManyAddressesOn bool
	ManyAddresses   int64
	// LeakDisable: a reported leak disables the key (reversible) instead of
	// revoking it (the default: a leaked key is burnt).
	LeakDisable bool
}

// activitySetting describes one ActivityRules field as a setting row: its
// name (also the form field that reports its errors), default and range.
// Switches are 0 or 1.
type activitySetting struct {
	name       string
	def        int64
	minN, maxN int64
	unit       string // for messages; "" for a switch
	field      func(*ActivityRules) *int64
	flag       func(*ActivityRules) *bool
}

func (as activitySetting) get(r *ActivityRules) int64 {
	if as.flag != nil {
		return int64(boolInt(*as.flag(r)))
	}
	return *as.field(r)
}

func (as activitySetting) set(r *ActivityRules, n int64) {
	if as.flag != nil {
		*as.flag(r) = n != 0
		return
	}
	*as.field(r) = n
}

// activitySettings is the one table ActivityRules is read, validated and
// written from.
var activitySettings = []activitySetting{
	{name: "alert_spike", def: 1, maxN: 1, flag: func(r *ActivityRules) *bool { return &r.SpikeOn }},
	{name: "alert_spike_factor", def: 5, minN: 2, maxN: 1000, unit: "times", field: func(r *ActivityRules) *int64 { return &r.SpikeFactor }},
	{name: "alert_spike_min_uses", def: 100, minN: 1, maxN: 1_000_000_000, unit: "uses", field: func(r *ActivityRules) *int64 { return &r.SpikeMinUses }},
	{name: "alert_new_network", def: 1, maxN: 1, flag: func(r *ActivityRules) *bool { return &r.NewNetworkOn }},
	{name: "alert_new_agent", def: 1, maxN: 1, flag: func(r *ActivityRules) *bool { return &r.NewAgentOn }},
	{name: "alert_dormant", def: 1, maxN: 1, flag: func(r *ActivityRules) *bool { return &r.DormantOn }},
	{name: "alert_dormant_days", def: 30, minN: 1, maxN: 3650, unit: "days", field: func(r *ActivityRules) *int64 { return &r.DormantDays }},
	{name: "alert_dead_key", def: 1, maxN: 1, flag: func(r *ActivityRules) *bool { return &r.DeadKeyOn }},
	{name: "alert_dead_key_min_refusals", def: 10, minN: 1, maxN: 1_000_000_000, unit: "refusals", field: func(r *ActivityRules) *int64 { return &r.DeadKeyMinRefusals }},
	{name: "alert_many_addresses", def: 1, maxN: 1, flag: func(r *ActivityRules) *bool { return &r.ManyAddressesOn }},
	{name: "alert_many_addresses_count", def: 20, minN: 2, maxN: 100_000, unit: "addresses", field: func(r *ActivityRules) *int64 { return &r.ManyAddresses }},
	{name: "leak_disable", def: 0, maxN: 1, flag: func(r *ActivityRules) *bool { return &r.LeakDisable }},
}

// DefaultActivityRules are the rules of a fresh installation: every rule
// on, a spike at 5× the typical hour and at least 100 uses, dormancy after
// 30 days, 10 refusals an hour of a dead key, more than 20 addresses an
// hour; a reported leak revokes.
func DefaultActivityRules() ActivityRules {
	var r ActivityRules
	for _, as := range activitySettings {
		as.set(&r, as.def)
	}
	return r
}

// check validates n for this setting, reporting into ve.
func (as activitySetting) check(n int64, ve *ValidationError) {
	if n < as.minN || n > as.maxN {
		if as.unit == "" {
			ve.Add(as.name, "Choose on or off.")
			return
		}
		ve.Add(as.name, fmt.Sprintf("Enter a whole number from %d to %d %s.", as.minN, as.maxN, as.unit))
	}
}

var activitySettingsSQL = func() string {
	names := make([]string, len(activitySettings))
	for i, as := range activitySettings {
		names[i] = "'" + as.name + "'"
	}
	return `SELECT name, value FROM settings WHERE name IN (` + strings.Join(names, ", ") + `)`
}()

// readActivityRules reads the rules through q. A stored value that is not a
// number in range falls back to its default rather than stopping the job.
func readActivityRules(ctx context.Context, q querier) (ActivityRules, error) {
	rows, err := q.QueryContext(ctx, activitySettingsSQL)
	if err != nil {
		return ActivityRules{}, fmt.Errorf("db: read activity rules: %w", err)
	}
	defer rows.Close()
	stored := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return ActivityRules{}, fmt.Errorf("db: read activity rules: %w", err)
		}
		stored[name] = value
	}
	if err := rows.Err(); err != nil {
		return ActivityRules{}, fmt.Errorf("db: read activity rules: %w", err)
	}
	r := DefaultActivityRules()
	for _, as := range activitySettings {
		v, ok := stored[as.name]
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= as.minN && n <= as.maxN {
			as.set(&r, n)
		}
	}
	return r, nil
}

// ActivityRules returns the current rules; settings never set take their
// defaults.
func (s *Store) ActivityRules(ctx context.Context) (ActivityRules, error) {
	return readActivityRules(ctx, s.r)
}

// SetActivityRules validates r and stores it. Only the settings that change
// are written, each audited as "setting.change" with the old and new
// values. A threshold of a rule that is off is still validated and kept,
// so turning the rule back on restores it.
func (s *Store) SetActivityRules(ctx context.Context, r ActivityRules, actor Actor) error {
	var ve ValidationError
	for _, as := range activitySettings {
		as.check(as.get(&r), &ve)
	}
	if err := ve.Err(); err != nil {
		return err
	}
	return s.inWriteTx(ctx, "set activity rules", func(tx *Tx, now time.Time) error {
		old, err := readActivityRules(ctx, tx)
		if err != nil {
			return err
		}
		for _, as := range activitySettings {
			before, after := as.get(&old), as.get(&r)
			if before == after {
				continue
			}
			value := strconv.FormatInt(after, 10)
			if _, err := tx.ExecContext(ctx, upsertSettingSQL, as.name, value, toMillis(now)); err != nil {
				return fmt.Errorf("db: set %s: %w", as.name, err)
			}
			e := actor.event(ActionSettingChange, "setting", 0, as.name)
			e.Detail = map[string]string{"setting": as.name, "old": strconv.FormatInt(before, 10), "new": value}
			if err := insertAudit(ctx, tx, now, e); err != nil {
				return err
			}
		}
		return nil
	})
}
