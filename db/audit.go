package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Audit actions. They are stored as-is, so they never change once shipped.
const (
	ActionLoginSuccess   = "login.success"
	ActionLoginFailure   = "login.failure"
	ActionLogout         = "logout"
	ActionSetup          = "setup.complete"
	ActionUserCreate     = "user.create"
	ActionPasswordChange = "password.change"
	// ActionPasswordChangeFailure: a wrong current password on the
	// password-change form, a guess by whoever holds a session.
	ActionPasswordChangeFailure = "password.change_failure"
	ActionSessionEnd            = "session.end"
	ActionUserDisable           = "user.disable"
	ActionUserEnable            = "user.enable"
	ActionKeyCreate             = "key.create"
	ActionKeyRoll               = "key.roll"
	ActionKeyUpdate             = "key.update"
	ActionKeyDisable            = "key.disable"
	ActionKeyEnable             = "key.enable"
	ActionKeyRevoke             = "key.revoke"
	ActionKeyNewIP              = "key.new_ip"
	ActionSettingChange         = "setting.change"
	ActionInviteCreate          = "invite.create"
	ActionInviteAccept          = "invite.accept"
	ActionInviteRevoke          = "invite.revoke"
	ActionResetLink             = "password.reset_link"
	// ActionResetLinkRevoke: a reset link stopped working before its use
	// (its user or its creator was disabled, the creator demoted).
	ActionResetLinkRevoke = "password.reset_link_revoke"
	// ActionResetLinkDenied: an admin gave a wrong password when asking
	// for another admin's reset link.
	ActionResetLinkDenied = "password.reset_link_denied"
	ActionPasswordReset   = "password.reset"
	ActionUserPromote     = "user.promote"
	ActionUserDemote      = "user.demote"
)

var actionLabels = map[string]string{
	ActionLoginSuccess:          "Signed in",
	ActionLoginFailure:          "Failed sign-in",
	ActionLogout:                "Signed out",
	ActionSetup:                 "Completed setup",
	ActionUserCreate:            "User created",
	ActionPasswordChange:        "Password changed",
	ActionPasswordChangeFailure: "Failed password change",
	ActionSessionEnd:            "Session ended",
	ActionUserDisable:           "User disabled",
	ActionUserEnable:            "User enabled",
	ActionKeyCreate:             "Key created",
	ActionKeyRoll:               "Key rolled",
	ActionKeyUpdate:             "Key edited",
	ActionKeyDisable:            "Key disabled",
	ActionKeyEnable:             "Key enabled",
	ActionKeyRevoke:             "Key revoked",
	ActionKeyNewIP:              "Used from a new IP",
	ActionKeyLeakReported:       "Reported as leaked",
	ActionKeyLimits:             "Key limits changed",
	ActionSettingChange:         "Setting changed",
	ActionInviteCreate:          "Invite link created",
	ActionInviteAccept:          "Invite accepted",
	ActionInviteRevoke:          "Invite revoked",
	ActionResetLink:             "Password reset link created",
	ActionResetLinkRevoke:       "Password reset link revoked",
	ActionResetLinkDenied:       "Reset link refused: wrong password",
	ActionPasswordReset:         "Password reset",
	ActionUserPromote:           "Role raised",
	ActionUserDemote:            "Role lowered",
	// The scope catalog and approval (scopes.go, grants.go, approval.go).
	ActionScopeCreate:         "Scope added to the catalog",
	ActionScopeUpdate:         "Scope changed",
	ActionScopeRename:         "Scope renamed",
	ActionScopeRetire:         "Scope retired",
	ActionScopeRestore:        "Scope brought back",
	ActionKeyScopes:           "Key scopes changed",
	ActionKeyApprovalRequest:  "Approval requested",
	ActionKeyApprove:          "Key approved",
	ActionKeyDeny:             "Approval denied",
	ActionKeyApprovalWithdraw: "Approval request withdrawn",
	// Notifications (notify_recipients.go).
	ActionWebhookCreate:  "Webhook endpoint added",
	ActionWebhookUpdate:  "Webhook endpoint changed",
	ActionWebhookDelete:  "Webhook endpoint deleted",
	ActionWebhookDisable: "Webhook endpoint disabled",
	ActionWebhookEnable:  "Webhook endpoint enabled",
	ActionWebhookResend:  "Webhook delivery resent",
	ActionWebhookTest:    "Webhook test event sent",
	ActionNotifyPrefs:    "Notification choices changed",
	// Alerts (alerts_list.go).
	ActionAlertAcknowledge: "Alert acknowledged",
	ActionAlertResolve:     "Alert resolved",
	ActionAuditExport:      "Audit log exported",
}

