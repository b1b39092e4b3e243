package handlers

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// throttleEnv is a Handler over a real store with one user, on a clock the
// test moves; its handlers are called directly with a chosen peer address.
type throttleEnv struct {
	h     *Handler
	e     *echo.Echo
	clock *dbtest.Clock
	path  string // the database file
}

func newThrottleEnv(t *testing.T) *throttleEnv {
	t.Helper()
	clock := dbtest.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	store, path := dbtest.Open(t, db.Options{Now: clock.Now})
	if _, err := store.CreateUser(context.Background(), "alice@example.com", fuzzPassword, db.RoleMember, db.CLIActor()); err != nil {
		t.Fatalf("create user: %v", err)
	}
	h := New(Config{Store: store, BaseURL: "http://127.0.0.1:8080", Now: clock.Now})
	e := echo.New()
	e.IPExtractor = echo.ExtractIPDirect()
	return &throttleEnv{h: h, e: e, clock: clock, path: path}
}

// login posts the sign-in form from peer and returns the status.
func (env *throttleEnv) login(t *testing.T, peer, email, password string) int {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = peer + ":40000"
	rec := httptest.NewRecorder()
	if err := env.h.LoginSubmit(env.e.NewContext(req, rec)); err != nil {
		t.Fatalf("POST /login: got error %v, want a page", err)
	}
	return rec.Code
}

// accountRows reads the sign-in back-off rows of the database: how many,
// and the longest subject.
func (env *throttleEnv) accountRows(t *testing.T) (rows, longest int) {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+env.path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.QueryRow(`SELECT COUNT(*), COALESCE(MAX(length(subject)), 0) FROM login_failures`).Scan(&rows, &longest); err != nil {
		t.Fatalf("read login_failures: %v", err)
	}
	return rows, longest
}

// TestLoginThrottleMemoryIsFixedPerEntry replays the attack of the review:
// 200 failed sign-ins with ~0.93 MB addresses from 10 source addresses. An
// email longer than any account's is an invalid sign-in that leaves no
// account row, and a row costs the same whatever email was typed: a kind
// byte and a SHA-256. The address entries are in memory, fixed-size too.
func TestLoginThrottleMemoryIsFixedPerEntry(t *testing.T) {
	const attempts, sources = 200, 10
	tests := []struct {
		name            string
		email           func(i int) string
		wantAccountRows int
	}{
		{"0.93 MB emails", func(i int) string {
			return fmt.Sprintf("%d%s@example.com", i, strings.Repeat("a", 930_000))
		}, 0},
		{"longest possible emails", func(i int) string {
			local := fmt.Sprintf("%03d%s", i, strings.Repeat("b", 64-3))
			return local + "@" + strings.Repeat("c", db.MaxEmailLength-len(local)-len("@.example")) + ".example"
		}, attempts},
		{"short emails", func(i int) string { return fmt.Sprintf("u%d@example.com", i) }, attempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newThrottleEnv(t)
			for i := range attempts {
				peer := fmt.Sprintf("198.51.100.%d", i%sources+1)
				if got := env.login(t, peer, tt.email(i), "wrong password for sure"); got != http.StatusUnauthorized {
					t.Fatalf("attempt %d: got status %d, want 401", i+1, got)
				}
			}
			rows, longest := env.accountRows(t)
			if rows != tt.wantAccountRows {
				t.Errorf("account rows: got %d, want %d", rows, tt.wantAccountRows)
			}
			if rows > 0 && longest != 1+sha256.Size {
				t.Errorf("longest account subject: got %d bytes, want %d", longest, 1+sha256.Size)
			}
			wantIP := sources * env.h.loginThrottle.byIP.entryBytes
			if got := env.h.loginThrottle.byIP.bytes(); got != wantIP {
				t.Errorf("address limiter: got %d bytes, want %d (%d addresses)", got, wantIP, sources)
			}
		})
	}
}

