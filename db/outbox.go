package db

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event types: what happened, as a webhook's "type" and an e-mail's
// subject matter. Stored as-is and published in docs/webhooks.md, so they
// never change once shipped; new ones are only added.
const (
	EventKeyCreated    = "key.created"
	EventKeyRolled     = "key.rolled"
	EventKeyRevoked    = "key.revoked"
	EventKeyDisabled   = "key.disabled"
	EventKeyEnabled    = "key.enabled"
	EventKeyExpiring   = "key.expiring" // 7 days and 1 day before, once each
	EventKeyExpired    = "key.expired"
	EventKeyNewAddress = "key.new_address"
	EventKeyApproved   = "key.approved"
	EventKeyDenied     = "key.denied"
	EventUserInvited   = "user.invited"
	EventPasswordReset = "user.password_reset"
	// EventDigest is the weekly summary for admins (e-mail only).
	EventDigest = "digest.weekly"
	// EventWebhookTest is the "Send test event" of one endpoint.
	EventWebhookTest = "webhook.test"
	// EventEndpointDisabled tells an endpoint's owner that 24 hours of
	// failures disabled it (e-mail only).
	EventEndpointDisabled = "webhook.endpoint_disabled"
	// EventRecoveryUsed tells a person that one of their recovery codes
	// signed in to their account (e-mail only, cannot be turned off).
	EventRecoveryUsed = "mfa.recovery_used"
)

// WebhookEventTypes are the types an endpoint can subscribe to, in the
// order the endpoint form lists them. The digest and the endpoint notices
// are e-mail only; webhook.test goes to the one endpoint it tests.
func WebhookEventTypes() []string {
	return []string{EventKeyCreated, EventKeyRolled, EventKeyRevoked, EventKeyDisabled,
		EventKeyEnabled, EventKeyExpiring, EventKeyExpired, EventKeyNewAddress,
		EventKeyApproved, EventKeyDenied, EventUserInvited, EventPasswordReset, EventAlertOpened}
}

// OutboxEvent is one notifiable event. Data is what a webhook receives as
// "data" and what an e-mail is written from: ids and names, never a
// secret. Private carries what only an e-mail to its one recipient may
// hold (the token of an invite or reset link); it is stored sealed and
// erased once the event's deliveries are done.
type OutboxEvent struct {
	ID int64
	// EventID is the public id ("msg_…"): the webhook-id header and the
	// e-mail's Message-ID, the same on every retry, so receivers can
	// de-duplicate.
	EventID string
	Type    string
	At      time.Time
	// ActorID is who caused it (0: the system, the CLI or a key); UserID
	// the person it concerns (a key's owner, an invited person once they
	// exist); TeamID a team key's team; KeyID the key; EndpointID the
	// webhook endpoint of a webhook.* event. Zero means none.
	ActorID, UserID, TeamID, KeyID, EndpointID int64
	Data                                       map[string]any
	Private                                    map[string]string
	FannedOutAt                                *time.Time
	// sealed is the stored, sealed form of Private (fan-out opens it).
	sealed []byte
	// broken says why the stored event cannot be read (fan-out skips it).
	broken error
}

// eventIDEncoding writes event ids in lower-case base32 without padding.
var eventIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newEventID makes a public event id: "msg_" and 128 random bits.
func newEventID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("db: event id: %w", err)
	}
	return "msg_" + eventIDEncoding.EncodeToString(b), nil
}

// outboxSealSecret names the server secret that seals the outbox's private
// parts and the webhook signing secrets at rest.
// #nosec G101 -- the name of a secret, not a credential.
const outboxSealSecret = "outbox_seal"

