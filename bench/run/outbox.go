package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/keyward/keyward/db"
)

// The notification phase: how fast the outbox drains into a local webhook
// receiver, and what notifications cost the verify path under load.
const (
	// outboxEvents is the backlog the throughput figure drains.
	outboxEvents = 5000
	// newAddrRounds are the A/B/C rounds of the new-address comparison
	// (off, on, bare), fewer than the headline's: each is three wrk runs.
	newAddrRounds = 3
	// newAddrEvery: one valid request in this many comes from an address
	// its key was never seen from (bench/wrk/newaddr.lua).
	newAddrEvery = 100
)

type outboxResult struct {
	// Throughput: a backlog of Events drained by a freshly started
	// server into the receiver.
	Events        int
	Drain         time.Duration // /healthz 200 to the last event received
	Span          time.Duration // first to last event received
	Dupes, Bad    int
	EventsPerSec  float64
	NewAddr       []newAddrRound
	MedianOff     float64
	MedianOn      float64
	NewAddrEvents int // key.new_address events the receiver got during the rounds
	NewAddrDupes  int
	RoundTime     time.Duration
}

// newAddrRound is one round of the new-address comparison: the same load
// on Keyward without an endpoint (the events are written to the outbox
// and fanned out to nobody), on Keyward with an endpoint subscribed to
// key.new_address, and on the bare server.
type newAddrRound struct {
	Off, On, Bare     wrkResult
	RatioOff, RatioOn float64
	Delivered         int           // events received during and after the "on" run
	PendingAfter      float64       // keyward_outbox_pending when wrk ended
	DrainAfter        time.Duration // until the outbox was empty again
}

func (h *harness) outbox(ctx context.Context) error {
	recv, err := startReceiver()
	if err != nil {
		return err
	}
	defer recv.close()
	if err := h.outboxThroughput(ctx, recv); err != nil {
		return err
	}
	recv2, err := startReceiver()
	if err != nil {
		return err
	}
	defer recv2.close()
	return h.newAddressLoad(ctx, recv2)
}

// addEndpoint registers recv on the database at path for types, with the
// admin setting that allows a loopback http:// receiver.
func addEndpoint(ctx context.Context, path string, recv *hookReceiver, types ...string) error {
	store, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.SetWebhooksAllowPrivate(ctx, true, db.CLIActor()); err != nil {
		return err
	}
	_, secret, err := store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: recv.url, EventTypes: types, AllowHTTP: true}, db.CLIActor())
	if err != nil {
		return err
	}
	recv.setSecret(secret)
	return nil
}

