package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ActionWebhookTest is the audit action of an endpoint's "Send test event".
const ActionWebhookTest = "webhook.test"

// What admins do to a registered endpoint. Each change is audited in its
// own transaction; the sends it causes go through the outbox like any
// other, so no request waits on a receiver.

// UpdateWebhookEndpoint changes an endpoint's URL, description and event
// types; its secret stays. Deliveries already made keep going to the URL
// they were made for only until their next attempt: every attempt reads
// the endpoint's current URL.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, id int64, in WebhookInput, actor Actor) (WebhookEndpoint, error) {
	if err := in.validate(); err != nil {
		return WebhookEndpoint{}, err
	}
	err := s.inWriteTx(ctx, "update webhook", func(tx *Tx, now time.Time) error {
		var got int64
		err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET url = ?, description = ?, event_types = ?
			WHERE id = ? RETURNING id`, in.URL, in.Description, strings.Join(in.EventTypes, " "), id).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("db: webhook %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("db: update webhook %d: %w", id, err)
		}
		e := actor.event(ActionWebhookUpdate, "webhook", id, in.URL)
		e.Detail = map[string]string{"event_types": strings.Join(in.EventTypes, " ")}
		if in.Description != "" {
			e.Detail["description"] = in.Description
		}
		return insertAudit(ctx, tx, now, e)
	})
	if err != nil {
		return WebhookEndpoint{}, err
	}
	return s.GetWebhookEndpoint(ctx, id)
}

// DeleteWebhookEndpoint removes an endpoint with its deliveries and their
// log (ON DELETE CASCADE). The audit record keeps its URL.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, id int64, actor Actor) error {
	return s.inWriteTx(ctx, "delete webhook", func(tx *Tx, now time.Time) error {
		var url string
		err := tx.QueryRowContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ? RETURNING url`, id).Scan(&url)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("db: webhook %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("db: delete webhook %d: %w", id, err)
		}
		return insertAudit(ctx, tx, now, actor.event(ActionWebhookDelete, "webhook", id, url))
	})
}

