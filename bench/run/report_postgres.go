package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// writePGSummary adds the PostgreSQL phase's rows to the summary table.
func (h *harness) writePGSummary(w func(string, ...any)) {
	p := h.res.PG
	if p.Skipped != "" {
		w("| 9 | PostgreSQL phase | skipped: %s | | |\n", p.Skipped)
		return
	}
	w("| 9 | PostgreSQL: Keyward/bare throughput, POST /api/v1/keys/verify, cache hits (median of %d rounds) | %.2f | ≥ 0.70 (as SQLite) | %s |\n",
		len(p.Rounds), p.Median, verdictMin(p.Median, 0.70, ""))
	per := perThousand(p.HitXacts, p.HitVerifications)
	w("| 9 | PostgreSQL: transactions per 1,000 verifications, cache hits (%d for %d) | %.3f | ≤ 1 | %s |\n",
		p.HitXacts, p.HitVerifications, per, verdictMax(per, 1, ""))
	w("| 9 | PostgreSQL: the same over all rounds, with each key read again once a minute (%d for %d) | %.3f | (reported) | |\n",
		p.Xacts, p.Verifications, perThousand(p.Xacts, p.Verifications))
	v := p.Revoke
	w("| 9 | PostgreSQL: revocation through A refused by B, p99 (p50 %s, max %s; %d keys, %d not refused in 5 s) | %s | ≤ 100 ms (bound 1 s) | %s |\n",
		ms(v.Lat.P50), ms(v.Lat.Max), v.Keys, v.Timeouts, ms(v.Lat.P99), revokeVerdict(v))
	f := p.Fresh
	w("| 9 | PostgreSQL: a use served by A visible to B, p99 (p50 %s; %d of %d not seen in 5 s) | %s | ≤ 1 s | %s |\n",
		ms(f.Lat.P50), f.Timeouts, f.Lat.N+f.Timeouts, ms(f.Lat.P99), freshVerdict(f))
	for _, pg := range p.Pages {
		if pg.Missing != "" {
			w("| 9 | PostgreSQL: %s | not measured: %s | ≤ %s | MISSES (page missing) |\n", pg.Spec.What, pg.Missing, ms(pg.Spec.Target))
			continue
		}
		w("| 9 | PostgreSQL: %s, p95 (median %s) | %s | ≤ %s | %s |\n", pg.Spec.What, ms(pg.Lat.P50), ms(pg.Lat.P95), ms(pg.Spec.Target),
			verdictMax(msf(pg.Lat.P95), msf(pg.Spec.Target), " ms"))
	}
}

func revokeVerdict(v pgRevoke) string {
	if v.Timeouts > 0 {
		return fmt.Sprintf("MISSES (%d keys not refused within 5 s)", v.Timeouts)
	}
	if v.Lat.P99.Seconds() > 1 {
		return verdictMax(v.Lat.P99.Seconds(), 1, " s")
	}
	return verdictMax(msf(v.Lat.P99), 100, " ms")
}

