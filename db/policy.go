package db

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Policy is the set of rules an admin tunes from the settings page. Each
// field is stored as one row in settings, in whole units (days, minutes or
// hours), so the values read back exactly as they were typed.
type Policy struct {
	// MaxKeyLifetime caps how long a new key may live; 0 means no cap.
	// When set, every key must have an expiry.
	MaxKeyLifetime time.Duration
	// StaleAfter: a used key unused for longer than this is stale.
	StaleAfter time.Duration
	// NeverUsedAfter: a never-used key older than this is stale.
	NeverUsedAfter time.Duration
	// AutoDisableAfter disables usable keys unused for this long (see
	// AutoDisableStale); 0 turns the job off.
	AutoDisableAfter time.Duration
	// SessionIdle and SessionAbsolute override the server's configured
	// session timeouts; 0 means "use the configuration".
	SessionIdle, SessionAbsolute time.Duration
}

const oneDay = 24 * time.Hour

// policySetting describes one Policy field as a setting: its name (also the
// form field that reports its errors), its unit, its default and the range
// allowed besides 0.
type policySetting struct {
	name       string
	unit       time.Duration
	unitName   string
	def        time.Duration
	zeroOK     bool
	minN, maxN int64
	field      func(*Policy) *time.Duration
}

// policySettings is the one table Policy and SetPolicy work from, so that a
// new rule cannot be read without also being validated and audited.
var policySettings = []policySetting{
	{"max_key_lifetime_days", oneDay, "days", 0, true, 1, 3650, func(p *Policy) *time.Duration { return &p.MaxKeyLifetime }},
	{"stale_days", oneDay, "days", DefaultStaleDays * oneDay, false, 1, 3650, func(p *Policy) *time.Duration { return &p.StaleAfter }},
	{"never_used_days", oneDay, "days", DefaultNeverUsedDays * oneDay, false, 1, 3650, func(p *Policy) *time.Duration { return &p.NeverUsedAfter }},
	{"auto_disable_days", oneDay, "days", 0, true, 1, 3650, func(p *Policy) *time.Duration { return &p.AutoDisableAfter }},
	{"session_idle_minutes", time.Minute, "minutes", 0, true, 5, 1440, func(p *Policy) *time.Duration { return &p.SessionIdle }},
	{"session_absolute_hours", time.Hour, "hours", 0, true, 1, 720, func(p *Policy) *time.Duration { return &p.SessionAbsolute }},
}

// DefaultPolicy is the policy of a fresh installation: no lifetime cap,
// stale after 90 days unused or 30 days never used, no auto-disable, and
// the configured session timeouts.
func DefaultPolicy() Policy {
	var p Policy
	for _, ps := range policySettings {
		*ps.field(&p) = ps.def
	}
	return p
}

// parse reads a stored value. A value that is not a number in range (edited
// by hand, or written by a future version) falls back to the default rather
// than failing every page that needs the policy.
func (ps policySetting) parse(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || (n == 0 && !ps.zeroOK) || (n != 0 && (n < ps.minN || n > ps.maxN)) {
		return ps.def
	}
	return time.Duration(n) * ps.unit
}

// format writes d in the setting's unit.
func (ps policySetting) format(d time.Duration) string {
	return strconv.FormatInt(int64(d/ps.unit), 10)
}

// check validates d for this setting, reporting into ve.
func (ps policySetting) check(d time.Duration, ve *ValidationError) {
	if d%ps.unit != 0 {
		ve.Add(ps.name, "Use a whole number of "+ps.unitName+".")
		return
	}
	n := int64(d / ps.unit)
	if n == 0 && ps.zeroOK {
		return
	}
	if n < ps.minN || n > ps.maxN {
		msg := fmt.Sprintf("Enter %d to %d %s", ps.minN, ps.maxN, ps.unitName)
		if ps.zeroOK {
			msg += ", or leave it empty"
		}
		ve.Add(ps.name, msg+".")
	}
}

var policySettingsSQL = func() string {
	names := make([]string, len(policySettings))
	for i, ps := range policySettings {
		names[i] = "'" + ps.name + "'"
	}
	return `SELECT name, value FROM settings WHERE name IN (` + strings.Join(names, ", ") + `)`
}()

// readPolicy reads the policy through q, the reader pool or a write
// transaction that must see the policy it is about to enforce or change.
func readPolicy(ctx context.Context, q querier) (Policy, error) {
	rows, err := q.QueryContext(ctx, policySettingsSQL)
	if err != nil {
		return Policy{}, fmt.Errorf("db: read policy: %w", err)
	}
	defer rows.Close()
	stored := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return Policy{}, fmt.Errorf("db: read policy: %w", err)
		}
		stored[name] = value
	}
	if err := rows.Err(); err != nil {
		return Policy{}, fmt.Errorf("db: read policy: %w", err)
	}
	p := DefaultPolicy()
	for _, ps := range policySettings {
		if v, ok := stored[ps.name]; ok {
			*ps.field(&p) = ps.parse(v)
		}
	}
	return p, nil
}

// Policy returns the current policy; settings never set take their defaults.
func (s *Store) Policy(ctx context.Context) (Policy, error) {
	return readPolicy(ctx, s.r)
}

// SetPolicy validates p and stores it. Only the rules that change are
// written, each audited as "setting.change" with the old and new values, so
// the audit log shows who loosened which rule and when.
func (s *Store) SetPolicy(ctx context.Context, p Policy, actor Actor) error {
	var ve ValidationError
	for _, ps := range policySettings {
		ps.check(*ps.field(&p), &ve)
	}
	if p.SessionIdle > 0 && p.SessionAbsolute > 0 && p.SessionIdle >= p.SessionAbsolute {
		ve.Add("session_idle_minutes", "Make the idle timeout shorter than the absolute session limit.")
	}
	if err := ve.Err(); err != nil {
		return err
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: set policy: %w", err)
	}
	defer tx.Rollback()
	old, err := readPolicy(ctx, tx)
	if err != nil {
		return err
	}
	now := s.Now()
	for _, ps := range policySettings {
		before, after := *ps.field(&old), *ps.field(&p)
		if before == after {
			continue
		}
		if err := setPolicySetting(ctx, tx, now, ps, before, after, actor); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: set policy: %w", err)
	}
	return nil
}

// setPolicySetting writes and audits one changed rule inside tx.
func setPolicySetting(ctx context.Context, tx *Tx, now time.Time, ps policySetting, before, after time.Duration, actor Actor) error {
	value := ps.format(after)
	if _, err := tx.ExecContext(ctx, upsertSettingSQL, ps.name, value, toMillis(now)); err != nil {
		return fmt.Errorf("db: set policy %s: %w", ps.name, err)
	}
	e := actor.event(ActionSettingChange, "setting", 0, ps.name)
	e.Detail = map[string]string{"setting": ps.name, "old": ps.format(before), "new": value}
	return insertAudit(ctx, tx, now, e)
}

// lifetimeDays renders a lifetime cap for messages.
func lifetimeDays(d time.Duration) int64 { return int64(d / oneDay) }
