package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// auditEvents maps the audit actions that are also notifiable events to
// their event type: the change's own audit write enqueues the event, in
// the same transaction, so no change path can forget to notify.
var auditEvents = map[string]string{
	ActionKeyCreate:  EventKeyCreated,
	ActionKeyRoll:    EventKeyRolled,
	ActionKeyRevoke:  EventKeyRevoked,
	ActionKeyDisable: EventKeyDisabled,
	ActionKeyEnable:  EventKeyEnabled,
	ActionKeyNewIP:   EventKeyNewAddress,
	ActionKeyApprove: EventKeyApproved,
	ActionKeyDeny:    EventKeyDenied,
}

// auditPayloadDetail are the audit details an event's payload carries:
// why (reason, cause), how (bulk, grace, the roll's other key), what an
// approval decided (scopes, outcome) and the user agent of a new address.
// Other details stay in the audit log.
var auditPayloadDetail = []string{"reason", "cause", "bulk", "grace", "rolled_to", "rolled_from",
	"scopes", "whole_key", "outcome", "user_agent"}

// causeUnused is the "cause" detail of a key disabled for being unused:
// the one disable its owner may choose not to hear about (NotifyUnused).
const causeUnused = "unused"

const outboxKeySQL = `SELECT k.name, k.hint, k.user_id, k.team_id, COALESCE(u.email, ''), COALESCE(t.name, '')
	FROM api_keys k LEFT JOIN users u ON u.id = k.user_id LEFT JOIN teams t ON t.id = k.team_id
	WHERE k.id = ?`

// eventKey is what an event says about its key and whom it concerns.
type eventKey struct {
	name, hint, email, team string
	userID, teamID          int64
}

// lookupEventKey reads key id as it is in tx; ok is false when it is gone.
func lookupEventKey(ctx context.Context, tx *Tx, id int64) (k eventKey, ok bool, err error) {
	var userID, teamID sql.NullInt64
	err = tx.queryRowCached(ctx, outboxKeySQL, id).Scan(&k.name, &k.hint, &userID, &teamID, &k.email, &k.team)
	if errors.Is(err, sql.ErrNoRows) {
		return k, false, nil
	}
	k.userID, k.teamID = userID.Int64, teamID.Int64
	return k, err == nil, err
}

// enqueueForAudit enqueues the event an audit record stands for, if any,
// inside the audit record's transaction. The payload describes the key as
// it is in that transaction (after the change): id, name, hint and owner,
// taken from e.key when the caller has the key at hand (a bulk action), so
// that a thousand events cost no thousand lookups.
func enqueueForAudit(ctx context.Context, tx *Tx, at time.Time, e AuditEvent) error {
	typ, ok := auditEvents[e.Action]
	if !ok || e.TargetType != "key" || e.TargetID == 0 {
		return nil
	}
	var k eventKey
	if e.key != nil {
		k = eventKey{name: e.key.Name, hint: e.key.Hint, email: e.key.OwnerEmail, team: e.key.TeamName,
			userID: e.key.UserID, teamID: e.key.TeamID}
	} else {
		found, ok, err := lookupEventKey(ctx, tx, e.TargetID)
		if err != nil {
			return fmt.Errorf("db: enqueue %s for key %d: %w", typ, e.TargetID, err)
		}
		if !ok {
			return nil // a key deleted in the same transaction: nobody to tell
		}
		k = found
	}
	key := map[string]any{"id": e.TargetID, "name": k.name, "hint": k.hint, "owner": k.email, "owner_type": OwnerUser}
	ev := &OutboxEvent{Type: typ, At: e.At, ActorID: e.ActorID, KeyID: e.TargetID,
		Data: map[string]any{"key": key, "actor": e.Actor}}
	if k.teamID != 0 {
		key["owner"], key["owner_type"] = teamOwner(k.team), OwnerTeam
		ev.TeamID = k.teamID
	} else {
		ev.UserID = k.userID
	}
	// An approval's answer goes to the person who asked, who on a team
	// key is one member and on anyone's key may be an admin.
	if (typ == EventKeyApproved || typ == EventKeyDenied) && e.requester != 0 {
		ev.UserID = e.requester
	}
	for _, d := range auditPayloadDetail {
		if v, ok := e.Detail[d]; ok {
			ev.Data[d] = v
		}
	}
	if typ == EventKeyNewAddress {
		ev.Data["ip"] = e.IP
	}
	return enqueue(ctx, tx, at, ev)
}
