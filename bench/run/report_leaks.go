package main

import (
	"time"
)

// leakGap is how far apart the medians of the two kinds of report are.
// The median, not the tail: with a few dozen sequential samples on a
// shared machine the tail is whatever else ran at that moment, in either
// column (an observer sees the same noise), while a systematic difference
// between the two paths moves the median.
func leakGap(t leakTiming) time.Duration {
	d := t.Known.P50 - t.Unknown.P50
	return max(d, -d)
}

// writeLeaksSummary adds the leak phase's rows to the summary.
func (h *harness) writeLeaksSummary(w func(string, ...any)) {
	l := h.res.Leaks
	w("| 14 | report-leak answer, real key vs unknown key, with the %s floor: p50 %s vs %s (without the floor %s vs %s) | median gap %s | ≤ 1 ms | %s |\n",
		ms(l.Floor), ms(l.Floored.Known.P50), ms(l.Floored.Unknown.P50), ms(l.Raw.Known.P50), ms(l.Raw.Unknown.P50),
		ms(leakGap(l.Floored)), verdictMax(msf(leakGap(l.Floored)), 1, " ms"))
	w("| 14 | GitHub secret scanning request sent to the key refused by verify (p99 of %d) | %s | within seconds | %s |\n",
		l.GitHubRefused.N, ms(l.GitHubRefused.P99), verdictMax(msf(l.GitHubRefused.P99), 1000, " ms"))
}

// writeLeaks is the leak reports section.
func (h *harness) writeLeaks(w func(string, ...any)) {
	l := h.res.Leaks
	w("## 14. Leaked keys\n\n")
	w("In process (`web.New` on a fresh SQLite file, loopback HTTP, one client, sequential), since the answer floor is a\n")
	w("`web.Config` field. Reports of a real key (revoked by the report: its revocation, audit records, alert and outbox\n")
	w("events written) alternate with reports of a never-issued well-formed key (one audit record), each from its own\n")
	w("address. *Raw* has the floor off and shows the difference between the two database paths; *floored* is the\n")
	w("default, answering no sooner than %s after receipt.\n\n", ms(l.Floor))
	w("| Run | Reports each | Real key p50 | Unknown p50 | Real key p95 | Unknown p95 | Real key p99 | Unknown p99 | Median gap |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range []struct {
		name string
		t    leakTiming
	}{{"raw (no floor)", l.Raw}, {"floored (" + ms(l.Floor) + ")", l.Floored}} {
		w("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.name, r.t.Known.N, ms(r.t.Known.P50), ms(r.t.Unknown.P50),
			ms(r.t.Known.P95), ms(r.t.Unknown.P95), ms(r.t.Known.P99), ms(r.t.Unknown.P99), ms(leakGap(r.t)))
	}
	w("\nThe tail (p99 of a few dozen sequential requests on a shared machine) is whatever else ran at that moment and\n")
	w("lands in either column; the floor holds the median of both paths to the same value. It hides the paths' difference\n")
	w("while the database answers within the floor; a database slower than that shows through (docs/security.md).\n")
	w("\n**GitHub to refused.** %d keys, each verified once (cached), then reported by a request signed like GitHub's\n", l.GitHubRefused.N)
	w("(ECDSA P-256 over the body), then verified in a loop until refused. The signed request is answered in p50 %s,\n", ms(l.GitHubAnswer.P50))
	w("p99 %s; the first refused verification arrives p50 %s, p99 %s, worst %s after the request was sent: the\n",
		ms(l.GitHubAnswer.P99), ms(l.GitHubRefused.P50), ms(l.GitHubRefused.P99), ms(l.GitHubRefused.Max))
	w("revocation drops the cache in the same process, so the first verification after the answer is refused.\n")
}
