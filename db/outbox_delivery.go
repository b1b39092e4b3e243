package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Channels a delivery goes through.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // given up: 24 hours of failures, or refused for good
)

// RetryWindow is how long a failing delivery is retried, and how long an
// endpoint may fail before it is disabled (Standard Webhooks' advice).
const RetryWindow = 24 * time.Hour

// retrySchedule is the wait before each retry (Svix's schedule, which the
// Standard Webhooks specification follows): 5 s, 5 min, 30 min, 2 h, 5 h,
// then every 10 h; the last try is made when RetryWindow runs out.
var retrySchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour}

// NextRetry is when a delivery made at created, failing for the attempts-th
// time at now, is tried again; ok is false when it is to be given up.
func NextRetry(created, now time.Time, attempts int) (time.Time, bool) {
	end := created.Add(RetryWindow)
	if !now.Before(end) {
		return time.Time{}, false
	}
	wait := retrySchedule[len(retrySchedule)-1]
	if attempts-1 < len(retrySchedule) && attempts >= 1 {
		wait = retrySchedule[attempts-1]
	}
	next := now.Add(wait)
	if next.After(end) {
		next = end
	}
	return next, true
}

// Delivery is one message to one receiver, as the worker sends it: the
// event (with its private part opened), and for a webhook the endpoint's
// URL and signing secret.
type Delivery struct {
	ID         int64
	Channel    string
	Recipient  string // the e-mail address; "" for a webhook
	UserID     int64  // the person e-mailed (0: an address without an account)
	EndpointID int64
	Attempts   int // attempts made before this one
	CreatedAt  time.Time
	Event      OutboxEvent
	// Endpoint is set for a webhook delivery.
	Endpoint *EndpointTarget
}

// EndpointTarget is what sending to a webhook endpoint needs.
type EndpointTarget struct {
	URL string
	// Secret is the Standard Webhooks signing secret ("whsec_…").
	Secret string
}

// AttemptResult is the outcome of one try of a delivery.
type AttemptResult struct {
	OK bool
	// StatusCode is the receiver's answer: an HTTP status, an SMTP reply
	// code, or 0 when none came (refused connection, timeout).
	StatusCode int
	Latency    time.Duration
	// Error says why it failed, for the delivery log (never a secret).
	Error string
	// Permanent: retrying cannot help (a refused address, a receiver
	// that no longer exists); the delivery is given up at once.
	Permanent bool
}

// FanOutOptions says which channels exist: without e-mail settings no
// e-mail delivery is made (nothing is sent, nothing errors).
type FanOutOptions struct {
	Email bool
	// Limit caps the events handled in one call (default 100).
	Limit int
	// Unreadable is told about each event that cannot be read (its payload
	// does not parse, its private part does not open with this database's
	// server secret): such an event is marked done without deliveries, so
	// it cannot stop every event behind it, and the caller logs it.
	Unreadable func(eventID string, err error)
}

const pendingEventsSQL = `SELECT id, event_id, type, at, actor_id, user_id, team_id, key_id, endpoint_id, payload, private
	FROM outbox_events WHERE fanned_out_at IS NULL ORDER BY id LIMIT ?`

const insertDeliverySQL = `INSERT INTO outbox_deliveries
	(event_id, channel, recipient, user_id, endpoint_id, status, next_attempt_at, created_at)
	VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`

