package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// otherProcess is another Keyward on a's database file, as a second
// process behind a load balancer would be: its own db.Open, verifier,
// server and in-memory throttles, sharing only the file (and the clock).
func (a *testApp) otherProcess(opts ...appOption) *testApp {
	a.t.Helper()
	store, err := db.Open(context.Background(), a.dbPath, db.Options{Now: a.clock.Now, Argon2: dbtest.Argon2})
	if err != nil {
		a.t.Fatalf("open %s again: %v", a.dbPath, err)
	}
	a.t.Cleanup(func() {
		if err := store.Close(); err != nil {
			a.t.Errorf("close the other process's store: %v", err)
		}
	})
	return serve(a.t, a.clock, store, a.dbPath, nil, a.setupToken, opts...)
}

// TestLoginBackoffSharedAcrossInstances: the per-account back-off lives in
// the database, so ten wrong passwords spread over two processes on one
// database throttle the account on both exactly as ten on one do. Each
// guess comes from a new address, so the per-address back-off (per
// process, in memory) never applies; the clock moves 15 minutes after each
// guess, past any wait so far and within the hour that keeps the count.
// Kept in memory, five failures on each process would have earned 1 s and
// been waited out.
func TestLoginBackoffSharedAcrossInstances(t *testing.T) {
	const alice, guesses = "alice@example.com", 10
	// Ten failures in a row earn 1 s << (10 - 5).
	const wantWait = "32"
	tests := []struct {
		name string
		onB  func(i int) bool
	}{
		{"ten on A", func(int) bool { return false }},
		{"five on A, then five on B", func(i int) bool { return i >= 5 }},
		{"alternating", func(i int) bool { return i%2 == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, loopbackProxy)
			a.createUser(alice, db.RoleMember)
			b := a.otherProcess(loopbackProxy)
			for i := range guesses {
				on := a
				if tt.onB(i) {
					on = b
				}
				r := loginAttempt(on.browser(), alice, "wrong password for sure", fmt.Sprintf("203.0.113.%d", i+1))
				if r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("guess %d: got %d, want 401", i+1, r.StatusCode)
				}
				if i < guesses-1 {
					a.clock.Advance(15 * time.Minute)
				}
			}
			for _, inst := range []struct {
				name string
				app  *testApp
			}{{"A", a}, {"B", b}} {
				r := loginAttempt(inst.app.browser(), alice, testPassword, "198.51.100.7")
				if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != wantWait {
					t.Errorf("right password on %s: got %d with Retry-After %q, want 429 with %s",
						inst.name, r.StatusCode, r.Header.Get("Retry-After"), wantWait)
				}
			}
			// Once the wait is over, signing in on B clears the count for A.
			a.clock.Advance(32 * time.Second)
			if r := loginAttempt(b.browser(), alice, testPassword, "198.51.100.8"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("right password on B after the wait: got %d, want 303", r.StatusCode)
			}
			for i := range 5 {
				r := loginAttempt(a.browser(), alice, "wrong password for sure", fmt.Sprintf("198.51.100.%d", 20+i))
				if r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("guess %d on A after the sign-in on B: got %d, want 401 (the count starts again)", i+1, r.StatusCode)
				}
			}
		})
	}
}

// noSetupToken leaves the setup token to the database, as `keyward serve`
// does (tests otherwise configure one).
func noSetupToken(c *Config) { c.SetupToken = "" }

// TestSetupLinkWorksOnEveryInstance: two processes on one database print
// the same setup link; opened on B after A printed it, it creates the
// first admin; afterwards neither accepts it, nor prints a link.
func TestSetupLinkWorksOnEveryInstance(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, noSetupToken)
	b := a.otherProcess(noSetupToken)
	token := func(app *testApp) string {
		t.Helper()
		link, err := app.server.SetupURL(ctx)
		if err != nil {
			t.Fatalf("SetupURL: %v", err)
		}
		if link == "" {
			return ""
		}
		u, err := url.Parse(link)
		if err != nil || u.Host != strings.TrimPrefix(app.http.URL, "http://") || u.Path != "/setup" {
			t.Fatalf("setup link %q (err %v): want %s/setup?token=…", link, err, app.http.URL)
		}
		return u.Query().Get("token")
	}
	tokA := token(a)
	if len(tokA) != 43 {
		t.Fatalf("A's token: got %d characters, want 43 (256 bits in base64url)", len(tokA))
	}
	if tokB := token(b); tokB != tokA {
		t.Fatalf("B's link: got another token, want A's")
	}

	admin := b.browser()
	if r := admin.get("/setup?token=" + url.QueryEscape(tokA)); r.StatusCode != http.StatusOK {
		t.Fatalf("A's link opened on B: got %d, want 200", r.StatusCode)
	}
	r := admin.post("/setup", url.Values{"token": {tokA}, "email": {"root@example.com"},
		"password": {testPassword}, "password_confirm": {testPassword}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /setup on B: got %d, want 303", r.StatusCode)
	}
	wantSignedIn(t, admin, "root@example.com")

	for _, inst := range []struct {
		name string
		app  *testApp
	}{{"A", a}, {"B", b}} {
		t.Run(inst.name+" afterwards", func(t *testing.T) {
			if r := inst.app.browser().get("/setup?token=" + url.QueryEscape(tokA)); r.StatusCode != http.StatusForbidden {
				t.Errorf("GET the old link: got %d, want 403", r.StatusCode)
			}
			r := inst.app.browser().post("/setup", url.Values{"token": {tokA}, "email": {"second@example.com"},
				"password": {testPassword}, "password_confirm": {testPassword}})
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("POST the old token: got %d, want 403", r.StatusCode)
			}
			if got := token(inst.app); got != "" {
				t.Errorf("setup link printed after setup: got a token, want none")
			}
		})
	}
}

