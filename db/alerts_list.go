package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Audit actions of the Alerts page.
const (
	ActionAlertAcknowledge = "alert.acknowledge"
	ActionAlertResolve     = "alert.resolve"
)

// alertActions are the Alerts page's audit actions, for Actions.
var alertActions = []string{ActionAlertAcknowledge, ActionAlertResolve}

// AlertStatusAll lists alerts whatever their status; the zero status lists
// the unresolved ones (open and acknowledged), which is what needs a look.
const AlertStatusAll = "all"

// ErrAlertNotFound: no such alert, or one on a key the caller cannot see.
var ErrAlertNotFound = Errorf(ErrNotFound, "Alert not found.")

// Alert is one alert as the Alerts page shows it: the rule's finding, the
// key it is about and its owner (an e-mail, or team:NAME), and who handled
// it. AcknowledgedBy and ResolvedBy are e-mails ("" for the system or a
// deleted user).
type Alert struct {
	ID          int64
	Rule        string
	KeyID       int64
	KeyName     string
	KeyHint     string
	Owner       string
	OwnerType   string
	Status      string
	Summary     string
	Evidence    map[string]any
	FirstSeen   time.Time
	LastSeen    time.Time
	Occurrences int64

	AcknowledgedAt *time.Time
	AcknowledgedBy string
	ResolvedAt     *time.Time
	ResolvedBy     string
}

// AlertFilter narrows ListAlerts. Status "" is open and acknowledged,
// AlertStatusAll every status; Rule and KeyID 0/"" do not filter. After
// is the Next of the previous page; Limit 0 means 50.
type AlertFilter struct {
	Status string
	Rule   string
	KeyID  int64
	After  string
	Limit  int
}

// AlertPage is a page of alerts, most recently seen first; Next is the
// After of the following page, "" on the last.
type AlertPage struct {
	Alerts []Alert
	Next   string
}

// ErrInvalidAlertCursor answers an After this server did not make.
var ErrInvalidAlertCursor = Errorf(ErrInvalid, "The page link is not valid: go back to the first page.")

// selectAlertSQL reads an alert with its key and the people who handled
// it, in scanAlert's order.
const selectAlertSQL = `SELECT a.id, a.rule, a.key_id, k.name, k.hint, COALESCE(u.email, ''), COALESCE(t.name, ''),
	a.status, a.summary, a.evidence, a.first_seen_at, a.last_seen_at, a.occurrences,
	a.acknowledged_at, COALESCE(ua.email, ''), a.resolved_at, COALESCE(ur.email, '')
	FROM alerts a JOIN api_keys k ON k.id = a.key_id
	LEFT JOIN users u ON u.id = k.user_id
	LEFT JOIN teams t ON t.id = k.team_id
	LEFT JOIN users ua ON ua.id = a.acknowledged_by
	LEFT JOIN users ur ON ur.id = a.resolved_by`

func scanAlert(sc interface{ Scan(...any) error }) (Alert, error) {
	var (
		a                     Alert
		email, team, evidence string
		first, last           int64
		acked, resolved       sql.NullInt64
	)
	if err := sc.Scan(&a.ID, &a.Rule, &a.KeyID, &a.KeyName, &a.KeyHint, &email, &team,
		&a.Status, &a.Summary, &evidence, &first, &last, &a.Occurrences,
		&acked, &a.AcknowledgedBy, &resolved, &a.ResolvedBy); err != nil {
		return a, err
	}
	a.Owner, a.OwnerType = email, OwnerUser
	if team != "" {
		a.Owner, a.OwnerType = teamOwner(team), OwnerTeam
	}
	if err := json.Unmarshal([]byte(evidence), &a.Evidence); err != nil || a.Evidence == nil {
		a.Evidence = map[string]any{} // unreadable evidence still lists the alert
	}
	a.FirstSeen, a.LastSeen = fromMillis(first), fromMillis(last)
	a.AcknowledgedAt, a.ResolvedAt = timePtr(acked), timePtr(resolved)
	return a, nil
}

// ListAlerts returns a page of the alerts on keys access can see (an
// admin's and an auditor's AnyOwner: all), filtered in SQL.
func (s *Store) ListAlerts(ctx context.Context, access KeyAccess, f AlertFilter) (AlertPage, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var (
		conds []string
		args  []any
	)
	switch f.Status {
	case "":
		conds = append(conds, `a.resolved_at IS NULL`)
	case AlertStatusAll:
	case AlertOpen, AlertAcknowledged, AlertResolved:
		conds, args = append(conds, `a.status = ?`), append(args, f.Status)
	default:
		return AlertPage{}, Errorf(ErrInvalid, "Unknown alert status %q.", f.Status)
	}
	if f.Rule != "" {
		conds, args = append(conds, `a.rule = ?`), append(args, f.Rule)
	}
	if f.KeyID != 0 {
		conds, args = append(conds, `a.key_id = ?`), append(args, f.KeyID)
	}
	if f.After != "" {
		seen, id, err := parseAlertCursor(f.After)
		if err != nil {
			return AlertPage{}, err
		}
		conds = append(conds, `(a.last_seen_at < ? OR (a.last_seen_at = ? AND a.id < ?))`)
		args = append(args, seen, seen, id)
	}
	w, wargs, err := s.listAccessWhere(ctx, access)
	if err != nil {
		return AlertPage{}, err
	}
	if w != "" {
		conds, args = append(conds, w), append(args, wargs...)
	}
	q := selectAlertSQL
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, ` AND `)
	}
	q += ` ORDER BY a.last_seen_at DESC, a.id DESC LIMIT ?`
	rows, err := s.r.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return AlertPage{}, fmt.Errorf("db: list alerts: %w", err)
	}
	defer rows.Close()
	var page AlertPage
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return AlertPage{}, fmt.Errorf("db: list alerts: %w", err)
		}
		page.Alerts = append(page.Alerts, a)
	}
	if err := rows.Err(); err != nil {
		return AlertPage{}, fmt.Errorf("db: list alerts: %w", err)
	}
	if len(page.Alerts) > limit {
		page.Alerts = page.Alerts[:limit]
		last := page.Alerts[limit-1]
		page.Next = fmt.Sprintf("%d-%d", toMillis(last.LastSeen), last.ID)
	}
	return page, nil
}

