package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgConfig is what a Store on PostgreSQL keeps of its connection setting:
// the parsed configuration, from which the change listener opens a
// connection of its own.
type pgConfig struct {
	conn *pgx.ConnConfig
}

// connectTimeout bounds the first contact with the server, so an
// unreachable PostgreSQL at start is one clear error, not a hang.
const connectTimeout = 10 * time.Second

// openPostgres opens the PostgreSQL database target names, checks its
// schema like the SQLite one (the same guard, the same migrations by name)
// and applies what it may.
func openPostgres(ctx context.Context, target string, opt Options) (*Store, error) {
	redacted := RedactTarget(target)
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		// pgx's message can quote the setting; say only what is wrong
		// with it, in terms that hold no password.
		return nil, fmt.Errorf("db: the PostgreSQL setting %s cannot be used: %s", redacted, redactIn(err.Error(), target))
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > connectTimeout {
		cfg.ConnectTimeout = connectTimeout
	}
	w := stdlib.OpenDB(*cfg)
	r := stdlib.OpenDB(*cfg)
	// Writers queue on the write lock (dialect.lockWrites) anyway; a few
	// connections let a write wait there while another commits.
	w.SetMaxOpenConns(4)
	w.SetMaxIdleConns(4)
	n := max(4, runtime.NumCPU()*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	// Recycle connections now and then, so a pool follows a fail-over or
	// a pooler's rebalancing instead of holding old sockets for ever.
	for _, p := range []*sql.DB{w, r} {
		p.SetConnMaxLifetime(30 * time.Minute)
		p.SetConnMaxIdleTime(5 * time.Minute)
	}
	s := newStore(postgresDialect, w, r, redacted, opt)
	s.pg = &pgConfig{conn: cfg}
	fail := func(err error) (*Store, error) {
		_ = s.Close() // the first error is the one worth reporting
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := s.r.db.PingContext(pingCtx); err != nil {
		return fail(fmt.Errorf("db: cannot reach PostgreSQL at %s: %s", redacted, redactIn(err.Error(), target)))
	}
	schema, err := readSchema(ctx, s.r.db, s.d)
	if err != nil {
		return fail(err)
	}
	if err := schema.check(opt.Migrate); err != nil {
		return fail(err)
	}
	if err := s.migrate(ctx, schema.Missing); err != nil {
		return fail(err)
	}
	return s, nil
}

// RedactTarget returns the database setting with any password replaced by
// "xxxxx", for logs and messages: a SQLite path as it is, a PostgreSQL URL
// without the password of its user part or of a password= parameter.
func RedactTarget(target string) string {
	if !IsPostgres(target) {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		// Unparsable: nothing in it can be told apart from a password.
		return strings.SplitN(target, "://", 2)[0] + "://(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactIn removes from msg the password target holds, should a driver's
// message quote the setting.
func redactIn(msg, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "the URL cannot be parsed"
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	if pw := u.Query().Get("password"); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// changesChannel is the channel the triggers of migrations/postgres/
// 0004_key_changes.sql notify, with a payload naming what changed
// ("key:ID" or "user:ID").
const changesChannel = "keyward_key_changes"

// listenChanges keeps a connection of its own LISTENing on changesChannel
// until ctx is done, calling changed for every notification and reset
// after every (re)connection: changes made while it was not listening were
// missed, so the caller must drop everything it derived from the database.
// A lost connection is retried with a back-off from 100 ms to
// listenRetryMax.
func (s *Store) listenChanges(ctx context.Context, changed func(payload string), reset func(), lost func(error)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, changed, reset, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		lost(err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenRetryMax)
	}
}

// listenRetryMax caps the listener's back-off. Once the database is back,
// this instance answers from a cache that may hold keys changed elsewhere
// until its listener reconnects (and drops the cache), so the cap bounds
// how late a change made just after an outage can arrive: the propagation
// target is 1 s. A failed connect a second costs the server nothing. With
// 5 s, a real outage (TestPostgresOutage) showed the listener back 2 s
// after /healthz was 200 again.
const listenRetryMax = time.Second

// listenOnce connects, listens and waits for notifications until the
// connection fails or ctx is done.
func (s *Store) listenOnce(ctx context.Context, changed func(string), reset, connected func()) error {
	c, err := pgx.ConnectConfig(ctx, s.pg.conn.Copy())
	if err != nil {
		return s.d.classify(fmt.Errorf("db: change listener: connect: %w", err))
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = c.Close(closeCtx) // the connection is being given up either way
		cancel()
	}()
	if _, err := c.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return s.d.classify(fmt.Errorf("db: change listener: listen: %w", err))
	}
	connected()
	reset()
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil
			}
			return s.d.classify(fmt.Errorf("db: change listener: %w", err))
		}
		changed(n.Payload)
	}
}

// readPostgresSchema reads the schema of the database target names,
// changing nothing (for `keyward version`).
func readPostgresSchema(ctx context.Context, target string) (Schema, error) {
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		return Schema{}, fmt.Errorf("db: the PostgreSQL setting %s cannot be used: %s", RedactTarget(target), redactIn(err.Error(), target))
	}
	cfg.ConnectTimeout = connectTimeout
	pool := stdlib.OpenDB(*cfg)
	defer pool.Close()
	st, err := readSchema(ctx, pool, postgresDialect)
	if err != nil {
		return Schema{}, errors.New(redactIn(err.Error(), target))
	}
	return st, nil
}
