package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestPostgresOutage stops the PostgreSQL cluster under two `keyward
// serve` instances while they are under load (verify and forward auth
// with cached and uncached keys, dashboard pages, /healthz), starts it
// again, and checks the promises of "When the database is unavailable"
// (docs/security.md) against the real thing: no 5xx but the documented
// 503s; cached keys answered throughout; a key revoked before the stop
// refused throughout; a revoke attempted during the outage a 503 that
// changed nothing, and once retried after recovery refused on both
// instances; usage after recovery equal to the successes served, key by
// key. It needs a cluster of its own (outageEnv), since it stops it.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	cluster := outageCluster(t)
	target := cluster.database(t)
	bin := buildKeyward(t)

	const admin = "ops@example.com"
	mustKeyward(t, bin, procPassword+"\n", "user", "add", "--email", admin, "--admin", "--db", target)
	names := map[string]string{} // key -> name
	newKey := func(name string) string {
		k := strings.TrimSpace(mustKeyward(t, bin, "", "keys", "create", "--user", admin, "--name", name, "--db", target))
		names[k] = name
		return k
	}
	var cached, uncached []string
	for i := range 4 {
		cached = append(cached, newKey(fmt.Sprintf("cached %d", i)))
		uncached = append(uncached, newKey(fmt.Sprintf("uncached %d", i)))
	}
	before, late := newKey("revoked before the stop"), newKey("revoked after recovery")

	ids := keyIDs(t, bin, target, names)

	a, b := startKeyward(t, bin, target), startKeyward(t, bin, target)
	servers := []string{a.url, b.url}
	browser := newOutageClient()
	browser.login(t, a.url, admin, procPassword)
	load := newOutageLoad(servers, browser)

	// Every key that is to be cached, verified on both instances.
	verifyAll := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			for i := range servers {
				ans := load.verify(i, k, verifyCached)
				if ans.status != http.StatusOK || !ans.verdict().Valid {
					t.Fatalf("verify %s… on instance %d before the outage: got %d %s, want 200 valid", k[:8], i, ans.status, ans.body)
				}
			}
		}
	}
	verifyAll(append(cached, before, late)...)

	// Revoked from the CLI, another process: both instances learn it by
	// notification only, and refusing it shows that the notification,
	// which drops a whole cache, has arrived. Then the keys to be cached
	// are cached again, and no notification is left to drop them.
	mustKeyward(t, bin, "", "keys", "revoke", fmt.Sprint(ids[before]), "--db", target)
	for i := range servers {
		took, ok := waitCond(10*time.Second, func() bool {
			v := load.probe(i, before).verdict()
			return !v.Valid && v.Code == "REVOKED"
		})
		if !ok {
			t.Fatalf("instance %d still accepts the key revoked from the CLI after %v", i, took)
		}
	}
	verifyAll(append(cached, late)...)
	load.cachedAt = time.Now()

	load.start(cached, uncached, before)
	defer load.finish()
	waitLoad(t, load, phaseBefore, 20, 0)

	load.setPhase(phaseStopping)
	stopIssued := time.Now()
	stopTook := cluster.ctl(t, "stop", "-m", "fast")
	for i := range servers {
		if _, ok := waitCond(30*time.Second, func() bool { return !load.healthSince(i, phaseStopping).IsZero() }); !ok {
			t.Fatalf("instance %d: /healthz not 503 within 30 s of stopping PostgreSQL", i)
		}
	}
	load.setPhase(phaseDown)
	downAt := time.Now()

	// A change attempted during the outage: a 503 page, nothing done.
	form := url.Values{"reason": {"outage test"}}
	revokePath := fmt.Sprintf("/keys/%d/revoke", ids[late])
	if ans := browser.post(a.url, revokePath, form); !ans.unavailablePage() {
		t.Errorf("revoke during the outage: got %d %.200s, want the 503 Database unavailable page", ans.status, ans.body)
	}
	waitLoad(t, load, phaseDown, 10, 2*time.Second)

	load.setPhase(phaseStarting)
	startIssued := time.Now()
	startTook := cluster.ctl(t, "start")
	var healthy [2]time.Duration
	for i := range servers {
		if _, ok := waitCond(60*time.Second, func() bool { return !load.healthSince(i, phaseStarting).IsZero() }); !ok {
			t.Fatalf("instance %d: /healthz not 200 within 60 s of starting PostgreSQL", i)
		}
		healthy[i] = load.healthSince(i, phaseStarting).Sub(startIssued)
	}
	load.setPhase(phaseRecovered)
	outage := time.Since(stopIssued)

	// The revoke of the outage did nothing; retried, it works everywhere.
	if ans := load.verify(0, late, verifyCached); ans.status != http.StatusOK || !ans.verdict().Valid {
		t.Errorf("key whose revoke got a 503: got %d %s after recovery, want still valid", ans.status, ans.body)
	}
	revokedAt := time.Now()
	if ans := browser.post(a.url, revokePath, form); ans.status != http.StatusSeeOther && ans.status != http.StatusOK {
		t.Fatalf("revoke retried after recovery: got %d %.200s, want done", ans.status, ans.body)
	}
	var refusedIn [2]time.Duration
	for i := range servers {
		took, ok := waitCond(15*time.Second, func() bool {
			v := load.probe(i, late).verdict()
			return !v.Valid && v.Code == "REVOKED"
		})
		if !ok {
			t.Errorf("instance %d: the key revoked after recovery is still accepted %v later", i, took)
		}
		refusedIn[i] = time.Since(revokedAt)
	}
	waitLoad(t, load, phaseRecovered, 20, time.Second)
	load.finish()

	// Usage: every success served, key by key, once the flushes are done.
	keys := append(append(append([]string{}, cached...), uncached...), before, late)
	var counts map[int64]int64
	flushed, ok := waitCond(30*time.Second, func() bool {
		c, err := dailyCounts(target)
		if err != nil {
			return false
		}
		counts = c
		for _, k := range keys {
			if c[ids[k]] != load.successes[k] {
				return false
			}
		}
		return true
	})
	if !ok {
		for _, k := range keys {
			if c, want := counts[ids[k]], load.successes[k]; c != want {
				t.Errorf("key %s… (id %d): daily count %d, want the %d successes served", k[:8], ids[k], c, want)
			}
		}
	}

	for _, line := range load.report() {
		t.Log(line)
	}
	for _, s := range load.bad {
		t.Errorf("unexpected answer: %s", s)
	}
	if load.badCount > len(load.bad) {
		t.Errorf("… and %d more unexpected answers", load.badCount-len(load.bad))
	}
	for _, class := range []requestClass{verifyUncached, authUncached, page, healthz} {
		if load.count(class, phaseDown) == 0 {
			t.Errorf("%s: no request during the outage", class)
		}
	}

	var served int64
	for _, n := range load.successes {
		served += n
	}
	t.Logf("outage: stop took %v, down (both /healthz 503) %v after it was issued, start took %v; %v from stop to both healthy",
		stopTook.Round(time.Millisecond), downAt.Sub(stopIssued).Round(time.Millisecond), startTook.Round(time.Millisecond), outage.Round(time.Millisecond))
	if load.pastBackstop > 0 {
		t.Logf("%d answers for cached keys were 503s after the cache's %v backstop: the outage outlived it", load.pastBackstop, cacheBackstop)
	}
	t.Logf("503s answered: %d; %d successes served and counted (usage matched %v after the load stopped)", load.status503(), served, flushed.Round(time.Millisecond))
	for i, s := range []*procServer{a, b} {
		stderr := s.stderr.String()
		// Each of these once: when the trouble starts and when it ends.
		for _, msg := range []string{"usage flush failed", "usage flush works again",
			"key change listener lost its connection", "key change listener listens again"} {
			if n := strings.Count(stderr, `msg="`+msg); n != 1 {
				t.Errorf("instance %d: %d log lines %q, want 1", i, n, msg)
			}
		}
		if n := strings.Count(stderr, "level=ERROR msg=request "); n != 0 {
			t.Errorf("instance %d: %d requests logged as errors, want none (a 503 keeps its route's level)", i, n)
		}
		failed, _ := logTime(stderr, "usage flush failed")
		works, _ := logTime(stderr, "usage flush works again")
		listens, _ := logTime(stderr, "key change listener listens again")
		// Until its listener is back, an instance that answers /healthz
		// may still answer from a cache that misses changes made elsewhere:
		// the listener's retry (at most 1 s apart) must follow quickly.
		if lag := listens.Sub(startIssued) - healthy[i]; lag > listenerLagBound {
			t.Errorf("instance %d: listener back %v after /healthz said 200, want within %v", i, lag.Round(time.Millisecond), listenerLagBound)
		}
		t.Logf("instance %d: first /healthz 200 %v after the start was issued, listener back %v after, first successful flush %v after (first failed flush %v after the stop); revoke after recovery refused after %v",
			i, healthy[i].Round(time.Millisecond), listens.Sub(startIssued).Round(time.Millisecond), works.Sub(startIssued).Round(time.Millisecond),
			failed.Sub(stopIssued).Round(time.Millisecond), refusedIn[i].Round(time.Millisecond))
		for _, k := range keys {
			if strings.Contains(stderr, k) {
				t.Errorf("instance %d logged key %s…", i, k[:8])
			}
		}
		if u, err := url.Parse(target); err == nil {
			if pw, set := u.User.Password(); set && strings.Contains(stderr, pw) {
				t.Errorf("instance %d logged the database password", i)
			}
		}
		if t.Failed() {
			t.Logf("instance %d's log, without its request lines:\n%s", i, withoutRequests(stderr))
		}
	}
}