// ActionLabel gives the human label of an audit action. An action recorded
// by a newer version still shows as its raw name rather than as nothing.
func ActionLabel(action string) string {
	if l, ok := actionLabels[action]; ok {
		return l
	}
	return action
}

// Actions lists every known action in a stable order, for filter menus.
func Actions() []string {
	return append([]string{
		ActionLoginSuccess, ActionLoginFailure, ActionLogout, ActionSetup,
		ActionUserCreate, ActionInviteCreate, ActionInviteAccept, ActionInviteRevoke,
		ActionPasswordChange, ActionPasswordChangeFailure, ActionResetLink, ActionResetLinkRevoke, ActionResetLinkDenied,
		ActionPasswordReset, ActionSessionEnd,
		ActionUserDisable, ActionUserEnable, ActionUserPromote, ActionUserDemote,
		ActionKeyCreate, ActionKeyRoll, ActionKeyUpdate, ActionKeyDisable,
		ActionKeyEnable, ActionKeyRevoke, ActionKeyNewIP, ActionKeyLeakReported, ActionKeyLimits, ActionSettingChange,
		ActionScopeCreate, ActionScopeUpdate, ActionScopeRename, ActionScopeRetire, ActionScopeRestore,
		ActionKeyScopes, ActionKeyApprovalRequest, ActionKeyApprove, ActionKeyDeny, ActionKeyApprovalWithdraw,
		ActionAuditExport,
	}, slices.Concat(teamActions, tokenActions, notifyActions, alertActions, signinActions)...)
}

// AuditEvent is one row of the audit log. Actor and Target are copied as
// text at the time of the event, so the log still reads correctly after the
// user or key it names has changed.
type AuditEvent struct {
	ID         int64
	At         time.Time
	ActorID    int64 // 0 for the CLI or the system
	Actor      string
	Action     string
	TargetType string // "user", "key", "setting" or ""
	TargetID   int64
	Target     string
	IP         string
	// TokenID is the management token the change was made with (0 for
	// the dashboard, the CLI and the system).
	TokenID int64
	Detail  map[string]string
	// Changes holds the fields an edit changed, each with its value before
	// and after, so the log answers "what was it before?" without another
	// source. Stored in the same JSON object as Detail, one key per field.
	Changes map[string]Change

	// Not stored: what the outbox event of the record needs (outbox_audit.go).
	// key is the key the record is about, as the change left it, when the
	// caller has it at hand; requester is who asked for the approval an
	// approve or deny answers.
	key       *Key
	requester int64
}

// Change is one field's value before and after an edit, as text.
type Change struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

// Audit records e on its own. At zero means now.
func (s *Store) Audit(ctx context.Context, e AuditEvent) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: audit: %w", err)
	}
	defer tx.Rollback()
	if err := insertAudit(ctx, tx, s.Now(), e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: audit: %w", err)
	}
	return nil
}