// FanOut turns pending outbox events into deliveries, one per receiver
// (an e-mail per recipient who wants it, a POST per subscribed endpoint),
// and marks the events done, all in one transaction: a crash leaves either
// the event pending or its deliveries made. It returns the events handled.
func (s *Store) FanOut(ctx context.Context, opt FanOutOptions) (int, error) {
	if opt.Limit <= 0 {
		opt.Limit = 100
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("db: fan out: %w", err)
	}
	defer tx.Rollback()
	events, err := scanEvents(tx.QueryContext(ctx, pendingEventsSQL+s.d.skipLocked, opt.Limit))
	if err != nil {
		return 0, fmt.Errorf("db: fan out: %w", err)
	}
	if len(events) == 0 {
		return 0, nil
	}
	// The endpoints are read once for the whole batch: a backlog of
	// thousands of events (a bulk revoke) must not cost a query each.
	subs, err := loadSubscriptions(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("db: fan out: %w", err)
	}
	now := s.Now()
	var kept, erased []int64 // events done, keeping / erasing their private part
	for _, ev := range events {
		mailed := false
		if ev.broken == nil && opt.Email {
			if ev.Private, err = openPrivate(ctx, tx, ev.sealed); errors.Is(err, errSealBroken) {
				ev.broken = fmt.Errorf("its sealed part does not open with this database's server secret: %w", err)
			} else if err != nil {
				return 0, err
			}
		}
		if ev.broken != nil {
			erased = append(erased, ev.ID)
			if opt.Unreadable != nil {
				opt.Unreadable(ev.EventID, ev.broken)
			}
			continue
		}
		if opt.Email {
			rcpts, err := emailRecipients(ctx, tx, ev)
			if err != nil {
				return 0, fmt.Errorf("db: fan out %s: %w", ev.EventID, err)
			}
			mailed = len(rcpts) > 0
			for _, r := range rcpts {
				if _, err := tx.ExecContext(ctx, insertDeliverySQL, ev.ID, ChannelEmail, r.Address, nullID(r.UserID),
					nil, toMillis(now), toMillis(now)); err != nil {
					return 0, fmt.Errorf("db: fan out %s: %w", ev.EventID, err)
				}
			}
		}
		for _, id := range subs.endpointsFor(ev) {
			if _, err := tx.ExecContext(ctx, insertDeliverySQL, ev.ID, ChannelWebhook, "", nil, id,
				toMillis(now), toMillis(now)); err != nil {
				return 0, fmt.Errorf("db: fan out %s: %w", ev.EventID, err)
			}
		}
		// Only an e-mail may carry the private part: with none to send,
		// it is erased now rather than kept until pruned.
		if mailed {
			kept = append(kept, ev.ID)
		} else {
			erased = append(erased, ev.ID)
		}
	}
	if err := markFannedOut(ctx, tx, kept, false, now); err != nil {
		return 0, err
	}
	if err := markFannedOut(ctx, tx, erased, true, now); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("db: fan out: %w", err)
	}
	return len(events), nil
}

func openPrivate(ctx context.Context, tx *Tx, sealed []byte) (map[string]string, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	var key []byte
	if err := tx.QueryRowContext(ctx, serverSecretSQL, outboxSealSecret).Scan(&key); err != nil {
		return nil, fmt.Errorf("db: outbox seal: %w", err)
	}
	plain, err := unsealWith(key, sealed)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("db: outbox private part: %w", err)
	}
	return m, nil
}

// Recipient is one address an event's e-mail goes to.
type Recipient struct {
	Address string
	UserID  int64 // 0: an address without an account (an invite)
}

// subscriptions are the webhook endpoints as fan-out sees them.
type subscriptions struct {
	// enabled lists the enabled endpoints with their event types, by id.
	enabled []subscription
	// exists holds every endpoint id, enabled or not: a test event goes
	// to the one endpoint it tests unless that was deleted.
	exists map[int64]bool
}

type subscription struct {
	id    int64
	types []string
}

