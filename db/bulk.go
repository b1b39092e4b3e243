package db

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// MaxBulkKeys bounds one bulk action: large enough for "revoke every stale
// key" in a big installation, small enough to stay one short transaction.
const MaxBulkKeys = 100_000

// idChunk is how many ids go in one IN (...) list: far below SQLite's limit
// on bound parameters (32,766).
const idChunk = 500

// BulkResult reports what a bulk action did, key by key, in the order asked.
type BulkResult struct {
	Changed []Key   // now in the target state
	Skipped []Key   // already in the target state, or revoked (final)
	Missing []int64 // ids of keys that do not exist
}

// uniqueIDs drops repeated ids, keeping the first of each.
func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// loadKeys reads the keys with the given ids (any owner) through q, chunk by
// chunk, and returns them by id.
func loadKeys(ctx context.Context, q querier, ids []int64) (map[int64]Key, error) {
	out := make(map[int64]Key, len(ids))
	for start := 0; start < len(ids); start += idChunk {
		chunk := ids[start:min(start+idChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		query := selectKeySQL + ` WHERE k.id IN (?` + strings.Repeat(`, ?`, len(chunk)-1) + `)`
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("db: load keys: %w", err)
		}
		for rows.Next() {
			k, err := scanKey(rows)
			if err != nil {
				_ = rows.Close() // the scan error is the one to report
				return nil, fmt.Errorf("db: scan key: %w", err)
			}
			out[k.ID] = k
		}
		err = rows.Err()
		_ = rows.Close() // Err already holds any failure of the iteration
		if err != nil {
			return nil, fmt.Errorf("db: load keys: %w", err)
		}
	}
	return out, nil
}

// KeysByIDs returns the keys that exist among ids (any owner), in the order
// of ids without repeats, and the ids that match no key. Admin only: it is
// how a bulk action shows what it is about to change.
func (s *Store) KeysByIDs(ctx context.Context, ids []int64) ([]Key, []int64, error) {
	ids = uniqueIDs(ids)
	found, err := loadKeys(ctx, s.r, ids)
	if err != nil {
		return nil, nil, err
	}
	var keys []Key
	var missing []int64
	for _, id := range ids {
		if k, ok := found[id]; ok {
			keys = append(keys, k)
		} else {
			missing = append(missing, id)
		}
	}
	return keys, missing, nil
}

// bulkAction is what distinguishes disable from revoke.
type bulkAction struct {
	name   string // for errors
	audit  string // audit action
	update string // SQL; its arguments come from args
	// skip reports whether k is already in the target state (or final).
	skip func(k Key) bool
	// apply sets the new state on k and returns the update's arguments.
	apply func(k *Key, now time.Time, reason string, actor Actor) []any
}

var bulkDisable = bulkAction{
	name:   "disable",
	audit:  ActionKeyDisable,
	update: setKeyDisabledSQL,
	skip:   func(k Key) bool { return k.RevokedAt != nil || k.DisabledAt != nil },
	apply: func(k *Key, now time.Time, reason string, actor Actor) []any {
		k.DisabledAt, k.DisabledBy, k.DisabledReason = &now, actor.UserID, reason
		return []any{toMillis(now), nullID(actor.UserID), reason, k.ID}
	},
}

var bulkRevoke = bulkAction{
	name:   "revoke",
	audit:  ActionKeyRevoke,
	update: revokeKeySQL,
	skip:   func(k Key) bool { return k.RevokedAt != nil },
	apply: func(k *Key, now time.Time, reason string, actor Actor) []any {
		k.RevokedAt, k.RevokedBy, k.RevokeReason = &now, actor.UserID, reason
		return []any{toMillis(now), nullID(actor.UserID), reason, k.ID}
	},
}

// BulkDisableKeys disables the keys with the given ids (any owner) in one
// transaction, auditing each with reason. Admin only.
func (s *Store) BulkDisableKeys(ctx context.Context, ids []int64, reason string, actor Actor) (BulkResult, error) {
	return s.bulk(ctx, bulkDisable, ids, reason, actor)
}

// BulkRevokeKeys revokes the keys with the given ids (any owner) in one
// transaction, auditing each with reason. Admin only.
func (s *Store) BulkRevokeKeys(ctx context.Context, ids []int64, reason string, actor Actor) (BulkResult, error) {
	return s.bulk(ctx, bulkRevoke, ids, reason, actor)
}

// bulk runs act over ids. It is all or nothing: a failure part-way leaves
// every key as it was. A reason is required (field "reason") because a bulk
// change is the kind an owner will later ask about.
func (s *Store) bulk(ctx context.Context, act bulkAction, ids []int64, reason string, actor Actor) (BulkResult, error) {
	var ve ValidationError
	reason = checkFreeText("reason", reason, MaxRevokeReasonLength, &ve)
	if reason == "" {
		ve.Add("reason", "Enter a reason.")
	}
	if err := ve.Err(); err != nil {
		return BulkResult{}, err
	}
	ids = uniqueIDs(ids)
	switch {
	case len(ids) == 0:
		return BulkResult{}, Errorf(ErrInvalid, "Select at least one key.")
	case len(ids) > MaxBulkKeys:
		return BulkResult{}, Errorf(ErrInvalid, "Select at most %d keys at once.", MaxBulkKeys)
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return BulkResult{}, fmt.Errorf("db: bulk %s: %w", act.name, err)
	}
	defer tx.Rollback()
	found, err := loadKeys(ctx, tx, ids)
	if err != nil {
		return BulkResult{}, err
	}
	update, err := tx.PrepareContext(ctx, act.update)
	if err != nil {
		return BulkResult{}, fmt.Errorf("db: bulk %s: %w", act.name, err)
	}
	defer update.Close()
	audit, err := tx.PrepareContext(ctx, insertAuditSQL)
	if err != nil {
		return BulkResult{}, fmt.Errorf("db: bulk %s: %w", act.name, err)
	}
	defer audit.Close()
	batchEvents(tx) // one event per key: written a chunk at a time

	now := fromMillis(toMillis(s.Now()))
	var res BulkResult
	for _, id := range ids {
		k, ok := found[id]
		switch {
		case !ok:
			res.Missing = append(res.Missing, id)
			continue
		case act.skip(k):
			res.Skipped = append(res.Skipped, k)
			continue
		}
		if _, err := update.ExecContext(ctx, act.apply(&k, now, reason, actor)...); err != nil {
			return BulkResult{}, fmt.Errorf("db: bulk %s key %d: %w", act.name, id, err)
		}
		e := actor.event(act.audit, "key", id, k.Name)
		e.Detail = map[string]string{"reason": reason, "bulk": "true"}
		e.key = &k
		if err := execAudit(ctx, tx, audit, now, e); err != nil {
			return BulkResult{}, err
		}
		res.Changed = append(res.Changed, k)
	}
	if len(res.Changed) == 0 {
		return res, nil
	}
	if err := flushEvents(ctx, tx); err != nil {
		return BulkResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return BulkResult{}, fmt.Errorf("db: bulk %s: %w", act.name, err)
	}
	s.keyChanged()
	return res, nil
}

// execAudit writes e through a prepared insertAuditSQL statement: a bulk
// action writes thousands of events in one transaction.
func execAudit(ctx context.Context, tx *Tx, stmt *Stmt, at time.Time, e AuditEvent) error {
	args, err := auditArgs(at, e)
	if err != nil {
		return err
	}
	if tx.mirrored() {
		return mirrorAudit(ctx, tx, at, e, args)
	}
	if _, err := stmt.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("db: insert audit %s: %w", e.Action, err)
	}
	return enqueueForAudit(ctx, tx, at, e)
}