// writePostgres is the PostgreSQL section.
func (h *harness) writePostgres(w func(string, ...any)) {
	p := h.res.PG
	w("## 9. PostgreSQL (many instances)\n\n")
	if p.Skipped != "" {
		w("Skipped: %s. `KEYWARD_BENCH_POSTGRES=postgres://USER:PASSWORD@HOST/postgres make bench` runs it (a role that may\n", p.Skipped)
		w("create databases; the phase makes two and drops them).\n\n")
		return
	}
	w("%s; two databases made for this run and dropped after it, seeded by `bench/seed` like the SQLite\n", p.Server)
	w("ones (%s). Keyward serves them with `--db postgres://…`.\n\n", strings.Join(p.SeedTimes, ", "))

	w("**Throughput, cache hits only.** One instance against the same `bench/bare` as section 1, %d rounds of\n", len(p.Rounds))
	w("%s each, alternating, after a 3 s warm-up. Unlike section 1, wrk sends only the 1,000 load keys (each\n", h.opt.roundTime)
	w("verified once before), so every request is a cache hit; responses by status: %s.\n\n", sortedCounts(p.Statuses))
	w("| Round | Keyward req/s | p50 | p99 | CPU/req | Bare req/s | p50 | p99 | Ratio | Load avg |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for i, rd := range p.Rounds {
		w("| %d | %.0f | %s | %s | %s | %.0f | %s | %s | %.2f | %s |\n", i+1,
			rd.Keyward.RPS, ms(rd.Keyward.P50), ms(rd.Keyward.P99), us(rd.Keyward.CPUPerReq),
			rd.Bare.RPS, ms(rd.Bare.P50), ms(rd.Bare.P99), rd.Ratio, rd.Load1)
	}
	w("\n**Database work per verification.** `pg_stat_database.xact_commit + xact_rollback` of the verify\n")
	w("database, read %s after Keyward went quiet (a PostgreSQL 15 backend reports its counts within 10 s\n", pgStatQuiet)
	w("of going idle), from a connection to another database so the readings are not counted. Over the first\n")
	w("Keyward run, which ends less than a minute after every load key was cached: **%d transactions for %d\n", p.HitXacts, p.HitVerifications)
	w("verifications, %.3f per 1,000** (target ≤ 1). Over all the rounds (about two minutes): %d for %d, %.3f per\n",
		perThousand(p.HitXacts, p.HitVerifications), p.Xacts, p.Verifications, perThousand(p.Xacts, p.Verifications))
	w("1,000: the cache trusts an entry for a minute (its backstop should a change notification be lost), so\n")
	w("each of the 1,000 keys is read again once a minute, whatever the traffic. Every statement Keyward sends\n")
	w("outside a transaction is a transaction of its own, so a cache hit that touched the database would add\n")
	w("at least one per verification (1,000 per 1,000); the rest is the usage flush, one transaction every\n")
	w("500 ms holding the batch's few statements. `pg_stat_statements` would count statements one by one, but\n")
	w("it needs `shared_preload_libraries` (a server restart); the transaction count needs no change to the\n")
	w("server and bounds what matters: whether a hit reaches the database.\n\n")

	v := p.Revoke
	w("**Revocation A → B.** Two instances on one database. For each of %d keys, two probes verify it on B\n", v.Keys)
	w("in a loop until B has it cached; the seeded admin revokes it through A's dashboard (`POST\n")
	w("/keys/{id}/revoke`); the delay runs from sending that request to A until B returned its first\n")
	w("refusal, so it holds A's own work (session, CSRF, the transaction) besides the propagation. B learns\n")
	w("of it by `LISTEN/NOTIFY`; its cache would otherwise trust the key for a minute. No other load.\n\n")
	w("| Keys | p50 | p95 | p99 | Max | Not refused in 5 s | Valid answers from B to requests sent after A's 303 |\n|---|---|---|---|---|---|---|\n")
	w("| %d | %s | %s | %s | %s | %d | %d |\n\n", v.Keys, ms(v.Lat.P50), ms(v.Lat.P95), ms(v.Lat.P99), ms(v.Lat.Max), v.Timeouts, v.LateValid)
	if v.ProbeErrors > 0 {
		w("Probe requests that failed at the HTTP level: %d.\n\n", v.ProbeErrors)
	}

	f := p.Fresh
	w("**Usage freshness A → B.** As section 2, but each use is served by instance A and polled in the\n")
	w("database every %s, which is what B's dashboard reads (no cache between): latency from the use as A\n", ms(f.Poll))
	w("recorded it (`last_used_at`) to the poll that saw both it and the daily count. %d workers, no other load.\n\n", f.Workers)
	w("| Samples | p50 | p95 | p99 | Max | Not seen in 5 s |\n|---|---|---|---|---|---|\n")
	w("| %d | %s | %s | %s | %s | %d |\n\n", f.Lat.N, ms(f.Lat.P50), ms(f.Lat.P95), ms(f.Lat.P99), ms(f.Lat.Max), f.Timeouts)

	w("**Pages at scale.** As section 4 on the PostgreSQL copy of the large installation.\n\n")
	w("| Page | Median | p95 | Max | Target |\n|---|---|---|---|---|\n")
	for _, pg := range p.Pages {
		if pg.Missing != "" {
			w("| %s | – | – | – | ≤ %s (%s: not measured) |\n", pg.Spec.What, ms(pg.Spec.Target), pg.Missing)
			continue
		}
		w("| %s | %s | %s | %s | ≤ %s |\n", pg.Spec.What, ms(pg.Lat.P50), ms(pg.Lat.P95), ms(pg.Lat.Max), ms(pg.Spec.Target))
	}
	w("\n")
}

// parenthetical drops the "(…)" details from a summary figure, which
// change from run to run, leaving the name to match rows by.
var parenthetical = regexp.MustCompile(`\s*\([^()]*\)`)

// previousSummary reads the summary rows of the report at path (the one
// this run replaces): figure name -> result.
func previousSummary(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Summary"
			continue
		}
		cells := strings.Split(line, "|")
		if !in || len(cells) < 5 {
			continue
		}
		name := figureName(cells[2])
		if name != "" && name != "Figure" {
			out[name] = strings.TrimSpace(cells[3])
		}
	}
	return out
}

func figureName(cell string) string {
	return strings.TrimSpace(parenthetical.ReplaceAllString(cell, ""))
}

// writeComparison sets this run's summary results beside the previous
// report's, figure by figure, so a regression shows without a diff.
func (h *harness) writeComparison(w func(string, ...any), summary string) {
	prev := h.res.previous
	if len(prev) == 0 {
		return
	}
	w("## 11. Against the previous report\n\n")
	w("The summary's results beside those of the report this run replaced (same figure names). Read them\n")
	w("with the machine load of both runs: on a shared 2-core machine a busier run is slower.\n\n")
	w("| Figure | Previous | This run |\n|---|---|---|\n")
	for _, line := range strings.Split(summary, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			continue
		}
		name := figureName(cells[2])
		if was, ok := prev[name]; ok && !strings.HasPrefix(name, "-") {
			w("| %s | %s | %s |\n", name, was, strings.TrimSpace(cells[3]))
		}
	}
	w("\n")
}
