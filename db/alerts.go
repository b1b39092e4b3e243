package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Alert rules: what an alert found. Stored as-is and published (the
// alert.opened webhook, the Alerts page filter), so they never change once
// shipped; new ones are only added.
const (
	// RuleSpike: an hour's uses far above the key's typical hour.
	RuleSpike = "spike"
	// RuleNewNetwork: the first use from a network (IPv4 /24, IPv6 /48)
	// the key had never been used from.
	RuleNewNetwork = "new_network"
	// RuleNewAgent: the first use by a client family (curl, Chrome, …)
	// the key had never been used by.
	RuleNewAgent = "new_agent"
	// RuleDormantUse: a use after the key went unused for days.
	RuleDormantUse = "dormant_use"
	// RuleDeadKey: a revoked or expired key still being presented.
	RuleDeadKey = "dead_key"
	// RuleManyAddresses: a key used from many addresses in one hour.
	RuleManyAddresses = "many_addresses"
	// RuleLeakReported: someone reported the key as leaked (the
	// report-leak endpoint or GitHub's secret scanning).
	RuleLeakReported = "leak_reported"
)

// AlertRules lists every rule, in the order pages list them.
func AlertRules() []string {
	return []string{RuleDeadKey, RuleLeakReported, RuleSpike, RuleManyAddresses, RuleNewNetwork,
		RuleNewAgent, RuleDormantUse}
}

// Alert statuses. An acknowledged alert is still open: the rule firing
// again updates it instead of opening another.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// EventAlertOpened is the notifiable event of a newly opened alert (not of
// its updates while it stays open).
const EventAlertOpened = "alert.opened"

// AlertFinding is what a rule found about a key at At: the one line people
// read (Summary) and the numbers and addresses behind it (Evidence, a JSON
// object). A finding for a key that has an unresolved alert of the same
// rule updates that alert: its summary and evidence are replaced (a caller
// that accumulates, such as the dead-key rule's attempt count, reads the
// open alert first with openAlert), last_seen_at moves to At and
// occurrences grows by one.
type AlertFinding struct {
	Rule     string
	KeyID    int64
	At       time.Time
	Summary  string
	Evidence map[string]any
}

// raiseAlertSQL opens an alert or updates the unresolved one of the same
// rule and key; alerts_open (a unique index over unresolved alerts) makes
// that hold between instances too. occurrences = 1 after it: newly opened.
const raiseAlertSQL = `INSERT INTO alerts (rule, key_id, status, summary, evidence, first_seen_at, last_seen_at, occurrences)
	VALUES (?, ?, 'open', ?, ?, ?, ?, 1)
	ON CONFLICT (rule, key_id) WHERE resolved_at IS NULL DO UPDATE SET
		summary = excluded.summary,
		evidence = excluded.evidence,
		last_seen_at = CASE WHEN excluded.last_seen_at > alerts.last_seen_at THEN excluded.last_seen_at ELSE alerts.last_seen_at END,
		occurrences = alerts.occurrences + 1
	RETURNING id, occurrences`

// ErrUnknownRule: an alert names a rule Keyward does not have.
var ErrUnknownRule = errors.New("db: unknown alert rule")

// raiseAlert records f inside tx and, when it opens a new alert, enqueues
// alert.opened in the same transaction (to the key's owner: the person,
// or the team's members). A key deleted meanwhile raises nothing.
func raiseAlert(ctx context.Context, tx *Tx, now time.Time, f AlertFinding) (id int64, opened bool, err error) {
	if !validRule(f.Rule) {
		return 0, false, fmt.Errorf("%w: %q", ErrUnknownRule, f.Rule)
	}
	if f.At.IsZero() {
		f.At = now
	}
	evidence := f.Evidence
	if evidence == nil {
		evidence = map[string]any{}
	}
	raw, err := json.Marshal(evidence)
	if err != nil {
		return 0, false, fmt.Errorf("db: alert %s evidence: %w", f.Rule, err)
	}
	k, ok, err := lookupEventKey(ctx, tx, f.KeyID)
	if err != nil || !ok {
		return 0, false, err
	}
	at := toMillis(f.At)
	var n int64
	if err := tx.queryRowCached(ctx, raiseAlertSQL, f.Rule, f.KeyID, f.Summary, string(raw), at, at).Scan(&id, &n); err != nil {
		return 0, false, fmt.Errorf("db: raise %s alert on key %d: %w", f.Rule, f.KeyID, err)
	}
	if n != 1 {
		return id, false, nil
	}
	key := map[string]any{"id": f.KeyID, "name": k.name, "hint": k.hint, "owner": k.email, "owner_type": OwnerUser}
	ev := &OutboxEvent{Type: EventAlertOpened, At: f.At, KeyID: f.KeyID,
		Data: map[string]any{"key": key, "alert": map[string]any{
			"id": id, "rule": f.Rule, "summary": f.Summary, "evidence": evidence,
			"first_seen_at": f.At.UTC().Format(time.RFC3339),
		}}}
	if k.teamID != 0 {
		key["owner"], key["owner_type"] = teamOwner(k.team), OwnerTeam
		ev.TeamID = k.teamID
	} else {
		ev.UserID = k.userID
	}
	if err := enqueue(ctx, tx, now, ev); err != nil {
		return 0, false, err
	}
	return id, true, nil
}

func validRule(rule string) bool {
	for _, r := range AlertRules() {
		if r == rule {
			return true
		}
	}
	return false
}

// RaiseAlert records f in its own transaction (see raiseAlert) and reports
// the alert's id and whether it was newly opened.
func (s *Store) RaiseAlert(ctx context.Context, f AlertFinding) (id int64, opened bool, err error) {
	err = s.inWriteTx(ctx, "raise alert", func(tx *Tx, now time.Time) error {
		id, opened, err = raiseAlert(ctx, tx, now, f)
		return err
	})
	return id, opened, err
}

const openAlertSQL = `SELECT id, summary, evidence, first_seen_at, last_seen_at, occurrences
	FROM alerts WHERE rule = ? AND key_id = ? AND resolved_at IS NULL`

// OpenAlert is the unresolved alert of a rule on a key, as a rule that
// accumulates evidence reads it before raising again.
type OpenAlert struct {
	ID                  int64
	Summary             string
	Evidence            map[string]any
	FirstSeen, LastSeen time.Time
	Occurrences         int64
}

// openAlert reads the unresolved alert of rule on keyID through q; ok is
// false when there is none.
func openAlert(ctx context.Context, q querier, rule string, keyID int64) (a OpenAlert, ok bool, err error) {
	var (
		evidence    string
		first, last int64
	)
	err = q.QueryRowContext(ctx, openAlertSQL, rule, keyID).Scan(&a.ID, &a.Summary, &evidence, &first, &last, &a.Occurrences)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("db: read open %s alert of key %d: %w", rule, keyID, err)
	}
	if err := json.Unmarshal([]byte(evidence), &a.Evidence); err != nil {
		a.Evidence = map[string]any{} // hand-edited or truncated: start over
	}
	a.FirstSeen, a.LastSeen = fromMillis(first), fromMillis(last)
	return a, true, nil
}
