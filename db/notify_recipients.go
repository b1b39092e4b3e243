package db

import (
	"context"
	"fmt"
	"strings"
)

// Notification kinds: the e-mails a person can turn off on the Account
// page. Security events (a key of theirs revoked or disabled by someone
// else, invite and reset links, an endpoint of theirs disabled) have no
// kind: they cannot be turned off.
const (
	NotifyExpiry     = "expiry"      // a key expires in 7 days, in 1 day, has expired
	NotifyNewAddress = "new_address" // a key was used from a new address
	NotifyUnused     = "unused"      // a key was disabled for being unused
	NotifyApproval   = "approval"    // a key was approved or denied
	NotifyDigest     = "digest"      // the weekly digest (admins)
)

// NotifyKinds lists the kinds in the order the Account page shows them.
func NotifyKinds() []string {
	return []string{NotifyExpiry, NotifyNewAddress, NotifyUnused, NotifyApproval, NotifyDigest}
}

// Audit actions of the notifications.
const (
	ActionWebhookCreate  = "webhook.create"
	ActionWebhookUpdate  = "webhook.update"
	ActionWebhookDelete  = "webhook.delete"
	ActionWebhookDisable = "webhook.disable"
	ActionWebhookEnable  = "webhook.enable"
	ActionWebhookResend  = "webhook.resend"
	ActionNotifyPrefs    = "notify.prefs"
)

// notifyActions are the audit actions of the notifications, for Actions.
var notifyActions = []string{ActionWebhookCreate, ActionWebhookUpdate, ActionWebhookDelete,
	ActionWebhookDisable, ActionWebhookEnable, ActionWebhookResend, ActionWebhookTest, ActionNotifyPrefs}

// emailKind is the notification kind of ev's e-mail: "" for a security
// event nobody can turn off; ok is false when ev sends no e-mail at all.
func emailKind(ev OutboxEvent) (kind string, ok bool) {
	switch ev.Type {
	case EventKeyRevoked, EventUserInvited, EventPasswordReset, EventEndpointDisabled, EventAlertOpened, EventRecoveryUsed:
		return "", true
	case EventKeyDisabled:
		// Disabled for being unused (the auto-disable policy) is the
		// owner's to mute; disabled by someone (an admin, a teammate, the
		// CLI) is a security event.
		if ev.Data["cause"] == causeUnused {
			return NotifyUnused, true
		}
		return "", true
	case EventKeyExpiring, EventKeyExpired:
		return NotifyExpiry, true
	case EventKeyNewAddress:
		return NotifyNewAddress, true
	case EventKeyApproved, EventKeyDenied:
		return NotifyApproval, true
	case EventDigest:
		return NotifyDigest, true
	case EventFactorsReset:
		return "", true
	}
	return "", false
}

// emailRecipients decides who is e-mailed about ev: the invited or reset
// address; a key's owner (a team key: the team's members), but for an
// approval's answer the person who asked; every admin for the digest; an
// endpoint's creator when it is disabled; an alert's key owner and, for
// the alerts that mean a key is in someone else's hands (alertsForAdmins),
// every admin as well. Nobody is e-mailed
// about what they did themselves, disabled people get nothing, and a kind
// someone turned off is skipped.
func emailRecipients(ctx context.Context, tx *Tx, ev OutboxEvent) ([]Recipient, error) {
	kind, ok := emailKind(ev)
	if !ok {
		return nil, nil
	}
	if ev.Type == EventUserInvited || ev.Type == EventPasswordReset {
		if addr := ev.Private["email"]; addr != "" {
			return []Recipient{{Address: addr, UserID: ev.UserID}}, nil
		}
		return nil, nil
	}
	var (
		q    string
		args []any
	)
	switch {
	case ev.Type == EventDigest:
		q = `SELECT u.id, u.email FROM users u WHERE u.role = 'admin' AND u.disabled_at IS NULL`
	case (ev.Type == EventKeyApproved || ev.Type == EventKeyDenied) && ev.UserID != 0:
		q = `SELECT u.id, u.email FROM users u WHERE u.id = ? AND u.disabled_at IS NULL`
		args = append(args, ev.UserID)
	case ev.TeamID != 0:
		q = `SELECT u.id, u.email FROM team_members m JOIN users u ON u.id = m.user_id
			WHERE m.team_id = ? AND u.disabled_at IS NULL`
		args = append(args, ev.TeamID)
	case ev.UserID != 0:
		q = `SELECT u.id, u.email FROM users u WHERE u.id = ? AND u.disabled_at IS NULL`
		args = append(args, ev.UserID)
	case ev.Type == EventEndpointDisabled:
		q = `SELECT u.id, u.email FROM users u WHERE u.role = 'admin' AND u.disabled_at IS NULL`
	default:
		return nil, nil
	}
	if kind != "" {
		q += ` AND NOT EXISTS (SELECT 1 FROM notification_prefs p WHERE p.user_id = u.id AND p.kind = ? AND p.enabled = 0)`
		args = append(args, kind)
	}
	if ev.Type == EventAlertOpened && alertForAdmins(ev) {
		// The owner (or team) and the admins, each once.
		q = `SELECT u.id, u.email FROM users u WHERE u.disabled_at IS NULL AND (u.role = 'admin' OR u.id IN (` +
			strings.Replace(q, `u.id, u.email`, `u.id`, 1) + `))`
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY u.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("recipients of %s: %w", ev.Type, err)
	}
	defer rows.Close()
	var out []Recipient
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.UserID, &r.Address); err != nil {
			return nil, err
		}
		if r.UserID == ev.ActorID && ev.Type != EventDigest {
			continue
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// alertForAdmins reports whether an alert.opened event also goes to every
// admin: a leak report or a dead key still in use means someone other than
// the owner may hold the key, which admins answer for too.
func alertForAdmins(ev OutboxEvent) bool {
	a, _ := ev.Data["alert"].(map[string]any)
	rule, _ := a["rule"].(string)
	return rule == RuleLeakReported || rule == RuleDeadKey
}