const insertAuditSQL = `INSERT INTO audit_events
	(at, actor_id, actor, action, target_type, target_id, target, ip, detail, token_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertAudit writes e inside tx, so that a change and its audit record
// commit or fail together. at is used when e.At is zero.
func insertAudit(ctx context.Context, tx *Tx, at time.Time, e AuditEvent) error {
	args, err := auditArgs(at, e)
	if err != nil {
		return err
	}
	if tx.mirrored() {
		return mirrorAudit(ctx, tx, at, e, args)
	}
	if _, err := tx.execCached(ctx, insertAuditSQL, args...); err != nil {
		return fmt.Errorf("db: insert audit %s: %w", e.Action, err)
	}
	return enqueueForAudit(ctx, tx, at, e)
}

// auditArgs gives insertAuditSQL's arguments for e; at is used when e.At is
// zero.
func auditArgs(at time.Time, e AuditEvent) ([]any, error) {
	if !e.At.IsZero() {
		at = e.At
	}
	detail := []byte("{}")
	if len(e.Detail)+len(e.Changes) > 0 {
		all := make(map[string]any, len(e.Detail)+len(e.Changes))
		for k, v := range e.Detail {
			all[k] = v
		}
		for k, c := range e.Changes {
			all[k] = c
		}
		var err error
		if detail, err = json.Marshal(all); err != nil {
			return nil, fmt.Errorf("db: audit detail: %w", err)
		}
	}
	return []any{toMillis(at), nullID(e.ActorID), e.Actor, e.Action, e.TargetType,
		nullID(e.TargetID), e.Target, e.IP, string(detail), nullID(e.TokenID)}, nil
}

// nullID stores 0 (no user, no target) as NULL.
func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

// AuditFilter narrows ListAudit. Zero fields do not filter.
type AuditFilter struct {
	ActorID int64
	// Actor matches the actor's label exactly, ignoring case: an email,
	// "cli", "system" or a key's "key #ID (name)".
	Actor      string
	Action     string
	TargetType string
	TargetID   int64
	TokenID    int64      // events made with this management token
	Since      *time.Time // inclusive
	Until      *time.Time // exclusive
	// BeforeID pages with a keyset: only events with a smaller id, i.e. the
	// ones after the last row of the previous page. Stable while new events
	// arrive, unlike OFFSET.
	BeforeID int64
	Limit    int // default 50, at most 500
}

const (
	defaultAuditLimit = 50
	maxAuditLimit     = 500
)

const listAuditSQL = `SELECT id, at, actor_id, actor, action, target_type, target_id, target, ip, detail, token_id
	FROM audit_events`

// ListAudit returns events matching f, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.ActorID != 0 {
		add("actor_id = ?", f.ActorID)
	}
	if f.Actor != "" {
		add(s.d.equalFold("actor"), strings.TrimSpace(f.Actor))
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.TargetType != "" {
		add("target_type = ?", f.TargetType)
	}
	if f.TargetID != 0 {
		add("target_id = ?", f.TargetID)
	}
	if f.TokenID != 0 {
		add("token_id = ?", f.TokenID)
	}
	if f.Since != nil {
		add("at >= ?", toMillis(*f.Since))
	}
	if f.Until != nil {
		add("at < ?", toMillis(*f.Until))
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultAuditLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}
	q := listAuditSQL
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var (
			e                 AuditEvent
			at                int64
			actorID, targetID sql.NullInt64
			tokenID           sql.NullInt64
			detail            string
		)
		if err := rows.Scan(&e.ID, &at, &actorID, &e.Actor, &e.Action, &e.TargetType,
			&targetID, &e.Target, &e.IP, &detail, &tokenID); err != nil {
			return nil, fmt.Errorf("db: scan audit: %w", err)
		}
		e.At = fromMillis(at)
		e.ActorID = actorID.Int64
		e.TargetID = targetID.Int64
		e.TokenID = tokenID.Int64
		if err := parseAuditDetail(detail, &e); err != nil {
			return nil, fmt.Errorf("db: audit %d detail: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list audit: %w", err)
	}
	return out, nil
}

// parseAuditDetail splits the stored JSON object into e.Detail (text values)
// and e.Changes (before/after objects).
func parseAuditDetail(detail string, e *AuditEvent) error {
	if detail == "" || detail == "{}" {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(detail), &raw); err != nil {
		return err
	}
	for k, v := range raw {
		if len(v) > 0 && v[0] == '{' {
			var c Change
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			if e.Changes == nil {
				e.Changes = map[string]Change{}
			}
			e.Changes[k] = c
			continue
		}
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return err
		}
		if e.Detail == nil {
			e.Detail = map[string]string{}
		}
		e.Detail[k] = str
	}
	return nil
}
