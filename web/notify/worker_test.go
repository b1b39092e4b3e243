package notify_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
	"github.com/keyward/keyward/web/notify"
)

// runWorker runs svc until the test ends.
func runWorker(t *testing.T, svc *notify.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestWorkerDeliversCommittedEvents: changes committed through the store
// reach a real receiver, signed, each event once. The worker polls only
// hourly here, so only the wake-up the commit triggers (SetOutboxHook ->
// Wake) can make the deliveries prompt.
func TestWorkerDeliversCommittedEvents(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t, engine, nil)
			recv := newReceiver(t)
			addEndpoint(t, store, recv, "*")
			svc := notify.New(store, nil, newSigningSender(), "worker-1", notify.Options{Poll: time.Hour}, quietLog())
			store.SetOutboxHook(svc.Wake)
			runWorker(t, svc)

			u, err := store.CreateUser(ctx, "ann@example.com", "plum Orbit cascade 47 lantern", db.RoleMember, db.CLIActor())
			if err != nil {
				t.Fatal(err)
			}
			for round, action := range []string{db.EventKeyCreated, db.EventKeyRevoked} {
				start := time.Now()
				if round == 0 {
					if _, _, err := store.CreateKey(ctx, u.ID, db.KeyInput{Name: "deploy"}, db.CLIActor()); err != nil {
						t.Fatal(err)
					}
				} else {
					keys, err := store.ListKeys(ctx, db.AnyOwner(), db.KeyFilter{Limit: 10})
					if err != nil || len(keys) != 1 {
						t.Fatalf("ListKeys: got %d, %v", len(keys), err)
					}
					if _, err := store.RevokeKey(ctx, db.AnyOwner(), keys[0].ID, "left", db.CLIActor()); err != nil {
						t.Fatal(err)
					}
				}
				waitFor(t, 10*time.Second, action+" delivered", func() bool {
					_, delivered, _, _, _ := recv.snapshot()
					return len(delivered) == round+1
				})
				t.Logf("%s: committed to delivered in %v", action, time.Since(start).Round(time.Millisecond))
			}
			arrived, delivered, bad, _, _ := recv.snapshot()
			if bad != 0 {
				t.Errorf("got %d requests that failed verification, want 0", bad)
			}
			var types []string
			for id, typ := range recv.typesOf() {
				types = append(types, typ)
				if arrived[id] != 1 || delivered[id] != 1 {
					t.Errorf("event %s (%s): got %d requests, %d delivered; want 1 and 1", id, typ, arrived[id], delivered[id])
				}
			}
			slices.Sort(types)
			if want := []string{db.EventKeyCreated, db.EventKeyRevoked}; !slices.Equal(types, want) {
				t.Errorf("got event types %v, want %v", types, want)
			}
			if st := svc.Stats(); st.Delivered[db.ChannelWebhook] != 2 || st.Failed[db.ChannelWebhook] != 0 {
				t.Errorf("stats: got %+v, want 2 webhooks delivered and none failed", st)
			}
		})
	}
}

// TestWorkerConcurrencyBounded: with Concurrency 3 and ten due deliveries,
// never more than three requests are open at once, and all ten are made.
func TestWorkerConcurrencyBounded(t *testing.T) {
	const (
		events      = 10
		concurrency = 3
	)
	ctx := context.Background()
	store := openStore(t, "sqlite", nil)
	recv := newReceiver(t)
	addEndpoint(t, store, recv, db.EventKeyEnabled)
	for range events {
		if err := store.Enqueue(ctx, &db.OutboxEvent{Type: db.EventKeyEnabled}); err != nil {
			t.Fatal(err)
		}
	}
	hold := make(chan struct{})
	recv.setHold(hold)
	svc := notify.New(store, nil, newSigningSender(), "worker-1",
		notify.Options{Batch: events, Concurrency: concurrency}, quietLog())
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := svc.RunOnce(ctx)
		res <- result{n, err}
	}()
	waitFor(t, 10*time.Second, "three requests open", func() bool {
		_, _, _, inflight, _ := recv.snapshot()
		return inflight == concurrency
	})
	for range events { // let them through one by one
		hold <- struct{}{}
	}
	r := <-res
	if r.err != nil || r.n != events {
		t.Fatalf("RunOnce: got %d, %v; want %d", r.n, r.err, events)
	}
	_, delivered, _, _, maxFlight := recv.snapshot()
	if maxFlight != concurrency {
		t.Errorf("got at most %d requests open at once, want %d", maxFlight, concurrency)
	}
	if len(delivered) != events {
		t.Errorf("got %d events delivered, want %d", len(delivered), events)
	}
}

