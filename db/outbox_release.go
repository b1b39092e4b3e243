package db

import (
	"context"
	"fmt"
)

// ReleaseDeliveries hands back the pending deliveries holder has claimed,
// so that another worker (another instance, or this one restarted) takes
// them at once instead of after the lease. A worker calls it when it stops
// on purpose, after its sends have returned: what it had claimed but not
// sent, or cut short, is then due again. A delivery whose send may have
// reached the receiver before being cut short is sent once more; receivers
// de-duplicate by the event id. It returns the deliveries released.
func (s *Store) ReleaseDeliveries(ctx context.Context, holder string) (int64, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE outbox_deliveries SET lease_holder = '', lease_until = 0
		WHERE lease_holder = ? AND status = 'pending'`, holder)
	if err != nil {
		return 0, fmt.Errorf("db: release deliveries of %s: %w", holder, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("db: release deliveries of %s: %w", holder, err)
	}
	return n, nil
}
