package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db/pgtest"
)

// The anomaly job over a large installation: 100,000 keys with 30 days of
// hourly buckets. Run with
//
//	go test -run '^$' -bench EvaluateActivityHour -benchtime 3x -timeout 60m ./db/
//
// The data (about 7.5 million hourly buckets, 3 million daily counts, 1.7
// million address rows) is seeded once and kept: a SQLite file under
// $KEYWARD_BENCH_DATA (default bench/out/data), and a database named
// activityBenchDB plus the role ("_keyward") on the server $KEYWARD_TEST_POSTGRES names. Each run
// first clears the alerts the previous one raised.
//
// Density, chosen to look like a busy installation rather than a worst
// case: every key is used in 2 hours of each day (1 to 20 uses); 2% of
// keys are services busy every hour (200 to 400 uses); 1% were revoked a
// week ago and half of those are still presented in the evaluated hour
// (1 to 30 refusals); in that hour 100 keys spike (5,000 uses), 50 are used
// from 30 addresses and 100 come back after 40 days. Addresses are kept 7
// days, one per key and hour.
const (
	activityBenchKeys = 100_000
	activityBenchDays = 30
	// activityBenchVersion names the cached data; change it with the seed.
	activityBenchVersion = "activity-v1"
	activityBenchDB      = "keyward_bench_activity_v1"
)

// activityBenchNow is the benchmark's clock: ten minutes into the hour
// evaluated.
var activityBenchNow = time.Date(2026, 6, 1, 12, 10, 0, 0, time.UTC)

