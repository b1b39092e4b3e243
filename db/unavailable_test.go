package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// closedPort returns a loopback address nothing listens on: it was bound
// a moment ago and closed, so connecting to it is refused.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// silentServer accepts connections and never answers, like a PostgreSQL
// host that hangs: a connect to it can only end by its deadline.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// retryable is an error that says whether it happened before anything was
// sent, the way pgconn's own errors do.
type retryable bool

func (r retryable) Error() string     { return fmt.Sprintf("retryable(%v)", bool(r)) }
func (r retryable) SafeToRetry() bool { return bool(r) }

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	refused := closedPort(t)

	_, dialErr := net.Dial("tcp", refused)
	_, pgRefused := pgconn.Connect(ctx, "postgres://keyward@"+refused+"/keyward?sslmode=disable")
	slowCtx, cancelSlow := context.WithTimeout(ctx, 100*time.Millisecond)
	_, pgTimeout := pgconn.Connect(slowCtx, "postgres://keyward@"+silentServer(t)+"/keyward?sslmode=disable")
	cancelSlow()
	gone, cancelGone := context.WithCancel(ctx)
	cancelGone()
	_, pgCancelled := pgconn.Connect(gone, "postgres://keyward@"+refused+"/keyward?sslmode=disable")

	s := newTestStore(t)
	conn, err := s.r.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	connDone := conn.PingContext(ctx)
	_, sqlErr := s.r.ExecContext(ctx, `SELECT * FROM no_such_table`)
	closed := newTestStore(t)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	closedErr := closed.r.db.PingContext(ctx)

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("boom"), false},
		{"no rows", fmt.Errorf("db: get key: %w", sql.ErrNoRows), false},
		{"not found", ErrNotFound, false},
		{"sqlite statement error", sqlErr, false},
		{"caller cancelled", fmt.Errorf("db: verify lookup: %w", context.Canceled), false},
		{"query deadline", context.DeadlineExceeded, false},
		{"pgconn connect with a cancelled context", pgCancelled, false},
		{"pg unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"pg query cancelled", &pgconn.PgError{Code: "57014"}, false},
		{"pg serialization failure", &pgconn.PgError{Code: "40001"}, false},
		{"not safe to retry", retryable(false), false},

		{"dial refused (net.OpError)", dialErr, true},
		{"pgconn connect refused (ConnectError)", pgRefused, true},
		{"pgconn connect deadline", pgTimeout, true},
		{"closed sql.Conn (ErrConnDone)", connDone, true},
		{"closed pool (database is closed)", closedErr, true},
		{"closed pool, wrapped", fmt.Errorf("db: ping: %w", closedErr), true},
		{"closed pool, joined", errors.Join(errors.New("first"), closedErr), true},
		{"bad connection", fmt.Errorf("db: query: %w", driver.ErrBadConn), true},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"broken pipe", os.NewSyscallError("write", syscall.EPIPE), true},
		{"connection refused errno", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"pg connection failure 08006", &pgconn.PgError{Code: "08006"}, true},
		{"pg connection does not exist 08003", &pgconn.PgError{Code: "08003"}, true},
		{"pg admin shutdown 57P01", fmt.Errorf("db: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"pg crash shutdown 57P02", &pgconn.PgError{Code: "57P02"}, true},
		{"pg cannot connect now 57P03", &pgconn.PgError{Code: "57P03"}, true},
		{"safe to retry", fmt.Errorf("db: %w", retryable(true)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil && tc.name != "nil" {
				t.Fatal("the test could not produce its error")
			}
			got := Unavailable(tc.err)
			if !tc.want {
				if got != tc.err {
					t.Errorf("Unavailable(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			if !errors.Is(got, ErrUnavailable) {
				t.Errorf("Unavailable(%v) = %v, want it to wrap ErrUnavailable", tc.err, got)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("Unavailable(%v) = %v, want it to wrap the original too", tc.err, got)
			}
			if again := Unavailable(got); again != got {
				t.Errorf("Unavailable twice = %v, want %v (wrapped once)", again, got)
			}
		})
	}
}
