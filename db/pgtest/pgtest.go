// Package pgtest gives tests a fresh PostgreSQL schema of their own on
// the server KEYWARD_TEST_POSTGRES names, and skips them when it names
// none, so that `go test ./...` passes on a machine without PostgreSQL
// while CI (which sets it) runs every PostgreSQL test. It imports nothing
// of Keyward's, so package db's own tests can use it as well as dbtest.
//
// Each test package gets a database of its own, created on first need and
// dropped when the package's tests end (Main); each test gets a schema of
// its own in it, which costs a millisecond where a database costs most of
// a second. The URL it returns sets search_path to that schema, so Keyward
// sees an empty database.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvVar names the PostgreSQL server tests use: a postgres:// URL of a
// role that may create databases, such as
// postgres://keyward:keyward@localhost:5432/postgres.
const EnvVar = "KEYWARD_TEST_POSTGRES"

var pkg struct {
	sync.Mutex
	main bool    // Main is running the tests
	url  string  // the package database, once created
	db   *sql.DB // a pool on it, for creating schemas
}

// Main runs the tests of a package and drops its database afterwards. Call
// it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	pkg.Lock()
	pkg.main = true
	pkg.Unlock()
	code := m.Run()
	pkg.Lock()
	defer pkg.Unlock()
	if pkg.db != nil {
		_ = pkg.db.Close() // the database is dropped next
		name, err := databaseName(pkg.url)
		if err == nil {
			err = dropDatabase(os.Getenv(EnvVar), name)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Server returns the URL of the test server, skipping tb when none is set.
func Server(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvVar)
	if u == "" {
		tb.Skipf("PostgreSQL tests skipped: set %s to a server URL to run them", EnvVar)
	}
	return u
}

// Database returns the URL of an empty database for tb: a new schema in the
// package's database, dropped when tb ends.
func Database(tb testing.TB) string {
	tb.Helper()
	server := Server(tb)
	pool, base, err := packageDatabase(server)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	schema := "t_" + randomName()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pool.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("pgtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := pool.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// A test's data need not survive a crash of the server: commits
	// need not wait for the disk.
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

// packageDatabase creates the package's database on first call.
func packageDatabase(server string) (*sql.DB, string, error) {
	pkg.Lock()
	defer pkg.Unlock()
	if !pkg.main {
		return nil, "", fmt.Errorf("the package's TestMain must run its tests through pgtest.Main, which drops the database they use")
	}
	if pkg.db != nil {
		return pkg.db, pkg.url, nil
	}
	name := "kwtest_" + randomName()
	if err := exec(server, "CREATE DATABASE "+name); err != nil {
		return nil, "", fmt.Errorf("create database on %s: %w", EnvVar, err)
	}
	u, err := WithDatabase(server, name)
	if err != nil {
		return nil, "", err
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		return nil, "", err
	}
	pkg.db, pkg.url = db, u
	return db, u, nil
}

// dropDatabase drops a test database and whoever is still connected.
// FORCE cannot end a backend of another role that happens to be in the
// database at that moment (an autovacuum worker, an operator's psql); such
// a visitor is gone a moment later, so the drop is tried again a few times
// before it counts as a failure.
func dropDatabase(server, name string) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = exec(server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err == nil {
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return err
}

func exec(server, stmt string) error {
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = admin.ExecContext(ctx, stmt)
	return err
}

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func databaseName(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	return p.Path[1:], nil
}

// WithDatabase returns the server URL with its database replaced by name.
func WithDatabase(server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL: %w", EnvVar, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}