// TestWorkerShutdownMidSendRetriedAfterLease: a worker cut off while its
// request is on the wire, with no chance to hand its claim back (as in a
// crash: RunOnce alone), records nothing; the delivery stays leased to it
// until the lease runs out, then another worker sends it again, as its
// first recorded attempt, and the receiver counts the event once.
func TestWorkerShutdownMidSendRetriedAfterLease(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			clock := dbtest.NewClock(time.Now())
			store := openStore(t, engine, clock.Now)
			recv := newReceiver(t)
			addEndpoint(t, store, recv, db.EventKeyRevoked)
			ev := &db.OutboxEvent{Type: db.EventKeyRevoked}
			if err := store.Enqueue(ctx, ev); err != nil {
				t.Fatal(err)
			}
			recv.setHold(make(chan struct{})) // never released
			opt := notify.Options{Lease: time.Minute}
			first := notify.New(store, nil, newSigningSender(), "worker-1", opt, quietLog())
			stop, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { _, err := first.RunOnce(stop); done <- err }()
			waitFor(t, 10*time.Second, "the first request to arrive", func() bool {
				arrived, _, _, _, _ := recv.snapshot()
				return arrived[ev.EventID] == 1
			})
			cancel() // shutdown, mid-send
			<-done
			recv.setHold(nil)
			if st := first.Stats(); st.Failed[db.ChannelWebhook]+st.Delivered[db.ChannelWebhook] != 0 {
				t.Errorf("stopped worker: got %+v, want no attempt recorded", st)
			}

			sender := newSigningSender()
			second := notify.New(store, nil, sender, "worker-2", opt, quietLog())
			tests := []struct {
				advance time.Duration
				want    int
			}{
				{59 * time.Second, 0}, // the first worker's lease still holds
				{time.Second, 1},      // run out: sent again
			}
			for _, tt := range tests {
				clock.Advance(tt.advance)
				if n, err := second.RunOnce(ctx); err != nil || n != tt.want {
					t.Fatalf("second worker after +%v: got %d, %v; want %d", tt.advance, n, err, tt.want)
				}
			}
			calls := sender.calls()
			if len(calls) != 1 || calls[0].attempts != 0 || calls[0].event != ev.EventID {
				t.Errorf("second worker's sends: got %+v, want one of %s with no attempt recorded before", calls, ev.EventID)
			}
			arrived, delivered, _, _, _ := recv.snapshot()
			if arrived[ev.EventID] != 2 || delivered[ev.EventID] != 1 || len(delivered) != 1 {
				t.Errorf("receiver: got %d requests and %d deliveries of %s (%d events), want 2, 1 and 1 event",
					arrived[ev.EventID], delivered[ev.EventID], ev.EventID, len(delivered))
			}
		})
	}
}

// TestWorkerRetriesOnSchedule: a receiver failing twice is retried 5 s and
// then 5 min later (db.NextRetry's schedule, on the store's fake clock),
// never earlier, and the third try delivers.
func TestWorkerRetriesOnSchedule(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			clock := dbtest.NewClock(time.Now())
			store := openStore(t, engine, clock.Now)
			recv := newReceiver(t)
			recv.status = func(n int) int {
				if n <= 2 {
					return 503
				}
				return 204
			}
			addEndpoint(t, store, recv, db.EventKeyDisabled)
			ev := &db.OutboxEvent{Type: db.EventKeyDisabled}
			if err := store.Enqueue(ctx, ev); err != nil {
				t.Fatal(err)
			}
			sender := newSigningSender()
			svc := notify.New(store, nil, sender, "worker-1", notify.Options{}, quietLog())
			steps := []struct {
				advance   time.Duration
				wantSends int
			}{
				{0, 1},
				{4 * time.Second, 1},
				{time.Second, 2}, // 5 s after the first failure
				{4*time.Minute + 59*time.Second, 2},
				{time.Second, 3}, // 5 min after the second
				{10 * time.Hour, 3},
			}
			for _, st := range steps {
				clock.Advance(st.advance)
				if _, err := svc.RunOnce(ctx); err != nil {
					t.Fatalf("RunOnce: %v", err)
				}
				if got := len(sender.calls()); got != st.wantSends {
					t.Fatalf("after +%v: got %d sends, want %d", st.advance, got, st.wantSends)
				}
			}
			for i, c := range sender.calls() {
				if c.attempts != i {
					t.Errorf("send %d: got %d attempts before it, want %d", i+1, c.attempts, i)
				}
			}
			_, delivered, _, _, _ := recv.snapshot()
			if delivered[ev.EventID] != 1 {
				t.Errorf("got %d deliveries of the event, want 1", delivered[ev.EventID])
			}
			if st := svc.Stats(); st.Delivered[db.ChannelWebhook] != 1 || st.Failed[db.ChannelWebhook] != 2 {
				t.Errorf("stats: got %+v, want 1 delivered and 2 failed", st)
			}
		})
	}
}

// TestWorkerStopHandsBackClaims: a worker stopped on purpose (Run's
// context done) while a request is on the wire and more deliveries wait in
// its claimed batch hands them all back: the next worker sends every one
// at once, on a clock that never reaches the lease, each event reaching
// the receiver exactly once.
func TestWorkerStopHandsBackClaims(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			const events = 5
			ctx := context.Background()
			clock := dbtest.NewClock(time.Now())
			store := openStore(t, engine, clock.Now)
			recv := newReceiver(t)
			addEndpoint(t, store, recv, db.EventKeyRevoked)
			for range events {
				if err := store.Enqueue(ctx, &db.OutboxEvent{Type: db.EventKeyRevoked}); err != nil {
					t.Fatal(err)
				}
			}
			recv.setHold(make(chan struct{})) // never released: only the stop ends it
			opt := notify.Options{Lease: time.Hour, Concurrency: 1, Poll: time.Hour}
			first := notify.New(store, nil, newSigningSender(), "worker-1", opt, quietLog())
			stop, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); first.Run(stop) }()
			waitFor(t, 10*time.Second, "the first request to arrive", func() bool {
				arrived, _, _, _, _ := recv.snapshot()
				return len(arrived) == 1
			})
			cancel()
			<-done
			recv.setHold(nil)

			second := notify.New(store, nil, newSigningSender(), "worker-2", opt, quietLog())
			if n, err := second.RunOnce(ctx); err != nil || n != events {
				t.Fatalf("next worker, lease not run out: got %d, %v; want all %d sent", n, err, events)
			}
			arrived, delivered, _, _, _ := recv.snapshot()
			if len(delivered) != events {
				t.Errorf("got %d events delivered, want %d", len(delivered), events)
			}
			for id, n := range delivered {
				if n != 1 {
					t.Errorf("event %s: delivered %d times, want 1 (requests: %d)", id, n, arrived[id])
				}
			}
		})
	}
}
