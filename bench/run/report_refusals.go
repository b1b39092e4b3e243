package main

import "fmt"

// writeRefusalsSummary adds the refusals phase's rows to the summary.
func (h *harness) writeRefusalsSummary(w func(string, ...any)) {
	r := h.res.Refusals
	w("| 12 | Keyward/bare verify throughput with 5%% dead keys (revoked, disabled, expired: each refusal counted on its key), median of %d rounds; section 1's mix in the same rounds %.2f | %.2f | ≥ 0.70 | %s |\n",
		len(r.Rounds), r.MedianStd, r.MedianDead, verdictMin(r.MedianDead, 0.70, ""))
	f := r.Fresh
	w("| 12 | Freshness of a refusal (last refused and the day's count) under the dead-key load, p99 (p50 %s; %d of %d not seen in 5 s) | %s | ≤ 1 s | %s |\n",
		ms(f.Lat.P50), f.Timeouts, f.Lat.N+f.Timeouts, ms(f.Lat.P99), freshVerdict(f))
}

// writeRefusals is the refusals section.
func (h *harness) writeRefusals(w func(string, ...any)) {
	r := h.res.Refusals
	w("## 12. Refusals counted per key\n\n")
	w("Section 1's verify load on the seeded database, with its 5%% of refused requests carrying keys that exist\n")
	w("and are dead (%s) instead of section 1's unknown, malformed and revoked keys. Every such refusal is counted\n", sortedCounts(r.Mix))
	w("on its key in memory and written by the usage flush (per day and code, per hour and address, the last refusal),\n")
	w("as successful uses are. Each round runs section 1's mix, the dead-key mix and the bare server for %s each.\n\n", ms(h.opt.roundTime))
	w("| Round | Section 1 mix req/s | Dead-key mix req/s (CPU/req) | Bare req/s | Ratio, section 1 mix | Ratio, dead-key mix | Load |\n|---|---|---|---|---|---|---|\n")
	for i, rd := range r.Rounds {
		w("| %d | %.0f | %.0f (%s) | %.0f | %.2f | %.2f | %s |\n", i+1, rd.Std.RPS, rd.Dead.RPS, rd.Dead.CPUPerReq, rd.Bare.RPS,
			rd.RatioStd, rd.RatioDead, rd.Load1)
	}
	w("\nMedian ratio %.2f with the dead-key mix, %.2f with section 1's (%+.2f).\n", r.MedianDead, r.MedianStd, r.MedianDead-r.MedianStd)
	w("Refusals written for the dead keys during the rounds: %s; the server's refusals with those codes: %s\n",
		sortedCounts(r.Counted), sortedCounts(r.Outcomes))
	w("(REVOKED there also counts section 1's revoked keys; DISABLED and EXPIRED come from the dead keys only, so they must match).\n\n")
	f := r.Fresh
	w("**Freshness.** Under the dead-key load (%.0f req/s in the background), %d workers each present one of %d revoked\n", r.Background.RPS, f.Workers, f.Lat.N+f.Timeouts)
	w("keys used by nothing else and poll the database every %s until its last refusal and its day's count show it:\n", ms(f.Poll))
	w("p50 %s, p95 %s, p99 %s, max %s; %d not seen within 5 s.\n", ms(f.Lat.P50), ms(f.Lat.P95), ms(f.Lat.P99), ms(f.Lat.Max), f.Timeouts)
	u := r.FreshUse
	w("Section 2's freshness of a successful use, sampled right after under the same load (%d probe keys): p50 %s, p99 %s,\n", u.Lat.N+u.Timeouts, ms(u.Lat.P50), ms(u.Lat.P99))
	w("max %s; %d not seen within 5 s. Refusals and uses are written by the same flush.\n", ms(u.Lat.Max), u.Timeouts)
	if d, x := r.Counted["DISABLED"], r.Outcomes["DISABLED"]; d != x {
		w("\n**Counts differ**: %s\n", fmt.Sprintf("DISABLED written %d, refused %d", d, x))
	}
}
