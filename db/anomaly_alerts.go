package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// lastAlertSQL reads a key's newest alert of a rule: the unresolved one
// when there is one (alerts_open allows one, and it is always the newest),
// else the last resolved, whose evidence says which hour it already told.
const lastAlertSQL = `SELECT evidence, resolved_at FROM alerts WHERE rule = ? AND key_id = ?
	ORDER BY id DESC LIMIT 1`

// refusedSinceSQL lists the distinct addresses a key was refused from over
// an open dead-key alert's hours (key_hour_ips keeps 7 days of them).
const refusedSinceSQL = `SELECT DISTINCT ip FROM key_hour_ips
	WHERE key_id = ? AND hour >= ? AND hour <= ? AND refusals > 0 LIMIT ?`

// maxCountedAddresses bounds the addresses read to count a dead key's.
const maxCountedAddresses = 10_000

// priorAlert is a key's newest alert of a rule, as a finding is decided
// against it.
type priorAlert struct {
	exists, open bool
	ev           map[string]any
}

func lastAlert(ctx context.Context, q querier, rule string, keyID int64) (priorAlert, error) {
	var (
		p        priorAlert
		evidence string
		resolved sql.NullInt64
	)
	err := q.QueryRowContext(ctx, lastAlertSQL, rule, keyID).Scan(&evidence, &resolved)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("db: anomaly rules: last %s alert of key %d: %w", rule, keyID, err)
	}
	p.exists, p.open = true, !resolved.Valid
	if json.Unmarshal([]byte(evidence), &p.ev) != nil || p.ev == nil {
		p.ev = map[string]any{}
	}
	return p, nil
}