// SetWebhookEndpointDisabled disables an endpoint (no new event is fanned
// out to it and its pending retries are given up) or enables it again,
// which also forgets its run of failures so the 24-hour clock starts anew.
// Setting the state it already has changes nothing and records nothing.
func (s *Store) SetWebhookEndpointDisabled(ctx context.Context, id int64, disabled bool, actor Actor) (WebhookEndpoint, error) {
	err := s.inWriteTx(ctx, "disable webhook", func(tx *Tx, now time.Time) error {
		var (
			url string
			was sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT url, disabled_at FROM webhook_endpoints WHERE id = ?`, id).Scan(&url, &was)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("db: webhook %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("db: webhook %d: %w", id, err)
		}
		if was.Valid == disabled {
			return nil
		}
		action := ActionWebhookEnable
		if disabled {
			action = ActionWebhookDisable
			reason := "disabled by " + actor.Label
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ? WHERE id = ?`,
				toMillis(now), reason, id); err != nil {
				return fmt.Errorf("db: disable webhook %d: %w", id, err)
			}
			if err := failEndpointDeliveries(ctx, tx, id, now, "the endpoint was disabled"); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = '',
			failing_since = NULL WHERE id = ?`, id); err != nil {
			return fmt.Errorf("db: enable webhook %d: %w", id, err)
		}
		return insertAudit(ctx, tx, now, actor.event(action, "webhook", id, url))
	})
	if err != nil {
		return WebhookEndpoint{}, err
	}
	return s.GetWebhookEndpoint(ctx, id)
}

// failEndpointDeliveries gives up every pending delivery of a disabled
// endpoint: its retries would only fail again, or reach a receiver an
// admin switched off. A test event or a resend asked for later still goes.
func failEndpointDeliveries(ctx context.Context, tx *Tx, id int64, now time.Time, reason string) error {
	_, err := tx.ExecContext(ctx, `UPDATE outbox_deliveries SET status = 'failed', done_at = ?, last_error = ?,
		lease_holder = '', lease_until = 0
		WHERE endpoint_id = ? AND status = 'pending'`, toMillis(now), reason, id)
	if err != nil {
		return fmt.Errorf("db: give up deliveries of webhook %d: %w", id, err)
	}
	return nil
}

// RollWebhookSecret gives an endpoint a new signing secret, returned this
// once; the old one stops signing at once (the receiver must be updated).
func (s *Store) RollWebhookSecret(ctx context.Context, id int64, actor Actor) (string, error) {
	secret, err := newWebhookSecret()
	if err != nil {
		return "", err
	}
	err = s.inWriteTx(ctx, "roll webhook secret", func(tx *Tx, now time.Time) error {
		sealed, err := sealInTx(ctx, tx, now, []byte(secret))
		if err != nil {
			return err
		}
		var url string
		err = tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET secret = ? WHERE id = ? RETURNING url`, sealed, id).Scan(&url)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("db: webhook %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("db: roll webhook %d secret: %w", id, err)
		}
		e := actor.event(ActionWebhookUpdate, "webhook", id, url)
		e.Detail = map[string]string{"secret": "rolled"}
		return insertAudit(ctx, tx, now, e)
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// ResendDelivery makes a new pending delivery of the same event to the
// same endpoint as webhook delivery deliveryID of endpoint endpointID (a
// new row, so the log keeps the old one). The receiver gets the same
// webhook-id and can tell it saw the event before. It returns the new
// delivery's id.
func (s *Store) ResendDelivery(ctx context.Context, endpointID, deliveryID int64, actor Actor) (int64, error) {
	var newID int64
	err := s.inWriteTx(ctx, "resend delivery", func(tx *Tx, now time.Time) error {
		var (
			eventID  int64
			publicID string
			url      string
		)
		err := tx.QueryRowContext(ctx, `SELECT d.event_id, e.event_id, w.url FROM outbox_deliveries d
			JOIN outbox_events e ON e.id = d.event_id JOIN webhook_endpoints w ON w.id = d.endpoint_id
			WHERE d.id = ? AND d.endpoint_id = ? AND d.channel = 'webhook'`, deliveryID, endpointID).Scan(&eventID, &publicID, &url)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("db: delivery %d of webhook %d: %w", deliveryID, endpointID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("db: resend delivery %d: %w", deliveryID, err)
		}
		if err := tx.QueryRowContext(ctx, insertDeliverySQL+` RETURNING id`, eventID, ChannelWebhook, "", nil, endpointID,
			toMillis(now), toMillis(now)).Scan(&newID); err != nil {
			return fmt.Errorf("db: resend delivery %d: %w", deliveryID, err)
		}
		tx.enqueued = true // wake the worker once this commits
		e := actor.event(ActionWebhookResend, "webhook", endpointID, url)
		e.Detail = map[string]string{"event": publicID, "delivery": strconv.FormatInt(deliveryID, 10)}
		return insertAudit(ctx, tx, now, e)
	})
	if err != nil {
		return 0, err
	}
	return newID, nil
}

// testEventMessage is the text of every webhook.test event.
const testEventMessage = "This is a test event from Keyward. If you can read it, this endpoint receives and verifies Keyward's webhooks."

// SendTestEvent enqueues a webhook.test event for endpoint id alone (it
// goes there even while the endpoint is disabled, to check a receiver
// before enabling it again) and returns it.
func (s *Store) SendTestEvent(ctx context.Context, id int64, actor Actor) (OutboxEvent, error) {
	var ev OutboxEvent
	err := s.inWriteTx(ctx, "send test event", func(tx *Tx, now time.Time) error {
		var url string
		err := tx.QueryRowContext(ctx, `SELECT url FROM webhook_endpoints WHERE id = ?`, id).Scan(&url)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("db: webhook %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("db: webhook %d: %w", id, err)
		}
		ev = OutboxEvent{Type: EventWebhookTest, ActorID: actor.UserID, EndpointID: id,
			Data: map[string]any{"endpoint": map[string]any{"id": id, "url": url}, "message": testEventMessage}}
		if err := enqueue(ctx, tx, now, &ev); err != nil {
			return err
		}
		e := actor.event(ActionWebhookTest, "webhook", id, url)
		e.Detail = map[string]string{"event": ev.EventID}
		return insertAudit(ctx, tx, now, e)
	})
	if err != nil {
		return OutboxEvent{}, err
	}
	return ev, nil
}

// ValidateWebhookInput checks in as CreateWebhookEndpoint and
// UpdateWebhookEndpoint will, writing nothing: the endpoint form runs it
// before the slower check of the addresses the URL resolves to.
func ValidateWebhookInput(in WebhookInput) error { return in.validate() }
