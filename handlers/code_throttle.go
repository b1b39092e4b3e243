package handlers

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// Second-factor codes (authenticator and recovery codes) are throttled by
// the sign-in throttle, like passwords: per client address (in memory, the
// same allowance as passwords) and per account (in the database, under
// db.CodeSubject). The account's count is kept apart from its password
// failures, because a right password clears those: whoever knows the
// password must not buy fresh code guesses by typing it again.

// codeWait is how long a code attempt for userID from c's address must
// wait (0: go ahead).
func (t *loginThrottle) codeWait(ctx context.Context, c echo.Context, userID int64) (time.Duration, error) {
	w := t.byIP.wait(addrKey(c.RealIP()))
	until, err := t.store.LoginBlockedUntil(ctx, db.CodeSubject(userID))
	if err != nil {
		return 0, fmt.Errorf("handlers: code throttle: %w", err)
	}
	return max(w, until.Sub(t.now())), nil
}

// codeFailure counts a wrong code against the address and the account.
func (t *loginThrottle) codeFailure(ctx context.Context, c echo.Context, userID int64) error {
	t.byIP.fail(addrKey(c.RealIP()))
	if _, err := t.store.RecordLoginFailure(ctx, db.CodeSubject(userID), t.now()); err != nil {
		return fmt.Errorf("handlers: code throttle: %w", err)
	}
	return nil
}

// codeSuccess forgets the account's code failures (not the address's: one
// right code must not reset a spray across accounts).
func (t *loginThrottle) codeSuccess(ctx context.Context, userID int64) error {
	if err := t.store.ClearLoginFailures(ctx, db.CodeSubject(userID)); err != nil {
		return fmt.Errorf("handlers: code throttle: %w", err)
	}
	return nil
}

// throttledMessage sets Retry-After for wait and returns the status to
// answer (429) with the message shown next to the field.
func throttledMessage(c echo.Context, wait time.Duration) (int, string) {
	secs := int(math.Ceil(wait.Seconds()))
	c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
	return http.StatusTooManyRequests, fmt.Sprintf("Too many wrong codes. Try again in %s.", plural(secs, "second"))
}