// parseAlertCursor reads "LASTSEENMS-ID".
func parseAlertCursor(s string) (seen, id int64, err error) {
	a, b, ok := strings.Cut(s, "-")
	if len(s) > 40 || !ok {
		return 0, 0, ErrInvalidAlertCursor
	}
	seen, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || seen < 0 || id <= 0 {
		return 0, 0, ErrInvalidAlertCursor
	}
	return seen, id, nil
}

// GetAlert returns alert id if access can see its key, else
// ErrAlertNotFound.
func (s *Store) GetAlert(ctx context.Context, access KeyAccess, id int64) (Alert, error) {
	return getAlert(ctx, s.r, access, id)
}

func getAlert(ctx context.Context, q querier, access KeyAccess, id int64) (Alert, error) {
	cond, args := access.cond()
	a, err := scanAlert(q.QueryRowContext(ctx, selectAlertSQL+` WHERE a.id = ?`+cond, append([]any{id}, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, ErrAlertNotFound
	}
	if err != nil {
		return Alert{}, fmt.Errorf("db: get alert %d: %w", id, err)
	}
	return a, nil
}

// ActiveAlertsCap bounds CountActiveAlerts: the badge says "99+" beyond
// it, and the count stops reading there, so a backlog of thousands of
// unresolved alerts costs a page render no more than a hundred.
const ActiveAlertsCap = 100

// CountActiveAlerts counts the open and acknowledged alerts on keys access
// can see, up to ActiveAlertsCap: the number on the navigation's Alerts
// item, read on every page render. Without an owner condition it walks
// alerts_open (a partial index over exactly the unresolved alerts); with
// one, the person's keys lead through alerts_key_id. Measured over 10,000
// alerts by BenchmarkCountActiveAlerts.
func (s *Store) CountActiveAlerts(ctx context.Context, access KeyAccess) (int, error) {
	w, args, err := s.listAccessWhere(ctx, access)
	if err != nil {
		return 0, err
	}
	inner := `SELECT 1 FROM alerts a WHERE a.resolved_at IS NULL`
	if w != "" {
		inner = `SELECT 1 FROM alerts a JOIN api_keys k ON k.id = a.key_id WHERE a.resolved_at IS NULL AND ` + w
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+inner+` LIMIT ?) capped`, append(args, ActiveAlertsCap)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count alerts: %w", err)
	}
	return n, nil
}

// CountKeyAlerts counts the unresolved alerts of one key (the key page's
// notice); the caller has already checked the key is visible.
func (s *Store) CountKeyAlerts(ctx context.Context, keyID int64) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts WHERE key_id = ? AND resolved_at IS NULL`, keyID).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count alerts of key %d: %w", keyID, err)
	}
	return n, nil
}

const (
	acknowledgeAlertSQL = `UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?
		WHERE id = ? AND status = 'open'`
	resolveAlertSQL = `UPDATE alerts SET status = 'resolved', resolved_at = ?, resolved_by = ?
		WHERE id = ? AND resolved_at IS NULL`
)

// AcknowledgeAlert marks an open alert as being looked at: it stays
// unresolved (the rule firing again still updates it, and the badge still
// counts it). access is who may act, ManagedBy-style: the key's owner, the
// maintainers of its team, or AnyOwner for an admin; others get
// ErrAlertNotFound. Acknowledging an acknowledged or resolved alert
// changes nothing and is no error (changed is false).
func (s *Store) AcknowledgeAlert(ctx context.Context, access KeyAccess, id int64, actor Actor) (a Alert, changed bool, err error) {
	return s.handleAlert(ctx, access, id, actor, acknowledgeAlertSQL, ActionAlertAcknowledge)
}

// ResolveAlert closes an open or acknowledged alert: the next finding of
// its rule on the key opens a new one. access as for AcknowledgeAlert;
// resolving a resolved alert changes nothing (changed is false).
func (s *Store) ResolveAlert(ctx context.Context, access KeyAccess, id int64, actor Actor) (a Alert, changed bool, err error) {
	return s.handleAlert(ctx, access, id, actor, resolveAlertSQL, ActionAlertResolve)
}

// handleAlert runs one status change (update, guarded by the status it
// leaves) with its audit record in one transaction, and returns the alert
// as it then is.
func (s *Store) handleAlert(ctx context.Context, access KeyAccess, id int64, actor Actor, update, action string) (a Alert, changed bool, err error) {
	err = s.inWriteTx(ctx, action, func(tx *Tx, now time.Time) error {
		if a, err = getAlert(ctx, tx, access, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, update, toMillis(now), nullID(actor.UserID), id)
		if err != nil {
			return fmt.Errorf("db: %s %d: %w", action, id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		changed = true
		e := actor.event(action, "key", a.KeyID, a.KeyName)
		e.Detail = map[string]string{"alert": strconv.FormatInt(id, 10), "rule": a.Rule}
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return err
		}
		a, err = getAlert(ctx, tx, AnyOwner(), id)
		return err
	})
	return a, changed, err
}
