package web

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
	"github.com/keyward/keyward/db/pgtest"
)

// serveStore starts a Keyward server (verifier, web server) on store with
// a's clock and setup token, as `keyward serve` on another database would,
// until the test ends.
func (a *testApp) serveStore(store *db.Store) *testApp {
	a.t.Helper()
	return serve(a.t, a.clock, store, "", nil, a.setupToken)
}

// usageToday is the key's count of successful verifications today.
func (a *testApp) usageToday(id int64) int64 {
	a.t.Helper()
	days, err := a.store.KeyUsage(context.Background(), db.AnyOwner(), id, 1)
	if err != nil {
		a.t.Fatalf("key usage: %v", err)
	}
	var n int64
	for _, d := range days {
		n += d.Count
	}
	return n
}

// TestKeyLifeAcrossCopy is a key's life that starts on SQLite and goes on
// on PostgreSQL after `keyward db copy`: the key made and used before the
// copy verifies on the copy with the same id and state, its usage count
// goes on from the copied one, the person stays signed in (the session is
// copied), a revoked key stays revoked, rolling and revoking work through
// the dashboard, and new keys take ids past the copied ones.
func TestKeyLifeAcrossCopy(t *testing.T) {
	target := pgtest.Database(t)
	ctx := context.Background()
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)
	id, secret := b.createKey(keyForm("deploy", "scopes", "read"))
	oldID, oldSecret := b.createKey(keyForm("retired"))
	if r := b.post("/keys/"+itoa(oldID)+"/revoke", url.Values{"reason": {"retired"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke before the copy: got %d, want 303", r.StatusCode)
	}
	for range 3 {
		a.wantCode(secret, "")
	}
	a.flush()
	usedBefore := a.usageToday(id)
	keyBefore := a.getKey(id)
	// The server stops before the copy, as the docs say to.
	a.http.Close()
	a.cancel()
	<-a.done

	dst, err := db.Open(ctx, target, db.Options{Now: a.clock.Now, Argon2: dbtest.Argon2})
	if err != nil {
		t.Fatalf("open the PostgreSQL target: %v", err)
	}
	t.Cleanup(func() { dst.Close() })
	rep, err := db.Copy(ctx, a.store, dst, db.CopyOptions{})
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	t.Logf("copied %d rows in %v", rep.Rows(), rep.Elapsed)

	p := a.serveStore(dst)
	pb := &browser{t: t, app: p, c: b.c, base: b.base}

	t.Run("signed in", func(t *testing.T) {
		if r := pb.get("/keys"); r.StatusCode != http.StatusOK {
			t.Fatalf("GET /keys on the copy with the session made on SQLite: got %d, want 200", r.StatusCode)
		}
	})
	t.Run("same key", func(t *testing.T) {
		if got := p.getKey(id); !reflect.DeepEqual(got, keyBefore) {
			t.Errorf("key on the copy: got %+v, want %+v", got, keyBefore)
		}
		v := p.verify(secret, "read")
		if !v.Valid || v.Key["id"] != float64(id) {
			t.Errorf("verify on the copy: got valid=%v key %v, want valid with id %d", v.Valid, v.Key, id)
		}
		p.wantCode(oldSecret, "REVOKED")
	})
	t.Run("usage goes on", func(t *testing.T) {
		p.wantCode(secret, "")
		p.flush()
		// One use in "same key" and one here.
		if got, want := p.usageToday(id), usedBefore+2; got != want {
			t.Errorf("uses today on the copy: got %d, want %d (%d copied + 2)", got, want, usedBefore)
		}
	})
	t.Run("roll and revoke", func(t *testing.T) {
		r := pb.post("/keys/"+itoa(id)+"/roll", url.Values{"grace": {"1h"}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("roll on the copy: got %d, want 200; body %s", r.StatusCode, r.body)
		}
		newID, newSecret := revealed(t, r)
		if newID <= oldID {
			t.Errorf("rolled key: got id %d, want past the copied ids (largest %d)", newID, oldID)
		}
		p.wantCode(secret, "")
		p.wantCode(newSecret, "")
		r = pb.post("/keys/"+itoa(newID)+"/revoke", url.Values{"reason": {"done"}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/keys/"+itoa(newID) {
			t.Fatalf("revoke on the copy: got %d %q, want 303 /keys/%d", r.StatusCode, r.Header.Get("Location"), newID)
		}
		p.wantCode(newSecret, "REVOKED")

		freshID, freshSecret := pb.createKey(keyForm("fresh"))
		if freshID <= newID {
			t.Errorf("new key: got id %d, want past %d", freshID, newID)
		}
		p.wantCode(freshSecret, "")
		// The rolled key's grace period ends on the copy's clock.
		p.clock.Advance(61 * time.Minute)
		p.wantCode(secret, "EXPIRED")
	})
}
