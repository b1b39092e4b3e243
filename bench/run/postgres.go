package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the server's statistics

	"github.com/keyward/keyward/bench/internal/seedfile"
	"github.com/keyward/keyward/db"
)

// The PostgreSQL phase (issue 14): the same measurements on PostgreSQL,
// on two databases it creates on the server -postgres names and drops at
// the end, seeded by bench/seed exactly as the SQLite ones are.

// pgResult is what the PostgreSQL phase measured.
type pgResult struct {
	Skipped   string // why the phase did not run; "" when it did
	Server    string // version and URL, without its password
	SeedTimes []string
	// Throughput rounds, cache hits only, against the same bare server.
	Rounds   []round
	Median   float64
	Statuses map[string]int64
	// HitXacts is the transactions (commits + rollbacks) the verify
	// database counted in pg_stat_database over the first Keyward run,
	// less than the cache's one-minute lifetime after every load key was
	// cached, and HitVerifications the verifications Keyward counted over
	// the same window: what cache hits cost the database.
	HitXacts, HitVerifications int64
	// Xacts and Verifications are the same over all the rounds, which
	// outlast the cache's lifetime: each cached key is read again once a
	// minute.
	Xacts, Verifications int64
	Revoke               pgRevoke
	Fresh                freshResult
	Pages                []pageResult
}

// pgRevoke is the propagation of revocations from instance A to B.
type pgRevoke struct {
	Lat         latency // from sending the revocation to A to B's first refusal
	Keys        int
	Timeouts    int // keys B still accepted 5 s after A revoked them
	LateValid   int // valid answers from B to requests sent after A's answer
	ProbeErrors int
}

const (
	// pgRevokeKeys and pgFreshKeys split the seed's 1,000 probe keys:
	// the last ones are revoked, the first ones sampled for freshness.
	pgRevokeKeys = 60
	pgFreshKeys  = 500
	// pgStatQuiet is how long a statistics reading waits with Keyward
	// idle: a PostgreSQL 15 backend reports its counts at most once a
	// second while busy and within 10 s of going idle
	// (PGSTAT_IDLE_INTERVAL), so after 11 s quiet every transaction of the
	// window is counted.
	pgStatQuiet = 11 * time.Second
)

// postgres runs the phase, or records why it did not.
func (h *harness) postgres(ctx context.Context) error {
	r := &h.res.PG
	if h.opt.postgres == "" {
		r.Skipped = "no PostgreSQL server given (KEYWARD_BENCH_POSTGRES, KEYWARD_TEST_POSTGRES or -postgres)"
		progress("postgres: skipped: %s", r.Skipped)
		return nil
	}
	admin, err := sql.Open("pgx", h.opt.postgres)
	if err != nil {
		return fmt.Errorf("postgres %s: %w", db.RedactTarget(h.opt.postgres), err)
	}
	defer admin.Close()
	var version string
	if err := admin.QueryRowContext(ctx, "SHOW server_version").Scan(&version); err != nil {
		return fmt.Errorf("postgres %s: %w", db.RedactTarget(h.opt.postgres), err)
	}
	r.Server = fmt.Sprintf("PostgreSQL %s at %s", version, db.RedactTarget(h.opt.postgres))
	progress("postgres: %s", r.Server)

	suffix := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().Unix())
	names := map[string]string{"verify": "kwbench_verify_" + suffix, "pages": "kwbench_pages_" + suffix}
	targets := map[string]string{}
	seeds := map[string]*seedfile.Seed{}
	for _, profile := range []string{"verify", "pages"} {
		name := names[profile]
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
		defer func() {
			if _, err := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				progress("postgres: drop database %s: %v", name, err)
			}
		}()
		if targets[profile], err = withDatabase(h.opt.postgres, name, nil); err != nil {
			return err
		}
		// The seed need not wait for the disk at each of its thousands of
		// commits; the servers measured later use the plain URL.
		seedURL, err := withDatabase(h.opt.postgres, name, url.Values{"synchronous_commit": {"off"}})
		if err != nil {
			return err
		}
		out := h.path("pg-" + profile + ".json")
		start := time.Now()
		cmd := exec.CommandContext(ctx, h.path("seed"), "-profile", profile, "-db", seedURL, "-out", out)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("seed %s on PostgreSQL: %w", profile, err)
		}
		r.SeedTimes = append(r.SeedTimes, fmt.Sprintf("%s %s", profile, time.Since(start).Round(100*time.Millisecond)))
		if seeds[profile], err = seedfile.Read(out); err != nil {
			return err
		}
	}
	if err := h.pgThroughput(ctx, admin, names["verify"], targets["verify"], seeds["verify"]); err != nil {
		return err
	}
	if err := h.pgInstances(ctx, targets["verify"], seeds["verify"]); err != nil {
		return err
	}
	h.phase("PostgreSQL pages at scale")
	r.Pages, err = h.pagesOn(ctx, "keyward-pg-pages", targets["pages"], seeds["pages"])
	return err
}