// raiseFindings decides each finding against the key's alert of its rule
// and raises the ones that are news, in one transaction: the writer's,
// so two instances deciding the same finding see each other's alert and
// the second raises nothing.
func (s *Store) raiseFindings(ctx context.Context, fs []finding, now time.Time, rep *ActivityReport) error {
	var opened, updated int
	err := s.inWriteTx(ctx, "anomaly rules", func(tx *Tx, _ time.Time) error {
		tx.reuseStatements()
		for _, f := range fs {
			prior, err := lastAlert(ctx, tx, f.rule, f.keyID)
			if err != nil {
				return err
			}
			af, ok, err := decideFinding(ctx, tx, f, prior)
			if err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			af.At = now
			if end := hourTime(f.hour + 1).Add(-time.Millisecond); end.Before(now) {
				af.At = end // a past hour's finding was seen in that hour
			}
			_, isNew, err := raiseAlert(ctx, tx, now, af)
			if err != nil {
				return err
			}
			if isNew {
				opened++
			} else {
				updated++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rep.Opened += opened
	rep.Updated += updated
	return nil
}

// measureOf names the evidence field a rule's finding must exceed to be
// raised again in the same hour; "" for a rule whose finding is told once
// per hour whatever it grows to.
var measureOf = map[string]string{
	RuleSpike:         "uses",
	RuleManyAddresses: "address_count",
	RuleDeadKey:       "last_hour_attempts",
	RuleDormantUse:    "",
}

// decideFinding turns f into the alert to raise, or reports false when the
// key's alert of the rule already tells it: an alert for a later hour, the
// same hour resolved (someone has seen it), or the same hour open with a
// measure at least as large. A finding under the dead-key threshold only
// adds to an open alert.
func decideFinding(ctx context.Context, tx *Tx, f finding, prior priorAlert) (AlertFinding, bool, error) {
	hourField := "hour"
	if f.rule == RuleDeadKey {
		hourField = "last_hour"
	}
	sameHour := false
	if prior.exists {
		ph, ok := evidenceHour(prior.ev, hourField)
		switch {
		case ok && ph > f.hour:
			return AlertFinding{}, false, nil
		case ok && ph == f.hour:
			m := measureOf[f.rule]
			if !prior.open || m == "" || f.n <= evidenceInt(prior.ev, m) {
				return AlertFinding{}, false, nil
			}
			sameHour = true
		}
	}
	af := AlertFinding{Rule: f.rule, KeyID: f.keyID}
	hour := hourTime(f.hour).Format(time.RFC3339)
	switch f.rule {
	case RuleSpike:
		af.Summary = fmt.Sprintf("Unusual traffic: %s uses in an hour, typically %s", grouped(f.n), grouped(f.typical))
		af.Evidence = map[string]any{"uses": f.n, "typical_hour": f.typical, "factor": ratio(f.n, f.typical), "hour": hour}
	case RuleDormantUse:
		days := (f.hour - f.lastUse) / 24
		af.Summary = fmt.Sprintf("Used again after %s days without use", grouped(days))
		af.Evidence = map[string]any{"uses": f.n, "dormant_days": days, "hour": hour,
			"last_used_hour": hourTime(f.lastUse).Format(time.RFC3339)}
	case RuleManyAddresses:
		af.Summary = fmt.Sprintf("Used from %s addresses in one hour", grouped(f.n))
		af.Evidence = map[string]any{"addresses": f.addresses, "address_count": f.n, "hour": hour}
	case RuleDeadKey:
		if f.minor && !prior.open {
			return AlertFinding{}, false, nil
		}
		return deadKeyAlert(ctx, tx, f, prior, sameHour)
	}
	return af, true, nil
}

// deadKeyAlert adds the hour's attempts and addresses to the key's open
// dead-key alert (or starts one): the alert tells the whole story of a
// dead key still being presented, hour after hour.
func deadKeyAlert(ctx context.Context, tx *Tx, f finding, prior priorAlert, sameHour bool) (AlertFinding, bool, error) {
	attempts, first := f.n, f.hour
	var listed []string
	var addrs int64
	if prior.open {
		if h, ok := evidenceHour(prior.ev, "first_hour"); ok && h < first {
			first = h
		}
		attempts += evidenceInt(prior.ev, "attempts")
		if sameHour {
			attempts -= evidenceInt(prior.ev, "last_hour_attempts")
		}
		listed = evidenceStrings(prior.ev, "addresses")
		addrs = evidenceInt(prior.ev, "address_count")
	}
	ips, err := hourAddresses(ctx, tx, f.keyID, f.hour, true)
	if err != nil {
		return AlertFinding{}, false, err
	}
	all := map[string]bool{}
	for _, ip := range listed {
		all[ip] = true
	}
	for _, ip := range ips {
		if !slices.Contains(listed, ip) && len(listed) < maxListedAddresses {
			listed = append(listed, ip)
		}
	}
	rows, err := tx.QueryContext(ctx, refusedSinceSQL, f.keyID, first, f.hour, maxCountedAddresses)
	err = eachRow(rows, err, func() error {
		var ip string
		if err := rows.Scan(&ip); err != nil {
			return err
		}
		all[ip] = true
		return nil
	})
	if err != nil {
		return AlertFinding{}, false, fmt.Errorf("db: anomaly rules: addresses of key %d: %w", f.keyID, err)
	}
	// Addresses older than key_hour_ips' 7 days are gone; the count the
	// alert already had stands for them.
	addrs = max(addrs, int64(len(all)))
	who := "A revoked"
	if f.ended == "expired" {
		who = "An expired"
	}
	return AlertFinding{Rule: RuleDeadKey, KeyID: f.keyID,
		Summary: fmt.Sprintf("%s key is still being used — %s from %s", who,
			counted(attempts, "attempt", "attempts"), counted(addrs, "address", "addresses")),
		Evidence: map[string]any{
			"attempts": attempts, "addresses": listed, "address_count": addrs,
			"first_hour": hourTime(first).Format(time.RFC3339), "last_hour": hourTime(f.hour).Format(time.RFC3339),
			"last_hour_attempts": f.n, "ended": f.ended, "ended_at": fromMillis(f.endedAt).Format(time.RFC3339),
		}}, true, nil
}

// ratio is uses over the typical hour, one decimal; 0 when there was no
// typical hour to compare with.
func ratio(n, typical int64) float64 {
	if typical == 0 {
		return 0
	}
	return float64(n*10/typical) / 10
}

func evidenceHour(ev map[string]any, field string) (int64, bool) {
	s, _ := ev[field].(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, false
	}
	return hourNumber(t), true
}

func evidenceInt(ev map[string]any, field string) int64 {
	switch v := ev[field].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}

func evidenceStrings(ev map[string]any, field string) []string {
	list, _ := ev[field].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok && len(out) < maxListedAddresses {
			out = append(out, s)
		}
	}
	return out
}

// grouped writes n with thousands separators: summaries are read by people.
func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// counted is "1 attempt", "1,204 attempts".
func counted(n int64, one, many string) string {
	return grouped(n) + " " + plural(n, one, many)
}
