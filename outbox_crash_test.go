package main

import (
	"context"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// crashLease is the notification lease the servers of these tests run
// with (--notify-lease): long enough for a loopback send, short enough
// that a dead server's delivery is taken over within seconds.
const crashLease = "3s"

// TestOutboxCrashDelivery holds the outbox to its promise across crashes,
// on the real binary and a real receiver that de-duplicates by webhook-id:
//
//  1. committed, then nobody delivers: `keyward keys revoke` commits the
//     key.revoked event on the database while no server runs, and exits
//     having sent nothing; the server started afterwards delivers it,
//     exactly once.
//  2. SIGKILL mid-send: while the receiver holds the POST of the next
//     revocation open, the server is killed; the restarted server sends
//     it again once the dead one's lease has run out, and the receiver
//     counts the event once.
func TestOutboxCrashDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	ctx := context.Background()
	bin := buildKeyward(t)
	dbPath, _ := newProcDB(t, bin, 2)
	recv := newHookReceiver(t)
	store := openChecked(t, dbPath)
	addHookEndpoint(t, store, recv, db.EventKeyRevoked)
	keys, err := store.ListKeys(ctx, db.AnyOwner(), db.KeyFilter{Limit: 10})
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys: got %d, %v; want 2", len(keys), err)
	}
	_ = store.Close() // the processes below own the file now

	// 1. Committed by a process that never delivers.
	mustKeyward(t, bin, "", "keys", "revoke", strconv.FormatInt(keys[0].ID, 10), "--db", dbPath)
	if arrived, _, _ := recv.counts(); len(arrived) != 0 {
		t.Fatalf("before any server ran: got %v, want nothing", arrived)
	}
	srv := startKeyward(t, bin, dbPath, "--notify-lease", crashLease)
	var first string
	if !waitUntil(15*time.Second, func() bool {
		_, delivered, _ := recv.counts()
		return len(delivered) == 1
	}) {
		t.Fatalf("the revocation committed while no server ran was not delivered within 15 s:\n%s", srv.stderr)
	}
	_, delivered, _ := recv.counts()
	for id := range delivered {
		first = id
	}

	// 2. Killed while the receiver holds the request open.
	recv.setHold(make(chan struct{})) // never released: only the kill ends it
	mustKeyward(t, bin, "", "keys", "revoke", strconv.FormatInt(keys[1].ID, 10), "--db", dbPath)
	var second string
	if !waitUntil(15*time.Second, func() bool {
		arrived, _, _ := recv.counts()
		ids := newIDs(arrived, first)
		if len(ids) == 1 {
			second = ids[0]
		}
		return second != ""
	}) {
		t.Fatalf("the second revocation's POST did not arrive within 15 s:\n%s", srv.stderr)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.wait(t)
	recv.setHold(nil)
	killedAt := time.Now()
	srv = startKeyward(t, bin, dbPath, "--notify-lease", crashLease)
	if !waitUntil(20*time.Second, func() bool {
		_, delivered, _ := recv.counts()
		return delivered[second] > 0
	}) {
		t.Fatalf("the delivery cut short by SIGKILL was not made again within 20 s:\n%s", srv.stderr)
	}
	t.Logf("resent %v after the kill (lease %s)", time.Since(killedAt).Round(100*time.Millisecond), crashLease)

	arrived, delivered, bad := recv.counts()
	if bad != 0 {
		t.Errorf("got %d requests whose signature did not verify, want 0", bad)
	}
	tests := []struct {
		name                       string
		id                         string
		wantArrived, wantDelivered int
	}{
		{"committed while down", first, 1, 1},
		{"killed mid-send", second, 2, 1},
	}
	for _, tt := range tests {
		if arrived[tt.id] != tt.wantArrived || delivered[tt.id] != tt.wantDelivered {
			t.Errorf("%s (%s): got %d requests and %d deliveries, want %d and %d", tt.name, tt.id,
				arrived[tt.id], delivered[tt.id], tt.wantArrived, tt.wantDelivered)
		}
	}
	if len(delivered) != 2 {
		t.Errorf("receiver: got %d distinct events, want 2: %v", len(delivered), delivered)
	}

	// The database agrees: both deliveries done, each with the one
	// recorded attempt (the killed send left none).
	store = openChecked(t, dbPath)
	log, err := store.ListDeliveries(ctx, db.DeliveryFilter{Channel: db.ChannelWebhook})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range log {
		ids = append(ids, d.EventID)
		if d.Status != db.DeliveryDelivered || d.Attempts != 1 {
			t.Errorf("delivery of %s: got %s after %d attempts, want delivered after 1", d.EventID, d.Status, d.Attempts)
		}
	}
	slices.Sort(ids)
	want := []string{first, second}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("webhook deliveries in the database: got %v, want %v", ids, want)
	}
}
