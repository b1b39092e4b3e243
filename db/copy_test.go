package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCopyTablesCoverSchema holds copyTables and notCopied to the tables a
// fresh database of each engine has: a table a migration adds fails here
// until it is copied or deliberately left out, so no future table is
// forgotten by `keyward db copy`. It also holds copyTables to foreign-key
// order: every table comes after the tables it references.
func TestCopyTablesCoverSchema(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		s := newTestStore(t)
		ctx := context.Background()
		tx, err := s.r.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		tables, err := queryNames(ctx, tx, s.d.tablesSQL)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range tables {
			_, excluded := notCopied[name]
			copied := slices.Contains(copyTables, name)
			if copied == excluded {
				t.Errorf("table %s: got copied=%v and excluded=%v, want exactly one: add it to copyTables (in foreign-key order) or to notCopied with the reason",
					name, copied, excluded)
			}
		}
		for _, name := range append(slices.Clone(copyTables), sortedNames(notCopied)...) {
			if !slices.Contains(tables, name) {
				t.Errorf("table %s: named by the copy, got no such table in the schema", name)
			}
		}
		if s.Engine() == "sqlite" {
			for i, name := range copyTables {
				for _, ref := range referencedTables(t, tx, name) {
					if j := slices.Index(copyTables, ref); ref != name && j > i {
						t.Errorf("copyTables: %s (position %d) references %s (position %d), want %s first", name, i, ref, j, ref)
					}
				}
			}
		}
	})
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// referencedTables lists the tables table's foreign keys name (SQLite).
func referencedTables(t *testing.T, tx *Tx, table string) []string {
	t.Helper()
	rows, err := tx.QueryContext(context.Background(), `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var refs []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	return refs
}

// copySource opens a SQLite store, whatever engine the test runs under:
// `keyward db copy` copies from SQLite.
func copySource(t *testing.T, clock *fakeClock) *Store {
	t.Helper()
	s, err := Open(context.Background(), engines[0].target(t), Options{Argon2: testArgon2, Now: clock.Now})
	if err != nil {
		t.Fatalf("Open source: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// copyTarget opens an empty store of the test's engine.
func copyTarget(t *testing.T, clock *fakeClock) *Store {
	t.Helper()
	s, err := Open(context.Background(), engineOf(t)(t), Options{Argon2: testArgon2, Now: clock.Now})
	if err != nil {
		t.Fatalf("Open target: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tableRows reads every row of table in primary-key order, each value in
// its kind's Go type, for comparing two databases row by row.
func tableRows(t *testing.T, s *Store, table string) [][]any {
	t.Helper()
	ctx := context.Background()
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	p, err := planTable(ctx, tx, tx, table)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	if err := p.eachRow(ctx, tx, "source", func(row []any) error {
		out = append(out, slices.Clone(row))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// tableCounts counts the rows of every copied table.
func tableCounts(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	counts := map[string]int64{}
	for _, name := range copyTables {
		var n int64
		if err := s.r.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+quoteIdent(name)).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", name, err)
		}
		counts[name] = n
	}
	return counts
}

func TestCopyEveryKindOfRow(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		src := copySource(t, clock)
		f := fillEveryKind(t, src, clock)
		for name, n := range tableCounts(t, src) {
			if n == 0 {
				t.Fatalf("fixture: table %s has no row, want every table filled so that the copy of each is checked", name)
			}
		}
		dst := copyTarget(t, clock)

		rep, err := Copy(ctx, src, dst, CopyOptions{BatchRows: 3})
		if err != nil {
			t.Fatalf("Copy: %v", err)
		}
		t.Logf("copied %d rows in %v", rep.Rows(), rep.Elapsed)
		if got := len(rep.Tables); got != len(copyTables) {
			t.Errorf("report: got %d tables, want %d", got, len(copyTables))
		}
		for _, tc := range rep.Tables {
			t.Run(tc.Name, func(t *testing.T) {
				want, got := tableRows(t, src, tc.Name), tableRows(t, dst, tc.Name)
				if int64(len(want)) != tc.Rows {
					t.Errorf("report: got %d rows, want %d", tc.Rows, len(want))
				}
				if len(got) != len(want) {
					t.Fatalf("rows: got %d, want %d", len(got), len(want))
				}
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Errorf("row %d: got %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
		f.checkOn(t, dst)
	})
}

func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		src := copySource(t, clock)
		fillEveryKind(t, src, clock)

		tests := []struct {
			name string
			fill func(t *testing.T, dst *Store)
			want string
		}{
			{"copied before", func(t *testing.T, dst *Store) {
				if _, err := Copy(ctx, src, dst, CopyOptions{}); err != nil {
					t.Fatalf("first Copy: %v", err)
				}
			}, "users: 3 rows"},
			{"one setting", func(t *testing.T, dst *Store) {
				if err := dst.SetPolicy(ctx, Policy{StaleAfter: 24 * time.Hour, NeverUsedAfter: 48 * time.Hour}, CLIActor()); err != nil {
					t.Fatal(err)
				}
			}, "settings: "},
			{"one lease", func(t *testing.T, dst *Store) {
				if _, err := dst.TryLease(ctx, "cleanup", "another", time.Minute); err != nil {
					t.Fatal(err)
				}
			}, "job_leases: 1 row"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dst := copyTarget(t, clock)
				tt.fill(t, dst)
				before := tableCounts(t, dst)
				_, err := Copy(ctx, src, dst, CopyOptions{})
				if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Copy: got %v, want ErrTargetNotEmpty naming %q", err, tt.want)
				}
				if after := tableCounts(t, dst); !reflect.DeepEqual(after, before) {
					t.Errorf("rows after the refusal: got %v, want %v (nothing written)", after, before)
				}
			})
		}
	})
}

func TestCopyRefusesSourceBehind(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		path := filepath.Join(t.TempDir(), "old.db")
		createSchema(t, path, previous())
		// Open refuses this database (TestOpenBehindSchema); a Store made
		// around Open shows that Copy refuses it by itself too.
		w, err := sql.Open("sqlite", dsn(path, true))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		old := newStore(sqliteDialect, w, w, path, Options{Now: clock.Now})
		dst := copyTarget(t, clock)

		_, err = Copy(ctx, old, dst, CopyOptions{})
		if !errors.Is(err, ErrSchemaBehind) || !strings.Contains(err.Error(), "source") || !strings.Contains(err.Error(), LatestMigration()) {
			t.Fatalf("Copy: got %v, want ErrSchemaBehind naming the source and %s", err, LatestMigration())
		}
		for name, n := range tableCounts(t, dst) {
			if n != 0 {
				t.Errorf("target %s: got %d rows, want 0", name, n)
			}
		}
	})
}

func TestCopyMismatchRollsBack(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		src := copySource(t, clock)
		f := fillEveryKind(t, src, clock)
		dst := copyTarget(t, clock)

		tests := []struct {
			name, table, stmt string
		}{
			{"changed value", "api_keys", `UPDATE api_keys SET name = 'tampered' WHERE id = ?`},
			{"missing row", "key_ips", `DELETE FROM key_ips WHERE key_id = ?`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := Copy(ctx, src, dst, CopyOptions{beforeVerify: func(ctx context.Context, tx *Tx) error {
					_, err := tx.ExecContext(ctx, tt.stmt, f.activeID)
					return err
				}})
				if !errors.Is(err, ErrCopyMismatch) || !strings.Contains(err.Error(), "table "+tt.table+":") {
					t.Fatalf("Copy: got %v, want ErrCopyMismatch naming %s", err, tt.table)
				}
				for name, n := range tableCounts(t, dst) {
					if n != 0 {
						t.Errorf("target %s after the rollback: got %d rows, want 0", name, n)
					}
				}
			})
		}
		if _, err := Copy(ctx, src, dst, CopyOptions{}); err != nil {
			t.Fatalf("Copy after the rollbacks: %v, want the still empty target to take it", err)
		}
	})
}