func TestLoginOverlongEmailIsAnInvalidSignIn(t *testing.T) {
	env := newThrottleEnv(t)
	long := strings.Repeat("a", db.MaxEmailLength) + "@example.com"
	if got := env.login(t, "192.0.2.1", long, fuzzPassword); got != http.StatusUnauthorized {
		t.Fatalf("overlong email: got %d, want 401", got)
	}
	if got := env.login(t, "192.0.2.1", "Alice@Example.com", fuzzPassword); got != http.StatusSeeOther {
		t.Fatalf("then the right email: got %d, want 303", got)
	}
}

func TestBackoffBoundedByEntriesAndBytes(t *testing.T) {
	const entry = 32 + 32 // [32]byte key, failures value
	tests := []struct {
		name        string
		limits      backoffLimits
		wantEntries int
	}{
		{"entries bind", backoffLimits{entries: 50, bytes: 1 << 20}, 50},
		{"bytes bind", backoffLimits{entries: 100_000, bytes: 40 * entry}, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := dbtest.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
			b := newBackoff[accountKey](clock.Now, passwordChangePolicy, tt.limits)
			if b.entryBytes != entry {
				t.Fatalf("entry size: got %d bytes, want %d", b.entryBytes, entry)
			}
			for i := range 1000 {
				k, _ := accountKeyOf(fmt.Sprintf("user%d@example.com", i))
				b.fail(k)
				clock.Advance(time.Millisecond)
				if got := b.bytes(); got > tt.wantEntries*entry {
					t.Fatalf("after %d keys: got %d bytes, want at most %d", i+1, got, tt.wantEntries*entry)
				}
			}
		})
	}
}

// TestBackoffPruneKeepsThrottledKeys: filling the map with new keys, one
// failure each, drops those before any key that is being slowed down.
func TestBackoffPruneKeepsThrottledKeys(t *testing.T) {
	clock := dbtest.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	b := newBackoff[accountKey](clock.Now, passwordChangePolicy, backoffLimits{entries: 100, bytes: 1 << 20})
	target, _ := accountKeyOf("admin@example.com")
	for range passwordChangePolicy.free + 3 {
		b.fail(target)
	}
	want := b.wait(target)
	if want <= 0 {
		t.Fatalf("target wait: got %v, want > 0 after %d failures", want, passwordChangePolicy.free+3)
	}
	for i := range 1000 {
		k, _ := accountKeyOf(fmt.Sprintf("spray%d@example.com", i))
		b.fail(k)
	}
	if got := b.wait(target); got != want {
		t.Errorf("target wait after a spray of 1,000 keys: got %v, want %v", got, want)
	}
}

func TestVerifyThrottleBoundedAndKeyedByAddress(t *testing.T) {
	clock := dbtest.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	vt := newVerifyThrottle(clock.Now)
	if got, want := vt.capacity*vt.entryBytes, verifyThrottleLimits.bytes; got > want {
		t.Fatalf("capacity: %d entries of %d bytes = %d, want at most %d", vt.capacity, vt.entryBytes, got, want)
	}

	t.Run("one entry per address however written", func(t *testing.T) {
		for _, ip := range []string{"192.0.2.7", "::ffff:192.0.2.7", "2001:db8::1", "2001:0db8:0::1", "fe80::1%eth0", "fe80::1%eth1"} {
			vt.Failure(ip)
		}
		if got, want := vt.bytes(), 3*vt.entryBytes; got != want {
			t.Errorf("got %d bytes, want %d (3 addresses)", got, want)
		}
	})

	t.Run("capacity holds under a spray", func(t *testing.T) {
		vt.capacity = 64
		drained := "203.0.113.9"
		for range verifyFailBurst + 1 {
			vt.Failure(drained)
		}
		for i := range 1000 {
			vt.Failure(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}).String())
			if got, want := vt.bytes(), vt.capacity*vt.entryBytes; got > want {
				t.Fatalf("after %d addresses: got %d bytes, want at most %d", i+1, got, want)
			}
		}
	})
}
