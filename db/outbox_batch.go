package db

import (
	"context"
	"errors"
	"fmt"
)

// eventBatch holds the outbox rows of a transaction that writes many
// events at once (a bulk revoke of thousands of keys, a usage flush that
// saw many new addresses): they are written a chunk at a time by
// flushEvents instead of one INSERT each, which on PostgreSQL is one round
// trip per event.
type eventBatch struct {
	rows [][]any
}

// outboxChunk is how many events one INSERT of a batch writes: 10
// parameters a row stay far below both engines' limits.
const outboxChunk = 200

const insertOutboxValuesSQL = `INSERT INTO outbox_events
	(event_id, type, at, actor_id, user_id, team_id, key_id, endpoint_id, payload, private)
	VALUES `

// errUnflushedEvents refuses to commit a batching transaction whose events
// were never written: committing would keep the change and lose its events.
var errUnflushedEvents = errors.New("db: commit with outbox events not yet written (flushEvents)")

// batchEvents makes enqueue collect tx's events for flushEvents, which must
// run before Commit (Commit refuses otherwise). Events enqueued in a batch
// get no ID. Such a transaction also reuses its statements (the audit
// insert, the key lookup), prepared once.
func batchEvents(tx *Tx) {
	if tx.events == nil {
		tx.events = &eventBatch{}
	}
	tx.reuseStatements()
}

// flushEvents writes the events batched in tx.
func flushEvents(ctx context.Context, tx *Tx) error {
	b := tx.events
	if b == nil {
		return nil
	}
	for len(b.rows) > 0 {
		n := min(len(b.rows), outboxChunk)
		args := make([]any, 0, 10*n)
		for _, r := range b.rows[:n] {
			args = append(args, r...)
		}
		q := insertOutboxValuesSQL + valuesList(n, 10)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("db: write %d outbox events: %w", n, err)
		}
		b.rows = b.rows[n:]
	}
	return nil
}