// withDatabase is the server URL with its database replaced by name and
// the given parameters added.
func withDatabase(server, name string, params url.Values) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("the PostgreSQL URL %s cannot be parsed", db.RedactTarget(server))
	}
	u.Path = "/" + name
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// pgThroughput runs the verify A/B rounds against one instance on
// PostgreSQL with cache hits only (wrk sends the load keys, all verified
// once before), and counts the database's transactions over the rounds.
func (h *harness) pgThroughput(ctx context.Context, admin *sql.DB, dbName, target string, s *seedfile.Seed) error {
	h.phase("PostgreSQL verify throughput")
	r := &h.res.PG
	keys := make([]string, len(s.Load))
	for i, k := range s.Load {
		keys[i] = k.Secret
	}
	loadFile := h.path("pg-load.txt")
	if err := os.WriteFile(loadFile, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	saved := h.wrkKeys
	h.wrkKeys = [2]string{loadFile, loadFile} // no refused keys: cache hits only
	defer func() { h.wrkKeys = saved }()

	kw, err := h.startKeyward("keyward-pg", target)
	if err != nil {
		return err
	}
	defer kw.stop()
	if _, err := kw.waitHealthy(30 * time.Second); err != nil {
		return err
	}
	bare, err := h.startBare()
	if err != nil {
		return err
	}
	defer bare.stop()
	if _, err := bare.waitHealthy(10 * time.Second); err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: newTransport()}
	for _, k := range s.Load {
		valid, code, err := verifyKeyFrom(c, kw.url, k.Secret, loadClientIP)
		if err != nil {
			return err
		}
		if !valid {
			return fmt.Errorf("load key %d refused on PostgreSQL (%s)", k.ID, code)
		}
	}
	c.CloseIdleConnections()
	ep := endpoints[0]
	for _, u := range []string{kw.url + ep.KeywardPath, bare.url + ep.BarePath} {
		if _, err := h.runWrk(ctx, ep.Script, u, 3*time.Second); err != nil {
			return err
		}
	}
	x0, m0, err := pgCounts(ctx, admin, dbName, kw)
	if err != nil {
		return err
	}
	for i := range h.opt.rounds {
		var rd round
		if err := h.pause(ctx); err != nil {
			return err
		}
		if rd.Keyward, err = h.runWrkOn(ctx, kw, ep.Script, ep.KeywardPath, h.opt.roundTime); err != nil {
			return err
		}
		if i == 0 {
			xh, mh, err := pgCounts(ctx, admin, dbName, kw)
			if err != nil {
				return err
			}
			r.HitXacts, r.HitVerifications = xh-x0, verifications(m0, mh)
		}
		if err := h.pause(ctx); err != nil {
			return err
		}
		if rd.Bare, err = h.runWrkOn(ctx, bare, ep.Script, ep.BarePath, h.opt.roundTime); err != nil {
			return err
		}
		rd.Ratio = rd.Keyward.RPS / rd.Bare.RPS
		rd.Load1 = loadAvg()
		r.Rounds = append(r.Rounds, rd)
		progress("postgres round %d: keyward %.0f req/s (p50 %s, p99 %s, %s CPU/req), bare %.0f req/s, ratio %.2f",
			i+1, rd.Keyward.RPS, rd.Keyward.P50, rd.Keyward.P99, rd.Keyward.CPUPerReq, rd.Bare.RPS, rd.Ratio)
	}
	x1, m1, err := pgCounts(ctx, admin, dbName, kw)
	if err != nil {
		return err
	}
	var ratios []float64
	for _, rd := range r.Rounds {
		ratios = append(ratios, rd.Ratio)
	}
	r.Median = median(ratios)
	r.Statuses = statusDelta(m0, m1, ep.KeywardPath)
	r.Xacts, r.Verifications = x1-x0, verifications(m0, m1)
	progress("postgres: median ratio %.2f; cache hits: %d transactions for %d verifications (%.3f per 1,000); all rounds: %d for %d (%.3f per 1,000)",
		r.Median, r.HitXacts, r.HitVerifications, perThousand(r.HitXacts, r.HitVerifications),
		r.Xacts, r.Verifications, perThousand(r.Xacts, r.Verifications))
	return nil
}