// lockedBuffer is a log destination two servers' jobs may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// count is how many log lines contain msg.
func (l *lockedBuffer) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), msg)
}

func logTo(w io.Writer) appOption {
	return func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(w, nil)) }
}

// TestJobsRunOncePerTickAcrossInstances: two processes on one database run
// their jobs at the same instant, and a stale key is disabled once, with
// one audit event and one log line. While the winner's lease runs, the
// other does nothing, even with work waiting; once the lease has expired,
// the other takes over.
func TestJobsRunOncePerTickAcrossInstances(t *testing.T) {
	ctx := context.Background()
	const disabledMsg = "auto-disabled unused keys"
	logs := map[*testApp]*lockedBuffer{}
	var logA, logB lockedBuffer
	a := newTestApp(t, logTo(&logA))
	b := a.otherProcess(logTo(&logB))
	logs[a], logs[b] = &logA, &logB
	p, err := a.store.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.AutoDisableAfter = 30 * day
	if err := a.store.SetPolicy(ctx, p, db.CLIActor()); err != nil {
		t.Fatalf("turn auto-disable on: %v", err)
	}
	bob := a.createUser("bob@example.com", db.RoleMember)
	first, _ := a.storeKey(bob.ID, db.KeyInput{Name: "first"})
	a.clock.Advance(20 * time.Minute)
	second, _ := a.storeKey(bob.ID, db.KeyInput{Name: "second"})
	// 30 days and 10 minutes after the first key: it is stale, the second
	// not yet (10 minutes short).
	a.clock.Advance(30*day - 10*time.Minute)

	disables := func() int {
		t.Helper()
		ev, err := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionKeyDisable})
		if err != nil {
			t.Fatal(err)
		}
		return len(ev)
	}
	status := func(k db.Key) db.KeyStatus { return a.getKey(k.ID).Status(a.clock.Now()) }

	var wg sync.WaitGroup
	for _, app := range []*testApp{a, b} {
		wg.Go(func() { app.server.runJobsOnce(ctx) })
	}
	wg.Wait()
	if got := disables(); got != 1 {
		t.Fatalf("key.disable events after both ran: got %d, want 1", got)
	}
	if got := logA.count(disabledMsg) + logB.count(disabledMsg); got != 1 {
		t.Fatalf("%q log lines: got %d, want 1", disabledMsg, got)
	}
	if got := status(first); got != db.KeyDisabled {
		t.Fatalf("first key: got %s, want disabled", got)
	}
	winner, other := a, b
	if logB.count(disabledMsg) == 1 {
		winner, other = b, a
	}

	steps := []struct {
		name          string
		advance       time.Duration
		wantDisables  int
		wantSecond    db.KeyStatus
		wantOtherLogs int
	}{
		// The second key is stale now, but the winner's lease still runs.
		{"the other within the lease", 20 * time.Minute, 1, db.KeyActive, 0},
		{"the other once the lease expired", jobLeaseTTL - 20*time.Minute, 2, db.KeyDisabled, 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			a.clock.Advance(st.advance)
			other.server.runJobsOnce(ctx)
			if got := disables(); got != st.wantDisables {
				t.Errorf("key.disable events: got %d, want %d", got, st.wantDisables)
			}
			if got := status(second); got != st.wantSecond {
				t.Errorf("second key: got %s, want %s", got, st.wantSecond)
			}
			if got := logs[other].count(disabledMsg); got != st.wantOtherLogs {
				t.Errorf("the other's %q lines: got %d, want %d", disabledMsg, got, st.wantOtherLogs)
			}
		})
	}
	// The lease is the other's now: the former winner, at the same
	// instant, does nothing.
	if ok, err := winner.store.TryLease(ctx, jobLeaseName, winner.server.holder, jobLeaseTTL); err != nil || ok {
		t.Errorf("the former winner's lease: got %v (err %v), want refused", ok, err)
	}
}