// withoutRequests drops the request log's lines from a server's log.
func withoutRequests(stderr string) string {
	var keep []string
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, " msg=request ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// listenerLagBound bounds how long after an instance's /healthz is 200
// again its change listener may still be away: one retry interval (1 s,
// db.listenRetryMax) plus a connection on a loaded machine.
const listenerLagBound = 3 * time.Second

// waitLoad waits until every class the load sends in phase p has at
// least n answers sent in it and at least hold has passed, so that each
// phase is seen by every kind of request.
func waitLoad(t *testing.T, l *outageLoad, p outagePhase, n int, hold time.Duration) {
	t.Helper()
	classes := []requestClass{verifyCached, authCached, verifyRevoked, authRevoked, page, healthz}
	if p >= phaseDown {
		classes = append(classes, verifyUncached, authUncached)
	}
	start := time.Now()
	if _, ok := waitCond(time.Minute, func() bool {
		for _, c := range classes {
			if l.count(c, p) < n {
				return false
			}
		}
		return time.Since(start) >= hold
	}); !ok {
		for _, c := range classes {
			t.Logf("%s in phase %s: %d answers", c, p, l.count(c, p))
		}
		t.Fatalf("load in phase %s: not %d answers of every kind within a minute", p, n)
	}
}

// keyIDs maps each key to its id, through `keys list --json` and the
// names the keys were created with.
func keyIDs(t *testing.T, bin, target string, names map[string]string) map[string]int64 {
	t.Helper()
	var list []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(mustKeyward(t, bin, "", "keys", "list", "--json", "--db", target)), &list); err != nil {
		t.Fatalf("keys list --json: %v", err)
	}
	byName := map[string]int64{}
	for _, k := range list {
		byName[k.Name] = k.ID
	}
	ids := map[string]int64{}
	for k, name := range names {
		if ids[k] = byName[name]; ids[k] == 0 {
			t.Fatalf("keys list --json lacks key %q", name)
		}
	}
	return ids
}
