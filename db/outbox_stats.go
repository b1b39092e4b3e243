package db

import (
	"context"
	"fmt"
)

// outboxPendingSQL counts what is still to be sent: deliveries pending
// (due now or waiting for a retry) and events the worker has not yet
// turned into deliveries. Both counts read a partial index.
const outboxPendingSQL = `SELECT
	(SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'pending') +
	(SELECT COUNT(*) FROM outbox_events WHERE fanned_out_at IS NULL)`

// OutboxPending returns how many messages are waiting in the outbox, for
// /metrics: a number that grows and stays up means receivers are down or
// the worker is not keeping up.
func (s *Store) OutboxPending(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, outboxPendingSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: outbox pending: %w", err)
	}
	return n, nil
}