func loadSubscriptions(ctx context.Context, tx *Tx) (subscriptions, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, event_types, disabled_at FROM webhook_endpoints ORDER BY id`)
	if err != nil {
		return subscriptions{}, err
	}
	defer rows.Close()
	subs := subscriptions{exists: map[int64]bool{}}
	for rows.Next() {
		var (
			id       int64
			types    string
			disabled sql.NullInt64
		)
		if err := rows.Scan(&id, &types, &disabled); err != nil {
			return subscriptions{}, err
		}
		subs.exists[id] = true
		if !disabled.Valid {
			subs.enabled = append(subs.enabled, subscription{id: id, types: eventTypeList(types)})
		}
	}
	return subs, rows.Err()
}

// endpointsFor lists the endpoints that get ev: the tested one for a test
// event, none for the e-mail-only types, else every enabled endpoint
// subscribed to ev's type or to all ("*").
func (s subscriptions) endpointsFor(ev OutboxEvent) []int64 {
	switch ev.Type {
	case EventFactorsReset: // e-mail only
		return nil
	case EventWebhookTest:
		if s.exists[ev.EndpointID] {
			return []int64{ev.EndpointID}
		}
		return nil
	case EventDigest, EventEndpointDisabled, EventRecoveryUsed:
		return nil
	}
	var ids []int64
	for _, sub := range s.enabled {
		for _, t := range sub.types {
			if t == "*" || t == ev.Type {
				ids = append(ids, sub.id)
				break
			}
		}
	}
	return ids
}

// markFannedOut marks events done in statements of outboxChunk ids,
// erasing their private part when erase is set.
func markFannedOut(ctx context.Context, tx *Tx, ids []int64, erase bool, now time.Time) error {
	set := `UPDATE outbox_events SET fanned_out_at = ?`
	if erase {
		set += `, private = NULL`
	}
	for len(ids) > 0 {
		n := min(len(ids), outboxChunk)
		args := make([]any, 0, n+1)
		args = append(args, toMillis(now))
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		if _, err := tx.ExecContext(ctx, set+` WHERE id IN (`+strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+`)`, args...); err != nil {
			return fmt.Errorf("db: fan out: mark %d events: %w", n, err)
		}
		ids = ids[n:]
	}
	return nil
}

// claimSQL picks the due rows once, in a MATERIALIZED common table
// expression, then leases them. As "UPDATE … WHERE id IN (SELECT … LIMIT n
// FOR UPDATE SKIP LOCKED)" PostgreSQL may rescan the subquery for each row
// it updates, and a rescan, seeing the rows just leased fail its
// condition, takes the next ones: more than n rows were claimed.
const claimSQL = `WITH picked AS MATERIALIZED (SELECT id FROM outbox_deliveries
		WHERE status = 'pending' AND next_attempt_at <= ? AND lease_until <= ?
		ORDER BY next_attempt_at, id LIMIT ?%s)
	UPDATE outbox_deliveries SET lease_holder = ?, lease_until = ?
	WHERE id IN (SELECT id FROM picked) AND status = 'pending' AND lease_until <= ?
	RETURNING id`

const deliverySQL = `SELECT d.id, d.channel, d.recipient, d.user_id, d.endpoint_id, d.attempts, d.created_at,
	e.id, e.event_id, e.type, e.at, e.actor_id, e.user_id, e.team_id, e.key_id, e.endpoint_id, e.payload, e.private,
	COALESCE(w.url, ''), w.secret
	FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id
	LEFT JOIN webhook_endpoints w ON w.id = d.endpoint_id
	WHERE d.id = ?`

// ClaimDeliveries leases up to limit due deliveries to holder for lease:
// no other worker (of this process or another instance) takes them until
// the lease runs out, which is what lets a crashed worker's deliveries be
// sent by the next. On PostgreSQL the rows are picked with FOR UPDATE SKIP
// LOCKED. The worker sends each and reports it with CompleteDelivery.
func (s *Store) ClaimDeliveries(ctx context.Context, holder string, limit int, lease time.Duration) ([]Delivery, error) {
	if holder == "" || limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("db: claim deliveries: want a holder, a limit and a lease (got %q, %d, %v)", holder, limit, lease)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("db: claim deliveries: %w", err)
	}
	defer tx.Rollback()
	now := toMillis(s.Now())
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(claimSQL, s.d.skipLocked),
		now, now, limit, holder, now+lease.Milliseconds(), now)
	if err != nil {
		return nil, fmt.Errorf("db: claim deliveries: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close() // the scan error is the one to report
			return nil, fmt.Errorf("db: claim deliveries: %w", err)
		}
		ids = append(ids, id)
	}
	err = rows.Err()
	_ = rows.Close() // Err holds any failure of the iteration
	if err != nil {
		return nil, fmt.Errorf("db: claim deliveries: %w", err)
	}
	out := make([]Delivery, 0, len(ids))
	for _, id := range ids {
		d, err := loadDelivery(ctx, tx, id)
		if errors.Is(err, errDeliveryUnreadable) {
			// A row that can never be sent must not stop the ones behind
			// it: it is given up now, with the reason in its log.
			if err := giveUpUnreadable(ctx, tx, id, now, err); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("db: claim deliveries: %w", err)
	}
	return out, nil
}

func loadDelivery(ctx context.Context, tx *Tx, id int64) (Delivery, error) {
	var (
		d                                  Delivery
		userID, endpointID                 sql.NullInt64
		created, at                        int64
		actor, user, team, key, evEndpoint sql.NullInt64
		payload, url                       string
		private, secret                    []byte
	)
	err := tx.QueryRowContext(ctx, deliverySQL, id).Scan(&d.ID, &d.Channel, &d.Recipient, &userID, &endpointID,
		&d.Attempts, &created, &d.Event.ID, &d.Event.EventID, &d.Event.Type, &at, &actor, &user, &team, &key,
		&evEndpoint, &payload, &private, &url, &secret)
	if err != nil {
		return Delivery{}, fmt.Errorf("db: delivery %d: %w", id, err)
	}
	d.UserID, d.EndpointID, d.CreatedAt = userID.Int64, endpointID.Int64, fromMillis(created)
	d.Event.At = fromMillis(at)
	d.Event.ActorID, d.Event.UserID, d.Event.TeamID = actor.Int64, user.Int64, team.Int64
	d.Event.KeyID, d.Event.EndpointID = key.Int64, evEndpoint.Int64
	if err := json.Unmarshal([]byte(payload), &d.Event.Data); err != nil {
		return Delivery{}, fmt.Errorf("db: delivery %d: %w: the event's payload is not JSON (%v)", id, errDeliveryUnreadable, err)
	}
	if d.Channel == ChannelEmail {
		if d.Event.Private, err = openPrivate(ctx, tx, private); err != nil {
			return Delivery{}, unreadable(id, err)
		}
	}
	if d.Channel == ChannelWebhook && len(secret) > 0 {
		var key []byte
		if err := tx.QueryRowContext(ctx, serverSecretSQL, outboxSealSecret).Scan(&key); err != nil {
			return Delivery{}, fmt.Errorf("db: outbox seal: %w", err)
		}
		plain, err := unsealWith(key, secret)
		if err != nil {
			return Delivery{}, unreadable(id, err)
		}
		d.Endpoint = &EndpointTarget{URL: url, Secret: string(plain)}
	}
	return d, nil
}

const insertAttemptSQL = `INSERT INTO delivery_attempts (delivery_id, at, attempt, ok, status_code, latency_ms, error)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

// CompleteDelivery records the outcome of one try of d, made by holder:
// delivered; or failed and retried on the schedule (NextRetry) until
// RetryWindow runs out; or given up. A webhook endpoint failing for
// RetryWindow is disabled and its owner told (EventEndpointDisabled),
// in the same transaction. Once an event has no pending delivery left its
// private part is erased. A delivery whose lease another worker took over
// meanwhile has its attempt logged but its state left to that worker.
func (s *Store) CompleteDelivery(ctx context.Context, holder string, d Delivery, r AttemptResult) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: complete delivery %d: %w", d.ID, err)
	}
	defer tx.Rollback()
	now := s.Now()
	ms := toMillis(now)
	attempt := d.Attempts + 1
	// The delivery is gone when its endpoint was deleted during the send:
	// there is nothing left to record the attempt against.
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM outbox_deliveries WHERE id = ?`, d.ID).Scan(&exists); errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return fmt.Errorf("db: complete delivery %d: %w", d.ID, err)
	}
	if _, err := tx.ExecContext(ctx, insertAttemptSQL, d.ID, ms, attempt, boolInt(r.OK), r.StatusCode,
		r.Latency.Milliseconds(), truncateText(r.Error, 500)); err != nil {
		return fmt.Errorf("db: complete delivery %d: %w", d.ID, err)
	}
	status, next := DeliveryDelivered, ms
	if !r.OK {
		status = DeliveryFailed
		if t, ok := NextRetry(d.CreatedAt, now, attempt); ok && !r.Permanent {
			status, next = DeliveryPending, toMillis(t)
		}
	}
	var done sql.NullInt64
	if status != DeliveryPending {
		done = sql.NullInt64{Int64: ms, Valid: true}
	}
	res, err := tx.ExecContext(ctx, `UPDATE outbox_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
		lease_holder = '', lease_until = 0, done_at = ?, last_error = ?
		WHERE id = ? AND lease_holder = ? AND status = 'pending'`,
		status, attempt, next, done, truncateText(r.Error, 500), d.ID, holder)
	if err != nil {
		return fmt.Errorf("db: complete delivery %d: %w", d.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err := tx.Commit(); err != nil { // keep the attempt in the log
			return fmt.Errorf("db: complete delivery %d: %w", d.ID, err)
		}
		return nil
	}
	if d.Channel == ChannelWebhook && d.EndpointID != 0 && d.Event.Type != EventWebhookTest {
		if err := s.noteEndpointHealth(ctx, tx, d.EndpointID, r.OK, now); err != nil {
			return err
		}
	}
	if status != DeliveryPending {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox_events SET private = NULL WHERE id = ? AND private IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM outbox_deliveries WHERE event_id = ? AND status = 'pending')`,
			d.Event.ID, d.Event.ID); err != nil {
			return fmt.Errorf("db: complete delivery %d: %w", d.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: complete delivery %d: %w", d.ID, err)
	}
	return nil
}

