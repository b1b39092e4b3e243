package main

import "fmt"

// writeOutboxSummary adds the notification phase's rows to the summary.
func (h *harness) writeOutboxSummary(w func(string, ...any)) {
	o := h.res.Outbox
	w("| 10 | Outbox throughput: a backlog of %d events delivered as signed webhooks to a local receiver (%d duplicates) | %.0f events/s | (reported) | |\n",
		o.Events, o.Dupes, o.EventsPerSec)
	w("| 10 | Keyward/bare verify throughput with a webhook on every new address (1%% of requests, %.0f events/s), median of %d rounds; without the webhook %.2f | %.2f | as without, within one round's spread (0.08) | %s |\n",
		o.newAddrRate(), len(o.NewAddr), o.MedianOff, o.MedianOn, verdictMin(o.MedianOn-o.MedianOff, -0.08, ""))
}

// writeOutbox is the notification section.
func (h *harness) writeOutbox(w func(string, ...any)) {
	o := h.res.Outbox
	w("## 10. Notifications (outbox)\n\n")
	w("**Throughput.** %d `key.revoked` events were committed to a fresh SQLite database while no server ran; then\n", o.Events)
	w("`keyward serve` started with one webhook endpoint subscribed to them, a receiver on loopback that verifies\n")
	w("every signature with the Standard Webhooks library and de-duplicates by `webhook-id`. Each event is fanned out,\n")
	w("claimed, signed, POSTed (8 at a time) and its attempt recorded, one write transaction per attempt.\n\n")
	w("| Events | Start (/healthz 200) to last received | First to last received | Events/s | Duplicates | Bad signatures |\n|---|---|---|---|---|---|\n")
	w("| %d | %s | %s | %.0f | %d | %d |\n\n", o.Events, ms(o.Drain), ms(o.Span), o.EventsPerSec, o.Dupes, o.Bad)
	w("**Verify ratio with new-address notifications.** Two servers on copies of the seeded 11,025-key database\n")
	w("take section 1's verify load (`bench/wrk/newaddr.lua`), except that one valid request in %d comes from an\n", newAddrEvery)
	w("address its key was never seen from. Each is a new address recorded by the usage flush and a\n")
	w("`key.new_address` event in the outbox, on both servers. *Off* has no endpoint (events fanned out to nobody);\n")
	w("*on* has an endpoint subscribed to `key.new_address`, so each becomes a signed POST to the receiver while\n")
	w("the load runs. Each round runs off, on and the bare server for %s each, a second apart; after the *on* run the\n", ms(o.RoundTime))
	w("harness waits until its outbox is empty, so no delivery spills into the next run.\n\n")
	w("| Round | Off req/s | On req/s | Bare req/s | Ratio off | Ratio on | Events delivered | Pending when wrk ended | Drained after |\n|---|---|---|---|---|---|---|---|---|\n")
	for i, rd := range o.NewAddr {
		w("| %d | %.0f | %.0f | %.0f | %.2f | %.2f | %d | %.0f | %s |\n", i+1, rd.Off.RPS, rd.On.RPS, rd.Bare.RPS,
			rd.RatioOff, rd.RatioOn, rd.Delivered, rd.PendingAfter, ms(rd.DrainAfter))
	}
	w("\nMedian ratio off %.2f, on %.2f (%+.2f). %s\n", o.MedianOff, o.MedianOn, o.MedianOn-o.MedianOff, newAddrVerdict(o))
	w("The receiver got %d `key.new_address` events during the rounds (%.0f a second of load), %d of them twice.\n",
		o.NewAddrEvents, o.newAddrRate(), o.NewAddrDupes)
	w("No request waits on a delivery: the verify handler only records the use; the flush writes\n")
	w("the address and its event in one transaction, and the worker sends outside it.\n")
}

// newAddrRate is the key.new_address events delivered per second of the
// "on" runs.
func (o outboxResult) newAddrRate() float64 {
	if len(o.NewAddr) == 0 || o.RoundTime <= 0 {
		return 0
	}
	return float64(o.NewAddrEvents) / (float64(len(o.NewAddr)) * o.RoundTime.Seconds())
}

// newAddrVerdict says in words whether the ratio moved beyond the spread of
// a round on this machine (about ±0.08, section 1).
func newAddrVerdict(o outboxResult) string {
	d := o.MedianOn - o.MedianOff
	if d >= -0.08 {
		return "Within one round's spread on this machine (±0.08): unchanged."
	}
	return fmt.Sprintf("Lower by %.2f, more than one round's spread (±0.08).", -d)
}
