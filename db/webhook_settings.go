package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SettingWebhooksAllowPrivate names the setting that lets webhook endpoints
// use plain http:// and resolve to loopback, link-local and private
// addresses ("1"; absent or anything else: off). Off by default: a webhook
// URL is a request Keyward makes from inside the network, so without it an
// admin (or a stolen admin session) could make Keyward probe internal
// services or a cloud metadata endpoint (SSRF).
const SettingWebhooksAllowPrivate = "webhooks_allow_private"

func readWebhooksAllowPrivate(ctx context.Context, q querier) (bool, error) {
	var v string
	switch err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, SettingWebhooksAllowPrivate).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("db: read %s: %w", SettingWebhooksAllowPrivate, err)
	}
	return v == "1", nil
}

// WebhooksAllowPrivate reports whether webhook endpoints may be private
// receivers (plain http, internal addresses). The sender reads it at every
// send, so turning it off stops deliveries to such endpoints at once.
func (s *Store) WebhooksAllowPrivate(ctx context.Context) (bool, error) {
	return readWebhooksAllowPrivate(ctx, s.r)
}

// SetWebhooksAllowPrivate turns the setting on or off, audited as a
// setting change with the old and new values.
func (s *Store) SetWebhooksAllowPrivate(ctx context.Context, on bool, actor Actor) error {
	return s.inWriteTx(ctx, "set "+SettingWebhooksAllowPrivate, func(tx *Tx, now time.Time) error {
		old, err := readWebhooksAllowPrivate(ctx, tx)
		if err != nil || old == on {
			return err
		}
		v := fmt.Sprint(boolInt(on))
		if _, err := tx.ExecContext(ctx, upsertSettingSQL, SettingWebhooksAllowPrivate, v, toMillis(now)); err != nil {
			return fmt.Errorf("db: set %s: %w", SettingWebhooksAllowPrivate, err)
		}
		e := actor.event(ActionSettingChange, "setting", 0, SettingWebhooksAllowPrivate)
		e.Detail = map[string]string{"setting": SettingWebhooksAllowPrivate, "old": fmt.Sprint(boolInt(old)), "new": v}
		return insertAudit(ctx, tx, now, e)
	})
}