// noteEndpointHealth keeps an endpoint's failing_since and disables it,
// telling its owner, once it has failed for RetryWindow.
func (s *Store) noteEndpointHealth(ctx context.Context, tx *Tx, id int64, ok bool, now time.Time) error {
	ms := toMillis(now)
	if ok {
		_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?`, id)
		return err
	}
	var (
		since     int64
		createdBy sql.NullInt64
		url       string
	)
	err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?)
		WHERE id = ? AND disabled_at IS NULL RETURNING failing_since, created_by, url`, ms, id).Scan(&since, &createdBy, &url)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("db: endpoint %d health: %w", id, err)
	}
	if ms-since < RetryWindow.Milliseconds() {
		return nil
	}
	reason := "failing for 24 hours"
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ? WHERE id = ?`,
		ms, reason, id); err != nil {
		return fmt.Errorf("db: disable endpoint %d: %w", id, err)
	}
	if err := failEndpointDeliveries(ctx, tx, id, now, "the endpoint was disabled after failing for 24 hours"); err != nil {
		return err
	}
	ev := &OutboxEvent{Type: EventEndpointDisabled, UserID: createdBy.Int64, EndpointID: id,
		Data: map[string]any{"endpoint": map[string]any{"id": id, "url": url}, "reason": reason}}
	if err := enqueue(ctx, tx, now, ev); err != nil {
		return err
	}
	e := SystemActor().event(ActionWebhookDisable, "webhook", id, url)
	e.Detail = map[string]string{"reason": reason}
	return insertAudit(ctx, tx, now, e)
}

// PruneOutbox deletes events older than keep whose deliveries are all done
// (with their deliveries and attempts), and reminder markers older than a
// year. It returns the events deleted.
func (s *Store) PruneOutbox(ctx context.Context, keep time.Duration) (int64, error) {
	cutoff := toMillis(s.Now().Add(-keep))
	res, err := s.w.ExecContext(ctx, `DELETE FROM outbox_events WHERE at < ? AND fanned_out_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = outbox_events.id AND d.status = 'pending')`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("db: prune outbox: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := s.w.ExecContext(ctx, `DELETE FROM notices_sent WHERE sent_at < ?`,
		toMillis(s.Now().Add(-366*24*time.Hour))); err != nil {
		return n, fmt.Errorf("db: prune notices: %w", err)
	}
	return n, nil
}

func scanEvents(rows *Rows, err error) ([]OutboxEvent, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxEvent
	for rows.Next() {
		var (
			ev                                 OutboxEvent
			at                                 int64
			actor, user, team, key, endpointID sql.NullInt64
			payload                            string
		)
		if err := rows.Scan(&ev.ID, &ev.EventID, &ev.Type, &at, &actor, &user, &team, &key, &endpointID, &payload, &ev.sealed); err != nil {
			return nil, err
		}
		ev.At = fromMillis(at)
		ev.ActorID, ev.UserID, ev.TeamID, ev.KeyID, ev.EndpointID = actor.Int64, user.Int64, team.Int64, key.Int64, endpointID.Int64
		if err := json.Unmarshal([]byte(payload), &ev.Data); err != nil {
			ev.broken = fmt.Errorf("its payload is not JSON: %w", err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// truncateText cuts s to at most n bytes, dropping a cut rune.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