// verifications is how many verifications Keyward counted between two
// scrapes, whatever their outcome.
func verifications(before, after metricSet) int64 {
	var n int64
	for series, v := range after {
		if strings.HasPrefix(series, "keyward_verifications_total{") {
			n += int64(v - before[series])
		}
	}
	return n
}

// pgCounts waits pgStatQuiet, then reads the transactions pg_stat_database
// has counted for dbName and Keyward's metrics. admin is connected to
// another database of the server, so these readings are not counted.
func pgCounts(ctx context.Context, admin *sql.DB, dbName string, kw *server) (int64, metricSet, error) {
	select {
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-time.After(pgStatQuiet):
	}
	var x int64
	err := admin.QueryRowContext(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1`, dbName).Scan(&x)
	if err != nil {
		return 0, nil, fmt.Errorf("pg_stat_database: %w", err)
	}
	m, err := scrape(kw.url)
	return x, m, err
}

func perThousand(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) * 1000 / float64(of)
}

// pgInstances starts instances A and B on one database: revocations
// through A's dashboard timed until B refuses, then usage through A timed
// until the database (what B's dashboard reads, no cache between) shows it.
func (h *harness) pgInstances(ctx context.Context, target string, s *seedfile.Seed) error {
	r := &h.res.PG
	a, err := h.startKeyward("keyward-pg-a", target)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := h.startKeyward("keyward-pg-b", target)
	if err != nil {
		return err
	}
	defer b.stop()
	for _, srv := range []*server{a, b} {
		if _, err := srv.waitHealthy(30 * time.Second); err != nil {
			return err
		}
	}
	if len(s.Probe) < pgRevokeKeys+pgFreshKeys {
		return fmt.Errorf("the seed has %d probe keys, want %d", len(s.Probe), pgRevokeKeys+pgFreshKeys)
	}

	h.phase("PostgreSQL revocation A -> B")
	admin := newBrowser(a.url, 30*time.Second)
	if err := admin.login(s.Admin.Email, s.Admin.Password); err != nil {
		return err
	}
	var delays []time.Duration
	for _, k := range s.Probe[len(s.Probe)-pgRevokeKeys:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := startCachedProber(b.url, k.ID, k.Secret)
		if err != nil {
			return err
		}
		sent := time.Now()
		status, err := admin.post("/keys/"+strconv.FormatInt(k.ID, 10)+"/revoke", url.Values{"reason": {"bench"}})
		done := time.Now()
		if err != nil || status != http.StatusSeeOther {
			p.finish()
			return fmt.Errorf("revoke key %d through A: status %d, %v", k.ID, status, err)
		}
		refused := p.waitFor(5*time.Second, func(obs []observation) bool { return validCount(obs) < len(obs) })
		obs, errs := p.finish()
		r.Revoke.Keys++
		r.Revoke.ProbeErrors += errs
		if !refused {
			r.Revoke.Timeouts++
			continue
		}
		var first time.Time
		for _, o := range obs {
			if !o.valid && (first.IsZero() || o.recv.Before(first)) {
				first = o.recv
			}
			if o.valid && o.sent.After(done) {
				r.Revoke.LateValid++
			}
		}
		delays = append(delays, first.Sub(sent))
	}
	r.Revoke.Lat = summarize(delays)
	progress("postgres revocation A -> B: %d keys, p50 %s, p99 %s, max %s; %d not refused within 5 s",
		r.Revoke.Keys, r.Revoke.Lat.P50, r.Revoke.Lat.P99, r.Revoke.Lat.Max, r.Revoke.Timeouts)
	if r.Revoke.Keys == 0 {
		return errors.New("no revocation measured")
	}

	h.phase("PostgreSQL usage freshness A -> B")
	store, err := db.Open(ctx, target, db.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := freshnessOn(ctx, a.url, store, s.Probe[:pgFreshKeys], &r.Fresh); err != nil {
		return err
	}
	f := r.Fresh
	progress("postgres freshness A -> B: %d samples, p50 %s, p99 %s, %d not seen within %s",
		f.Lat.N, f.Lat.P50.Round(time.Millisecond), f.Lat.P99.Round(time.Millisecond), f.Timeouts, freshTimeout)
	return nil
}
