// Package db holds Keyward's data and the rules that guard it: the schema and
// its migrations, all SQL, the domain types, password hashing, the API-key
// format, verification (cache and usage recorder), sessions and the audit log.
// It knows nothing of HTTP.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
)

// Options tune a Store. The zero value is production-ready.
type Options struct {
	// Now is the clock; tests inject a fake one. Defaults to time.Now.
	Now func() time.Time
	// Argon2 overrides the password-hashing parameters. Tests pass cheap ones;
	// production uses PasswordParams (m=19456 KiB, t=2, p=1).
	Argon2 *argon2id.Params
	// MaxConcurrentHashes bounds argon2id computations running at once, so a
	// burst of sign-ins cannot exhaust memory. Defaults to the number of CPUs.
	MaxConcurrentHashes int
	// Migrate says whether an existing database whose schema is behind is
	// brought forward (MigrateForward, for the server) or refused
	// (MigrateNewOnly, the default). See Migration.
	Migrate Migration
}

// Store is the handle to the database. SQLite allows one writer at a time, so
// all writes go through a single connection (w) whose transactions begin
// IMMEDIATE, which rules out the deadlock of two deferred transactions that
// both try to upgrade to a write lock. Reads use a pool (r) and run in
// parallel thanks to WAL.
type Store struct {
	w, r *conn
	d    *dialect
	now  func() time.Time
	// target is the database setting with any password removed, for
	// messages (Target).
	target string
	// pg is the PostgreSQL connection configuration (nil on SQLite), for
	// the change listener's own connection (see ListenChanges).
	pg *pgConfig

	passwords *passwordHasher

	// keyChanged is called synchronously after every committed change to a
	// key or to a user that owns keys, so the verification cache never
	// answers from a stale snapshot. See SetKeyChangeHook.
	keyChanged func()
}

// Open opens the database the setting target names: a postgres:// or
// postgresql:// URL is a PostgreSQL database (see IsPostgres); anything else
// is the path of a SQLite file, created if needed. Before
// anything else touches it, it compares the migrations the database
// records with the ones this binary embeds: a database holding migrations
// this binary does not know is refused with a *SchemaError (ErrSchemaTooNew)
// whatever opt.Migrate says; a new database is given the whole schema; an
// existing one that is behind is migrated with MigrateForward and refused
// (ErrSchemaBehind) otherwise.
func Open(ctx context.Context, target string, opt Options) (*Store, error) {
	if IsPostgres(target) {
		return openPostgres(ctx, target, opt)
	}
	return openSQLite(ctx, target, opt)
}

// IsPostgres reports whether the database setting names a PostgreSQL
// server rather than a SQLite file.
func IsPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

func openSQLite(ctx context.Context, path string, opt Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("db: empty database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("db: create directory: %w", err)
		}
	}
	// The file holds password hashes and key hashes: readable by its owner
	// only. SQLite would create it with the umask's looser mode.
	// #nosec G304 -- the path is the operator's --db setting, not request input.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		_ = f.Close() // an empty file; SQLite reopens it below
	}
	schema, err := inspectSchema(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := schema.check(opt.Migrate); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("db: open writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		_ = w.Close() // the open error is the one worth reporting
		return nil, fmt.Errorf("db: open readers: %w", err)
	}
	n := max(4, runtime.NumCPU()*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)

	s := newStore(sqliteDialect, w, r, path, opt)
	if err := s.migrate(ctx, schema.Missing); err != nil {
		_ = s.Close() // the migration error is the one worth reporting
		return nil, err
	}
	return s, nil
}

// newStore wraps the writer and reader pools of an engine.
func newStore(d *dialect, w, r *sql.DB, target string, opt Options) *Store {
	s := &Store{
		w: &conn{db: w, d: d, writer: true}, r: &conn{db: r, d: d},
		d: d, now: opt.Now, target: target, keyChanged: func() {},
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.passwords = newPasswordHasher(opt.Argon2, opt.MaxConcurrentHashes)
	return s
}

// Engine is the name of the engine the Store runs on: "sqlite" or
// "postgres".
func (s *Store) Engine() string { return s.d.name }

// Target is the database setting the Store was opened with, any password
// replaced by "xxxxx": safe for logs and messages.
func (s *Store) Target() string { return s.target }

// dsn builds a modernc.org/sqlite DSN with every pragma in it, so that each
// pooled connection gets them (a PRAGMA run once would only reach one).
func dsn(path string, writer bool) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	if writer {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close closes both pools, then the audit mirror (draining its queue).
func (s *Store) Close() error {
	errW := s.w.Close()
	errR := s.r.Close()
	// The mirror last: every transaction has ended, so nothing more comes.
	errM := s.AuditMirror().Close()
	if errW != nil {
		return errW
	}
	if errR != nil {
		return errR
	}
	return errM
}

// Now is the Store's clock, in UTC.
func (s *Store) Now() time.Time { return s.now().UTC() }

// SetKeyChangeHook registers fn to run synchronously after every committed
// change that can alter a verification answer (key created, edited, rolled,
// disabled, enabled, revoked; user disabled or enabled). The verifier uses it
// to drop its cache; a cross-instance notifier can wrap it later.
func (s *Store) SetKeyChangeHook(fn func()) {
	if fn == nil {
		fn = func() {}
	}
	s.keyChanged = fn
}

// Ping reports whether the database answers; a connection-level failure
// is classified ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("db: ping: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the database to path (VACUUM INTO),
// safe while the server runs.
//
// The copy holds password hashes, emails and the audit log, so it is made
// readable by its owner only. SQLite would create it 0644 (less the umask);
// instead the empty file is created here with O_EXCL (which also refuses
// an existing file without a race) and set to 0600 before VACUUM INTO
// (which accepts an empty file) writes anything into it. SQLite gives a
// journal the mode of its database file, so a companion file is 0600 too.
func (s *Store) Backup(ctx context.Context, path string) (err error) {
	if s.pg != nil {
		return ErrBackupUnsupported
	}
	// #nosec G304 -- the path is the operator's `keyward backup FILE`, not request input.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return Errorf(ErrConflict, "backup file %s already exists", path)
	}
	if err != nil {
		return fmt.Errorf("db: backup: %w", err)
	}
	defer func() {
		if err != nil {
			// The file is ours (O_EXCL) and holds no complete copy.
			_ = os.Remove(path)
		}
	}()
	// The umask may have taken bits from 0600 (a 0600 file is needed to
	// write it, and nothing wider is wanted); Chmod is not subject to it.
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close() // the Chmod error is the one to report
		return fmt.Errorf("db: backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("db: backup: %w", err)
	}
	if _, err := s.r.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("db: backup: %w", err)
	}
	return nil
}

// ErrBackupUnsupported: `keyward backup` copies a SQLite file; a
// PostgreSQL database is backed up with pg_dump, which knows how to make a
// consistent copy of a server and restore it.
var ErrBackupUnsupported = errors.New("db: a PostgreSQL database is backed up with pg_dump, not keyward backup")

// IntegrityCheck runs PRAGMA integrity_check and returns its first line
// ("ok"). On PostgreSQL, which checks its pages itself, it reports "ok"
// when the database answers.
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	if s.pg != nil {
		if err := s.Ping(ctx); err != nil {
			return "", fmt.Errorf("db: integrity check: %w", err)
		}
		return "ok", nil
	}
	var res string
	if err := s.r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return "", fmt.Errorf("db: integrity check: %w", err)
	}
	return res, nil
}