const insertOutboxSQL = `INSERT INTO outbox_events
	(event_id, type, at, actor_id, user_id, team_id, key_id, endpoint_id, payload, private)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// enqueue writes ev to the outbox inside tx, so the event commits or rolls
// back with the change that caused it, and marks tx so that its commit
// wakes the delivery worker. It fills ev.EventID (and ev.At when zero),
// and ev.ID unless tx batches its events (batchEvents).
func enqueue(ctx context.Context, tx *Tx, at time.Time, ev *OutboxEvent) error {
	if ev.Type == "" {
		return errors.New("db: enqueue: an event needs a type")
	}
	if ev.At.IsZero() {
		ev.At = at
	}
	id, err := newEventID()
	if err != nil {
		return err
	}
	ev.EventID = id
	data := ev.Data
	if data == nil {
		data = map[string]any{}
	}
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("db: enqueue %s: %w", ev.Type, err)
	}
	var private []byte
	if len(ev.Private) > 0 {
		plain, err := json.Marshal(ev.Private)
		if err != nil {
			return fmt.Errorf("db: enqueue %s: %w", ev.Type, err)
		}
		if private, err = sealInTx(ctx, tx, at, plain); err != nil {
			return fmt.Errorf("db: enqueue %s: %w", ev.Type, err)
		}
	}
	args := []any{ev.EventID, ev.Type, toMillis(ev.At),
		nullID(ev.ActorID), nullID(ev.UserID), nullID(ev.TeamID), nullID(ev.KeyID), nullID(ev.EndpointID),
		string(payload), private}
	tx.enqueued = true
	if tx.events != nil {
		tx.events.rows = append(tx.events.rows, args)
		return nil
	}
	if err := tx.QueryRowContext(ctx, insertOutboxSQL+` RETURNING id`, args...).Scan(&ev.ID); err != nil {
		return fmt.Errorf("db: enqueue %s: %w", ev.Type, err)
	}
	return nil
}

// Enqueue writes ev to the outbox on its own, for the jobs that detect an
// event rather than cause it with a change (reminders, the digest, tests).
// Jobs that must send a notice once use EnqueueOnce.
func (s *Store) Enqueue(ctx context.Context, ev *OutboxEvent) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: enqueue: %w", err)
	}
	defer tx.Rollback()
	if err := enqueue(ctx, tx, s.Now(), ev); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: enqueue: %w", err)
	}
	return nil
}

const insertNoticeSQL = `INSERT INTO notices_sent (notice, sent_at) VALUES (?, ?)
	ON CONFLICT (notice) DO NOTHING`

// EnqueueOnce writes ev to the outbox unless the notice called notice was
// enqueued before, and reports whether it did. The marker and the event
// commit together, so a reminder goes out once across restarts, crashes
// and instances: the second caller finds the marker and sends nothing.
func (s *Store) EnqueueOnce(ctx context.Context, notice string, ev *OutboxEvent) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("db: enqueue %q: %w", notice, err)
	}
	defer tx.Rollback()
	sent, err := enqueueOnceTx(ctx, tx, s.Now(), notice, ev)
	if err != nil || !sent {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("db: enqueue %q: %w", notice, err)
	}
	return true, nil
}

// enqueueOnceTx is EnqueueOnce inside tx. A nil ev only writes the marker:
// the notice was decided (an empty digest) and is not to be decided again.
func enqueueOnceTx(ctx context.Context, tx *Tx, now time.Time, notice string, ev *OutboxEvent) (bool, error) {
	res, err := tx.execCached(ctx, insertNoticeSQL, notice, toMillis(now))
	if err != nil {
		return false, fmt.Errorf("db: enqueue %q: %w", notice, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if ev == nil {
		return true, nil
	}
	return true, enqueue(ctx, tx, now, ev)
}

// SetOutboxHook registers fn to run after the commit of every transaction
// of this process that wrote an outbox event: the delivery worker's
// wake-up. Events written by other instances are found by its poll.
func (s *Store) SetOutboxHook(fn func()) {
	if fn == nil {
		s.w.enqueued.Store(nil)
		return
	}
	s.w.enqueued.Store(&fn)
}

// deliveredPayload is an event as a webhook receives it (Standard
// Webhooks' recommended shape): type, timestamp and data.
type deliveredPayload struct {
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// WebhookBody is the JSON body a webhook receiver gets for ev.
func (ev OutboxEvent) WebhookBody() ([]byte, error) {
	data := ev.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(deliveredPayload{Type: ev.Type, Timestamp: ev.At.UTC(), Data: data})
	if err != nil {
		return nil, fmt.Errorf("db: webhook body of %s: %w", ev.EventID, err)
	}
	return b, nil
}

// eventTypeList parses an endpoint's space-separated event types.
func eventTypeList(s string) []string { return strings.Fields(s) }
