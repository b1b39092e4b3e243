package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable: the database cannot be reached (connection refused or
// lost, server shutting down, pool closed). It is not the request's fault
// and not a bug: the web layer answers 503 with Retry-After, so services
// and browsers know to try again rather than treat it as a refusal or an
// internal error.
var ErrUnavailable = errors.New("database unavailable")

// Unavailable classifies err: a connection-level failure comes back
// wrapping both ErrUnavailable and err (so errors.Is finds either);
// anything else, nil included, comes back unchanged. Calling it twice is
// harmless. The point is to tell "the database is away" (retry later; a
// cached answer is still good) from a failure of this one query (a bug, a
// constraint), which must stay a 500 and be looked at.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !connectionFailure(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// errDBClosedText is what database/sql returns once Close was called on
// its *sql.DB: the error value is unexported, so its text is the only
// handle on it (stable since Go 1.0).
const errDBClosedText = "sql: database is closed"

// connectionFailure reports whether err says the connection to the
// database failed, rather than the statement.
func connectionFailure(err error) bool {
	// A caller that went away is not an outage, whatever it interrupted
	// (pgconn marks a query cancelled before sending as safe to retry).
	if errors.Is(err, context.Canceled) {
		return false
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true // includes a connect that ran out of time
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true // the only network the db package does is its database's
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgUnavailableCode(pe.Code)
	}
	for _, target := range []error{driver.ErrBadConn, sql.ErrConnDone, io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, target) {
			return true
		}
	}
	// A query that ran out of time is slow, not away; pgconn also marks a
	// deadline that passed before sending as safe to retry.
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	return closedPool(err)
}

// pgUnavailableCode reports whether a PostgreSQL SQLSTATE means the server
// is away: class 08 (connection exception), 57P01 admin_shutdown, 57P02
// crash_shutdown, 57P03 cannot_connect_now (starting up or in recovery).
func pgUnavailableCode(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
}

// closedPool reports whether err, or an error it wraps, is database/sql's
// "database is closed".
func closedPool(err error) bool {
	for e := err; e != nil; {
		if e.Error() == errDBClosedText {
			return true
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if closedPool(inner) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}
