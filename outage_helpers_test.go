package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create and read the outage database

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/pgtest"
)

// outageEnv names the PostgreSQL cluster the outage test may stop and
// start: "VERSION CLUSTER URL", e.g.
// "15 outage postgres://keyward_outage:PW@localhost:5433/postgres", where
// VERSION and CLUSTER are what pg_ctlcluster takes and URL is a role on it
// that may create databases. It must not be the cluster KEYWARD_TEST_POSTGRES
// names: the other packages' tests run on that one at the same time.
const outageEnv = "KEYWARD_TEST_POSTGRES_OUTAGE"

// pgCluster is a Debian PostgreSQL cluster the test owns.
type pgCluster struct {
	version, name, url string
}

// outageCluster reads outageEnv, skipping t when it is unset or when this
// process may not run pg_ctlcluster (only root and the cluster's owner,
// postgres, may; su would ask a non-root user for a password).
func outageCluster(t *testing.T) pgCluster {
	t.Helper()
	v := os.Getenv(outageEnv)
	if v == "" {
		t.Skipf("PostgreSQL outage test skipped: set %s to \"VERSION CLUSTER URL\" of a cluster it may stop and start (.ci/run makes one)", outageEnv)
	}
	f := strings.Fields(v)
	if len(f) != 3 || !db.IsPostgres(f[2]) {
		t.Fatalf("%s: got %d fields, want \"VERSION CLUSTER postgres://…\" (e.g. \"15 outage postgres://ROLE:PW@localhost:5433/postgres\")", outageEnv, len(f))
	}
	if other := os.Getenv(pgtest.EnvVar); other != "" && sameServer(other, f[2]) {
		t.Fatalf("%s names the server of %s, which other test packages use at the same time: give the outage test a cluster of its own", outageEnv, pgtest.EnvVar)
	}
	if os.Geteuid() != 0 {
		if u, err := user.Current(); err != nil || u.Username != "postgres" {
			t.Skipf("PostgreSQL outage test skipped: stopping cluster %s %s with pg_ctlcluster needs root or the postgres user", f[0], f[1])
		}
	}
	return pgCluster{version: f[0], name: f[1], url: f[2]}
}

// sameServer reports whether two PostgreSQL URLs name the same host and port.
func sameServer(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	return errA == nil && errB == nil && ua.Host == ub.Host
}

// ctl runs pg_ctlcluster VERSION CLUSTER action and returns how long it took.
func (c pgCluster) ctl(t *testing.T, action string, args ...string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "pg_ctlcluster", append([]string{c.version, c.name, action}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctlcluster %s %s %s: %v\n%s", c.version, c.name, action, err, out)
	}
	return time.Since(start)
}

// running reports whether the cluster is up (pg_ctlcluster status exits 0).
func (c pgCluster) running() bool {
	return exec.Command("pg_ctlcluster", c.version, c.name, "status").Run() == nil
}

// database creates an empty database on the cluster for t and returns its
// URL. The cluster is started again and the database dropped when t ends,
// whatever state the test left them in.
func (c pgCluster) database(t *testing.T) string {
	t.Helper()
	if !c.running() {
		c.ctl(t, "start")
	}
	name := "kwoutage_" + randomHex(6)
	if err := c.exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database on %s: %v", db.RedactTarget(c.url), err)
	}
	t.Cleanup(func() {
		if !c.running() {
			c.ctl(t, "start")
		}
		if err := c.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := pgtest.WithDatabase(c.url, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (c pgCluster) exec(stmt string) error {
	pool, err := sql.Open("pgx", c.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = pool.ExecContext(ctx, stmt)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dailyCounts reads every key's usage from key_usage_daily, summed over days.
func dailyCounts(target string) (map[int64]int64, error) {
	pool, err := sql.Open("pgx", target)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := pool.QueryContext(ctx, "SELECT key_id, SUM(count) FROM key_usage_daily GROUP BY key_id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		counts[id] = n
	}
	return counts, rows.Err()
}

// httpAnswer is what the test reads of one HTTP response.
type httpAnswer struct {
	status int
	body   string
	header http.Header
	err    error
}

// verifyVerdict is the JSON of a verify answer or of an error.
type verifyVerdict struct {
	Valid bool   `json:"valid"`
	Code  string `json:"code"`
	Key   struct {
		ID int64 `json:"id"`
	} `json:"key"`
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (a httpAnswer) verdict() verifyVerdict {
	var v verifyVerdict
	_ = json.Unmarshal([]byte(a.body), &v) // a body that is not JSON leaves it empty, which every check refuses
	return v
}

// unavailableJSON reports whether a is the documented 503 of the API and
// /healthz: code UNAVAILABLE and a Retry-After.
func (a httpAnswer) unavailableJSON() bool {
	return a.status == http.StatusServiceUnavailable && a.verdict().Error.Code == "UNAVAILABLE" &&
		a.header.Get("Retry-After") != ""
}

// unavailablePage reports whether a is the documented 503 page.
func (a httpAnswer) unavailablePage() bool {
	return a.status == http.StatusServiceUnavailable && strings.Contains(a.body, "<h1") &&
		strings.Contains(a.body, "Database unavailable") && a.header.Get("Retry-After") != ""
}

// outageClient is a browser-like client: a cookie jar (cookies are per
// host, not per port, so the session made on A is sent to B too) and no
// redirects followed.
type outageClient struct {
	c *http.Client
}

func newOutageClient() *outageClient {
	jar, _ := cookiejar.New(nil)
	return &outageClient{c: &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

func (c *outageClient) do(req *http.Request) httpAnswer {
	resp, err := c.c.Do(req)
	if err != nil {
		return httpAnswer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return httpAnswer{status: resp.StatusCode, body: string(body), header: resp.Header, err: err}
}

func (c *outageClient) get(base, path string) httpAnswer {
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	return c.do(req)
}

func (c *outageClient) verify(base, key string) httpAnswer {
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/keys/verify", strings.NewReader(`{"key":"`+key+`"}`))
	req.Header.Set("Content-Type", "application/json")
	return c.do(req)
}

func (c *outageClient) forwardAuth(base, key string) httpAnswer {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/auth", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	return c.do(req)
}

// post sends a form with the CSRF cookie's token, as the page's form would.
func (c *outageClient) post(base, path string, form url.Values) httpAnswer {
	u, _ := url.Parse(base)
	for _, ck := range c.c.Jar.Cookies(u) {
		if strings.HasSuffix(ck.Name, "kw_csrf") {
			form.Set("_csrf", ck.Value)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// login signs in on base (the sign-in page first, for the CSRF cookie).
func (c *outageClient) login(t *testing.T, base, email, password string) {
	t.Helper()
	if a := c.get(base, "/login"); a.err != nil || a.status != http.StatusOK {
		t.Fatalf("GET /login: %d %v", a.status, a.err)
	}
	a := c.post(base, "/login", url.Values{"email": {email}, "password": {password}})
	if a.err != nil || a.status != http.StatusSeeOther {
		t.Fatalf("sign in as %s: got %d %v, want 303", email, a.status, a.err)
	}
}

// waitCond polls cond every 20 ms until it holds or bound passes, and
// returns how long that took and whether it held.
func waitCond(bound time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > bound {
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logTime matches the time of a text log line that says msg.
func logTime(stderr, msg string) (time.Time, bool) {
	re := regexp.MustCompile(`(?m)^time=(\S+) level=\S+ msg="?` + regexp.QuoteMeta(msg))
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	return at, err == nil
}