func BenchmarkEvaluateActivityHour(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			s := openActivityBench(b, engine)
			ctx := context.Background()
			h := hourNumber(activityBenchNow)
			rules := DefaultActivityRules()
			reset := func() {
				for _, q := range []string{`DELETE FROM alerts`, `DELETE FROM outbox_events WHERE type = 'alert.opened'`} {
					if _, err := s.w.ExecContext(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
			}
			var keys int
			if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_usage_hourly WHERE hour = ?`, h).Scan(&keys); err != nil {
				b.Fatal(err)
			}
			// first: the hour's first evaluation, opening its alerts;
			// again: the runs every 5 minutes after it, deciding the same
			// findings against the alerts they opened.
			b.Run("first", func(b *testing.B) {
				var rep ActivityReport
				for b.Loop() {
					b.StopTimer()
					reset()
					rep = ActivityReport{}
					b.StartTimer()
					if err := s.evaluateHour(ctx, h, activityBenchNow, rules, &rep); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(keys), "keys_in_hour")
				b.ReportMetric(float64(rep.Opened), "alerts")
			})
			b.Run("again", func(b *testing.B) {
				for b.Loop() {
					var rep ActivityReport
					if err := s.evaluateHour(ctx, h, activityBenchNow, rules, &rep); err != nil {
						b.Fatal(err)
					}
				}
			})
			reset()
		})
	}
}

// openActivityBench opens the cached benchmark data of engine, seeding it
// first if there is none.
func openActivityBench(b *testing.B, engine string) *Store {
	b.Helper()
	ctx := context.Background()
	opt := Options{Argon2: testArgon2, Now: func() time.Time { return activityBenchNow }, Migrate: MigrateForward}
	var target, seeding string
	var done func() error
	switch engine {
	case "sqlite":
		dir := os.Getenv("KEYWARD_BENCH_DATA")
		if dir == "" {
			dir = filepath.Join("..", "bench", "out", "data")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		target = filepath.Join(dir, activityBenchVersion+".db")
		if _, err := os.Stat(target); err != nil {
			seeding = target + ".seeding"
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(seeding + suffix) // a seed that was interrupted
			}
			done = func() error { return os.Rename(seeding, target) }
		}
	default:
		server := pgtest.Server(b)
		// The kept database belongs to the role that seeded it; another
		// role on the same server (CI's keyward_ci beside a developer's)
		// may not create in its schema, so each role keeps its own.
		benchDB := activityBenchDB + "_" + roleSuffix(server)
		var err error
		if target, err = pgtest.WithDatabase(server, benchDB); err != nil {
			b.Fatal(err)
		}
		admin, err := sql.Open("pgx", server)
		if err != nil {
			b.Fatal(err)
		}
		defer admin.Close()
		var exists bool
		if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`,
			benchDB).Scan(&exists); err != nil {
			b.Fatal(err)
		}
		if !exists {
			name := benchDB + "_seeding"
			if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name); err != nil {
				b.Fatal(err)
			}
			if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
				b.Fatal(err)
			}
			if seeding, err = pgtest.WithDatabase(server, name); err != nil {
				b.Fatal(err)
			}
			done = func() error {
				_, err := admin.ExecContext(ctx, `ALTER DATABASE `+name+` RENAME TO `+benchDB)
				return err
			}
		}
	}
	if seeding != "" {
		start := time.Now()
		s, err := Open(ctx, seeding, opt)
		if err != nil {
			b.Fatal(err)
		}
		if err := seedActivityBench(ctx, s); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if err := done(); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %s in %s", engine, time.Since(start).Round(time.Second))
	}
	s, err := Open(ctx, target, opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchRows buffers rows of one table and writes them in tx with
// multi-row INSERTs, each full one prepared once.
type benchRows struct {
	tx     *Tx
	insert string
	width  int
	args   []any
	rows   int
}

const benchRowsPerInsert = 1000

func (w *benchRows) add(ctx context.Context, vals ...any) error {
	w.args = append(w.args, vals...)
	w.rows++
	if w.rows == benchRowsPerInsert {
		return w.flush(ctx)
	}
	return nil
}

func (w *benchRows) flush(ctx context.Context) error {
	if w.rows == 0 {
		return nil
	}
	q := w.insert + valuesList(w.rows, w.width)
	if _, err := w.tx.execCached(ctx, q, w.args...); err != nil {
		return fmt.Errorf("%s: %w", w.insert, err)
	}
	w.args, w.rows = w.args[:0], 0
	return nil
}

// seedActivityBench fills s as the package comment describes, in one
// transaction.
func seedActivityBench(ctx context.Context, s *Store) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	tx.reuseStatements()
	if err := seedActivityRows(ctx, s, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if s.d.name == "postgres" {
		// A server's flush writes each hour's buckets as the hour goes, so
		// an hour's rows sit together in PostgreSQL's heap; the seed wrote
		// key by key. CLUSTER puts them in hour order, as they would be.
		for _, q := range []string{`CLUSTER key_usage_hourly USING key_usage_hourly_hour`,
			`CLUSTER key_hour_ips USING key_hour_ips_hour`} {
			if _, err := s.w.ExecContext(ctx, q); err != nil {
				return err
			}
		}
	}
	if s.d.analyzeSQL != "" {
		if _, err := s.w.ExecContext(ctx, s.d.analyzeSQL); err != nil {
			return err
		}
	}
	return nil
}

func seedActivityRows(ctx context.Context, s *Store, tx *Tx) error {
	ms := toMillis(activityBenchNow)
	h := hourNumber(activityBenchNow)
	if _, err := tx.ExecContext(ctx, insertUserSQL, "bench@example.com", "x", "member", ms, ms); err != nil {
		return err
	}
	var userID int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE email = 'bench@example.com'`).Scan(&userID); err != nil {
		return err
	}
	keys := &benchRows{tx: tx, width: 6, insert: `INSERT INTO api_keys (user_id, name, key_hash, hint, created_at, revoked_at) VALUES `}
	rng := rand.New(rand.NewPCG(18, 5))
	revoked := make([]bool, activityBenchKeys)
	for i := range activityBenchKeys {
		var rev any
		if i%100 == 7 {
			revoked[i], rev = true, ms-7*msPerDay
		}
		hash := sha256.Sum256(fmt.Appendf(nil, "activity bench %d", i))
		if err := keys.add(ctx, userID, fmt.Sprintf("key %d", i), hash[:], "kw_…abcd", ms-90*msPerDay, rev); err != nil {
			return err
		}
	}
	if err := keys.flush(ctx); err != nil {
		return err
	}
	var firstID int64
	if err := tx.QueryRowContext(ctx, `SELECT MIN(id) FROM api_keys`).Scan(&firstID); err != nil {
		return err
	}
	hourly := &benchRows{tx: tx, width: 4, insert: `INSERT INTO key_usage_hourly (key_id, hour, uses, refusals) VALUES `}
	daily := &benchRows{tx: tx, width: 3, insert: `INSERT INTO key_usage_daily (key_id, day, count) VALUES `}
	ips := &benchRows{tx: tx, width: 5, insert: `INSERT INTO key_hour_ips (key_id, hour, ip, uses, refusals) VALUES `}
	first := h - 24*activityBenchDays + 1
	for i := range activityBenchKeys {
		id := firstID + int64(i)
		ip := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)
		used := map[int64]int64{} // hour -> uses
		switch {
		case revoked[i]:
			for hr := first; hr < h-7*24; hr += 24 {
				used[hr+rng.Int64N(24)] = 1 + rng.Int64N(20)
			}
		case i%50 == 3: // busy every hour
			for hr := first; hr <= h; hr++ {
				used[hr] = 200 + rng.Int64N(200)
			}
		case i%1000 == 11: // back after 40 days: daily counts only
			if err := daily.add(ctx, id, h/24-40, 5); err != nil {
				return err
			}
			used[h] = 3
		default:
			for hr := first; hr <= h; hr += 24 {
				used[hr+rng.Int64N(24)] = 1 + rng.Int64N(20)
				used[hr+rng.Int64N(24)] = 1 + rng.Int64N(20)
			}
			if i%1000 == 21 {
				used[h] = 5000
			}
		}
		days := map[int64]int64{}
		for hr, n := range used {
			if hr > h {
				continue
			}
			if err := hourly.add(ctx, id, hr, n, 0); err != nil {
				return err
			}
			if i%1000 != 11 {
				days[hr/24] += n
			}
			if hr > h-7*24 {
				if err := ips.add(ctx, id, hr, ip, n, 0); err != nil {
					return err
				}
			}
		}
		for d, n := range days {
			if err := daily.add(ctx, id, d, n); err != nil {
				return err
			}
		}
		if revoked[i] && rng.IntN(2) == 0 {
			n := 1 + rng.Int64N(30)
			if err := hourly.add(ctx, id, h, 0, n); err != nil {
				return err
			}
			if err := ips.add(ctx, id, h, ip, 0, n); err != nil {
				return err
			}
		}
		if i%2000 == 13 && !revoked[i] && used[h] == 0 { // many addresses
			for a := range 30 {
				if err := ips.add(ctx, id, h, fmt.Sprintf("192.0.%d.%d", a, i%250), 1, 0); err != nil {
					return err
				}
			}
		}
	}
	for _, w := range []*benchRows{hourly, daily, ips} {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// roleSuffix is the role of the PostgreSQL URL server, reduced to the
// characters an unquoted database name may hold.
func roleSuffix(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.User == nil {
		return "default"
	}
	var out []rune
	for _, r := range strings.ToLower(u.User.Username()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return "default"
	}
	return string(out)
}
