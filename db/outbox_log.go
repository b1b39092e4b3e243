package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// DeliveryLog is one row of a delivery log (the settings page's e-mail log,
// an endpoint's webhook log): the delivery, its event and its latest
// attempt, so a page shows what happened without a query per row.
type DeliveryLog struct {
	ID         int64
	EventID    string // the event's public id ("msg_…")
	EventType  string
	Channel    string
	Recipient  string // the e-mail address; "" for a webhook
	EndpointID int64
	Status     string // DeliveryPending, DeliveryDelivered or DeliveryFailed
	Attempts   int
	CreatedAt  time.Time
	// NextAttemptAt is when a pending delivery is tried again.
	NextAttemptAt time.Time
	DoneAt        *time.Time
	// LastError is the reason of the latest failure ("" once delivered).
	LastError string
	// Last is the latest attempt; nil before the first.
	Last *DeliveryAttempt
}

// DeliveryAttempt is one try of a delivery.
type DeliveryAttempt struct {
	ID      int64
	At      time.Time
	Attempt int
	OK      bool
	// StatusCode is the receiver's answer: an HTTP status or an SMTP
	// reply code; 0 when none came.
	StatusCode int
	Latency    time.Duration
	Error      string
}

// DeliveryFilter picks the rows of a delivery log. Channel and EndpointID
// narrow it (zero: any); rows come newest first, BeforeID pages on from
// the last row of the previous page.
type DeliveryFilter struct {
	Channel    string
	EndpointID int64
	// Limit caps the rows (default 50, at most 500).
	Limit    int
	BeforeID int64
}

const listDeliveriesSQL = `SELECT d.id, e.event_id, e.type, d.channel, d.recipient, d.endpoint_id, d.status,
	d.attempts, d.created_at, d.next_attempt_at, d.done_at, d.last_error,
	a.id, a.at, a.attempt, a.ok, a.status_code, a.latency_ms, a.error
	FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id
	LEFT JOIN delivery_attempts a ON a.id = (SELECT MAX(x.id) FROM delivery_attempts x WHERE x.delivery_id = d.id)`

// ListDeliveries returns a delivery log, newest first. The latest attempt
// of each row comes along; ListAttempts gives all of one delivery's.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]DeliveryLog, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var (
		where []string
		args  []any
	)
	if f.Channel != "" {
		where, args = append(where, "d.channel = ?"), append(args, f.Channel)
	}
	if f.EndpointID != 0 {
		where, args = append(where, "d.endpoint_id = ?"), append(args, f.EndpointID)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "d.id < ?"), append(args, f.BeforeID)
	}
	q := listDeliveriesSQL
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list deliveries: %w", err)
	}
	defer rows.Close()
	var out []DeliveryLog
	for rows.Next() {
		var (
			l                             DeliveryLog
			endpointID, done              sql.NullInt64
			created, next                 int64
			aID, aAt, aN, aOK, aCode, aMS sql.NullInt64
			aErr                          sql.NullString
		)
		if err := rows.Scan(&l.ID, &l.EventID, &l.EventType, &l.Channel, &l.Recipient, &endpointID, &l.Status,
			&l.Attempts, &created, &next, &done, &l.LastError,
			&aID, &aAt, &aN, &aOK, &aCode, &aMS, &aErr); err != nil {
			return nil, fmt.Errorf("db: list deliveries: %w", err)
		}
		l.EndpointID, l.CreatedAt, l.NextAttemptAt, l.DoneAt = endpointID.Int64, fromMillis(created), fromMillis(next), timePtr(done)
		if aID.Valid {
			l.Last = &DeliveryAttempt{ID: aID.Int64, At: fromMillis(aAt.Int64), Attempt: int(aN.Int64), OK: aOK.Int64 == 1,
				StatusCode: int(aCode.Int64), Latency: time.Duration(aMS.Int64) * time.Millisecond, Error: aErr.String}
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list deliveries: %w", err)
	}
	return out, nil
}

const listAttemptsSQL = `SELECT id, at, attempt, ok, status_code, latency_ms, error
	FROM delivery_attempts WHERE delivery_id = ? ORDER BY id DESC`

// ListAttempts returns every attempt of one delivery, newest first.
func (s *Store) ListAttempts(ctx context.Context, deliveryID int64) ([]DeliveryAttempt, error) {
	rows, err := s.r.QueryContext(ctx, listAttemptsSQL, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("db: list attempts of delivery %d: %w", deliveryID, err)
	}
	defer rows.Close()
	var out []DeliveryAttempt
	for rows.Next() {
		var (
			a      DeliveryAttempt
			at, ms int64
			ok     int
		)
		if err := rows.Scan(&a.ID, &at, &a.Attempt, &ok, &a.StatusCode, &ms, &a.Error); err != nil {
			return nil, fmt.Errorf("db: list attempts of delivery %d: %w", deliveryID, err)
		}
		a.At, a.OK, a.Latency = fromMillis(at), ok == 1, time.Duration(ms)*time.Millisecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list attempts of delivery %d: %w", deliveryID, err)
	}
	return out, nil
}