// outboxThroughput commits a backlog of events while no server runs, then
// starts one and times the drain: fan-out, claim, signed POST and the
// recorded attempt of each, end to end.
func (h *harness) outboxThroughput(ctx context.Context, recv *hookReceiver) error {
	path := h.path("outbox.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := addEndpoint(ctx, path, recv, db.EventKeyRevoked); err != nil {
		return err
	}
	store, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		return err
	}
	for i := range outboxEvents {
		ev := &db.OutboxEvent{Type: db.EventKeyRevoked, Data: map[string]any{
			"key":   map[string]any{"id": i + 1, "name": fmt.Sprintf("svc %d", i), "hint": "kw_…abcd", "owner": "ops@example.com", "owner_type": "user"},
			"actor": "admin@example.com", "reason": "benchmark"}}
		if err := store.Enqueue(ctx, ev); err != nil {
			store.Close()
			return err
		}
	}
	if err := store.Close(); err != nil {
		return err
	}
	kw, err := h.startKeyward("keyward-outbox", path)
	if err != nil {
		return err
	}
	defer kw.stop()
	if _, err := kw.waitHealthy(10 * time.Second); err != nil {
		return err
	}
	healthy := time.Now()
	deadline := healthy.Add(5 * time.Minute)
	for {
		n, _, _, _ := recv.stats()
		if n >= outboxEvents {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("outbox: %d of %d events delivered within 5 minutes", n, outboxEvents)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	n, dupes, bad, last := recv.stats()
	o := &h.res.Outbox
	o.Events, o.Dupes, o.Bad = n, dupes, bad
	o.Drain, o.Span = last.Sub(healthy), last.Sub(recv.firstArrival())
	o.EventsPerSec = float64(n) / o.Drain.Seconds()
	progress("outbox: %d events delivered in %s after start (%.0f/s; first to last %s), %d duplicates, %d bad signatures",
		n, ms(o.Drain), o.EventsPerSec, ms(o.Span), dupes, bad)
	return nil
}

// newAddressLoad compares the verify throughput with and without a
// webhook endpoint subscribed to key.new_address, under load in which one
// valid request in newAddrEvery comes from a new address, each round
// against the bare server as in section 1.
func (h *harness) newAddressLoad(ctx context.Context, recv *hookReceiver) error {
	off, on := h.path("verify-notify-off.db"), h.path("verify-notify-on.db")
	for _, p := range []string{off, on} {
		if err := copyDB(h.path("verify.db"), p); err != nil {
			return err
		}
	}
	if err := addEndpoint(ctx, on, recv, db.EventKeyNewAddress); err != nil {
		return err
	}
	kwOff, err := h.startKeyward("keyward-notify-off", off)
	if err != nil {
		return err
	}
	defer kwOff.stop()
	kwOn, err := h.startKeyward("keyward-notify-on", on)
	if err != nil {
		return err
	}
	defer kwOn.stop()
	bare, err := h.startBare()
	if err != nil {
		return err
	}
	defer bare.stop()
	for _, s := range []*server{kwOff, kwOn, bare} {
		if _, err := s.waitHealthy(10 * time.Second); err != nil {
			return err
		}
	}
	const script = "newaddr.lua"
	ep := endpoints[0]
	progress("warm-up: 3 s of each server")
	for _, u := range []string{kwOff.url + ep.KeywardPath, kwOn.url + ep.KeywardPath, bare.url + ep.BarePath} {
		if _, err := h.runWrk(ctx, script, u, 3*time.Second); err != nil {
			return err
		}
	}
	// The warm-up's new addresses must be delivered before round 1.
	if _, err := waitOutboxEmpty(ctx, kwOn.url); err != nil {
		return err
	}
	o := &h.res.Outbox
	o.RoundTime = h.opt.roundTime
	startEvents, _, _, _ := recv.stats()
	var offs, ons []float64
	for r := range newAddrRounds {
		var rd newAddrRound
		if err := h.pause(ctx); err != nil {
			return err
		}
		if rd.Off, err = h.runWrkOn(ctx, kwOff, script, ep.KeywardPath, h.opt.roundTime); err != nil {
			return err
		}
		if err := h.pause(ctx); err != nil {
			return err
		}
		before, _, _, _ := recv.stats()
		if rd.On, err = h.runWrkOn(ctx, kwOn, script, ep.KeywardPath, h.opt.roundTime); err != nil {
			return err
		}
		m, err := scrape(kwOn.url)
		if err != nil {
			return err
		}
		rd.PendingAfter = m["keyward_outbox_pending"]
		if rd.DrainAfter, err = waitOutboxEmpty(ctx, kwOn.url); err != nil {
			return err
		}
		after, _, _, _ := recv.stats()
		rd.Delivered = after - before
		if err := h.pause(ctx); err != nil {
			return err
		}
		if rd.Bare, err = h.runWrkOn(ctx, bare, script, ep.BarePath, h.opt.roundTime); err != nil {
			return err
		}
		rd.RatioOff, rd.RatioOn = rd.Off.RPS/rd.Bare.RPS, rd.On.RPS/rd.Bare.RPS
		offs, ons = append(offs, rd.RatioOff), append(ons, rd.RatioOn)
		o.NewAddr = append(o.NewAddr, rd)
		progress("round %d new addresses: off %.0f req/s, on %.0f req/s (%d events delivered, %.0f pending at the end, drained in %s), bare %.0f req/s: ratios %.2f / %.2f",
			r+1, rd.Off.RPS, rd.On.RPS, rd.Delivered, rd.PendingAfter, ms(rd.DrainAfter), rd.Bare.RPS, rd.RatioOff, rd.RatioOn)
	}
	o.MedianOff, o.MedianOn = median(offs), median(ons)
	end, dupes, bad, _ := recv.stats()
	o.NewAddrEvents, o.NewAddrDupes = end-startEvents, dupes
	if bad > 0 {
		return fmt.Errorf("new-address load: %d webhook requests did not verify", bad)
	}
	return nil
}

// waitOutboxEmpty polls a server's keyward_outbox_pending until it is 0
// and returns how long that took (at most a minute).
func waitOutboxEmpty(ctx context.Context, base string) (time.Duration, error) {
	start := time.Now()
	for {
		m, err := scrape(base)
		if err != nil {
			return 0, err
		}
		if v, ok := m["keyward_outbox_pending"]; ok && v == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > time.Minute {
			return 0, fmt.Errorf("%s: outbox still holds %.0f after a minute", base, m["keyward_outbox_pending"])
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
