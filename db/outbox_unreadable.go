package db

import (
	"context"
	"errors"
	"fmt"
)

// errDeliveryUnreadable: a claimed delivery cannot be sent, ever: its
// sealed part does not open (the database was copied without its server
// secrets, or tampered with) or its payload does not parse.
var errDeliveryUnreadable = errors.New("the delivery cannot be read")

// unreadable marks a seal failure of delivery id as errDeliveryUnreadable;
// other errors (the database's) pass through unchanged.
func unreadable(id int64, err error) error {
	if errors.Is(err, errSealBroken) {
		return fmt.Errorf("db: delivery %d: %w: its sealed secret does not open with this database's server secret", id, errDeliveryUnreadable)
	}
	return err
}

// giveUpUnreadable fails delivery id for good inside the claim's
// transaction, logging why as its one attempt.
func giveUpUnreadable(ctx context.Context, tx *Tx, id, now int64, cause error) error {
	msg := truncateText(cause.Error(), 500)
	if _, err := tx.ExecContext(ctx, insertAttemptSQL, id, now, 1, 0, 0, 0, msg); err != nil {
		return fmt.Errorf("db: give up delivery %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox_deliveries SET status = 'failed', attempts = attempts + 1,
		lease_holder = '', lease_until = 0, done_at = ?, last_error = ? WHERE id = ?`, now, msg, id); err != nil {
		return fmt.Errorf("db: give up delivery %d: %w", id, err)
	}
	return nil
}
