package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func (h *harness) writeThroughput(w func(string, ...any)) {
	r := h.res
	s := r.verifySeed
	w("## 1. Verify throughput\n\n")
	w("Keyward (the built binary, `keyward serve`, log level info, usage tracking on) on a database of\n")
	w("%d keys across %d users, against `bench/bare` (Echo v4 answering 200 with a small JSON body,\n", s.Keys, s.Users)
	w("the same `http.Server` timeouts). wrk: %d threads, %d connections, %s per run, `--latency`.\n",
		h.opt.threads, h.opt.conns, h.opt.roundTime)
	w("`bench/wrk/verify.lua` and `auth.lua` cycle through %d valid keys; every 20th request (5%%) carries\n", len(s.Load))
	w("one of %d refused keys (%s). Runs alternate Keyward, bare, Keyward, bare…, 1 s apart, after a\n",
		len(s.Invalid), sortedCounts(r.InvalidMix))
	w("3 s warm-up of each. CPU/req is the server process's CPU time (user + system, from /proc) divided by\n")
	w("the requests wrk completed: the cost of a request, which other work on the machine distorts far less\n")
	w("than requests per second do.\n\n")
	w("Keyward runs with `--trusted-proxies 127.0.0.1` and every request carries `X-Forwarded-For`: each valid\n")
	w("key from its own service address, each refused key from one of 65,536 client addresses. From a single\n")
	w("address, 5%% unknown keys (hundreds a second) would trip the per-address guessing throttle (10\n")
	w("failures/s, burst 100), after which every request from it is answered 429: the right behaviour for\n")
	w("guessing, not the workload to measure. The bare server receives the same bytes.\n\n")
	w("Every load key carries an IP allowlist of four networks (its client matches the last) and metadata;\n")
	w("verify bodies carry `\"ip\"` (the same address as `X-Forwarded-For`) and forward auth checks the\n")
	w("forwarded address, so every valid answer ran the allowlist check and carries `key.meta`. The bare\n")
	w("server answers with a body of the same shape, `owner_type` and `meta` included.\n\n")
	for _, t := range r.Throughput {
		w("### %s\n\n", t.Endpoint.Name)
		w("| Round | Keyward req/s | p50 | p99 | CPU/req | Bare req/s | p50 | p99 | CPU/req | Ratio | Load avg |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for i, rd := range t.Rounds {
			w("| %d | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %.2f | %s |\n", i+1,
				rd.Keyward.RPS, ms(rd.Keyward.P50), ms(rd.Keyward.P99), us(rd.Keyward.CPUPerReq),
				rd.Bare.RPS, ms(rd.Bare.P50), ms(rd.Bare.P99), us(rd.Bare.CPUPerReq), rd.Ratio, rd.Load1)
		}
		w("\n**Median ratio %.2f** (target ≥ 0.70: %s). Keyward's responses during the rounds: %s.",
			t.Median, verdictMin(t.Median, 0.70, ""), sortedCounts(t.Statuses))
		if errs := socketErrors(t); errs != "" {
			w(" wrk socket errors: %s.", errs)
		}
		w("\n\n")
		h.writeVariants(w, t)
	}
	w("Verification outcomes during the rounds (both endpoints): %s. ", sortedCounts(r.Outcomes))
	w("Usage tracking: after the rounds and a flush, the load keys' daily counts add up to %d uses for\n", r.UsageCounted)
	w("%d valid verifications counted by the server", r.UsageValid)
	if r.UsageCounted == r.UsageValid {
		w(" (exact).\n\n")
	} else {
		w(" (**mismatch of %d**).\n\n", r.UsageValid-r.UsageCounted)
	}
	w("A 5xx, if any appears above, is a request whose client hung up as wrk stopped: Keyward answers 500\n")
	w("when the request's context is cancelled during a key lookup (logged as `status=500` without a\n")
	w("`request failed` line, since the error is `context.Canceled`).\n\n")
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }

func socketErrors(t endpointResult) string {
	var out []string
	for i, rd := range t.Rounds {
		for _, x := range []struct {
			who string
			res wrkResult
		}{{"Keyward", rd.Keyward}, {"bare", rd.Bare}} {
			if x.res.SocketErrors != "" {
				out = append(out, fmt.Sprintf("round %d %s: %s", i+1, x.who, x.res.SocketErrors))
			}
		}
	}
	return strings.Join(out, "; ")
}

func (h *harness) writeFreshRevoke(w func(string, ...any)) {
	r := h.res
	bg := r.Background
	f := r.Fresh
	w("## 2. Freshness of usage under load\n\n")
	w("While wrk keeps the verify endpoint loaded (same mix; %.0f req/s, p99 %s over this phase and the next),\n", bg.RPS, ms(bg.P99))
	w("%d workers each wait a random 0–1 s (so uses fall at random points between flushes), verify a probe\n", f.Workers)
	w("key that nothing else uses, then poll the database every %s through\n", ms(f.Poll))
	w("their own `db.Store` on the same file (as another process would) until the key's `last_used_at` is at\n")
	w("least the verify time and its daily count has risen. Latency is from the use as recorded\n")
	w("(`last_used_at`) to the poll that saw both, so it includes up to one poll interval of slack.\n\n")
	w("| Samples | p50 | p95 | p99 | Max | Not seen in 5 s |\n|---|---|---|---|---|---|\n")
	w("| %d | %s | %s | %s | %s | %d |\n\n", f.Lat.N, ms(f.Lat.P50), ms(f.Lat.P95), ms(f.Lat.P99), ms(f.Lat.Max), f.Timeouts)

	v := r.Revoke
	w("## 3. Revocation under load\n\n")
	w("Same background load. For each key, two probe goroutines verify it in a loop; once it has verified\n")
	w("(cached), it is revoked. **Web**: signed in as the seeded admin, `POST /keys/{id}/revoke` with the\n")
	w("CSRF token. **CLI**: `keyward keys revoke ID` on the same database file, another process, which the\n")
	w("server learns of at its next read of the database's change counter (`key_changes`, moved by triggers;\n")
	w("read every 250 ms). The delay is from the command's exit to the last valid answer received.\n\n")
	w("| | Keys | Valid answers to requests sent after the revoke returned | Other |\n|---|---|---|---|\n")
	w("| Web | %d | %d (target 0) | %d refused after it; %d valid answers to requests already in flight |\n",
		v.WebTrials, v.WebAfter, v.WebRefused, v.WebInFlight)
	var delays, cmds []string
	for i := range v.CLIDelays {
		delays = append(delays, ms(v.CLIDelays[i]))
		cmds = append(cmds, ms(v.CLICommand[i]))
	}
	worst := slices.Max(append([]time.Duration{0}, v.CLIDelays...))
	w("| CLI | %d | %d; last success after the command returned, per key: %s (worst %s, bound 0.5 s) | the command itself took %s |\n\n",
		len(v.CLIDelays), v.CLIAfter, strings.Join(delays, ", "), ms(worst), strings.Join(cmds, ", "))
	if v.ProbeErrors > 0 {
		w("Probe requests that failed at the HTTP level: %d.\n\n", v.ProbeErrors)
	}
}

func (h *harness) writePages(w func(string, ...any)) {
	r := h.res
	w("## 4. Pages at scale\n\n")
	w("Keyward on a database of %d keys across %d users, created over 400 days (one member holds %d;\n",
		r.pagesSeed.Keys, r.pagesSeed.Users, r.pagesSeed.HeavyKeys)
	w("two thirds used at some time, last uses replayed through the verifier; 5%% revoked, 5%% disabled).\n")
	w("One signed-in client on loopback, sequential requests, no other load (the phase waits for the CPU to\n")
	w("be quiet first): %d warm-up requests, then %d timed from the request to the last byte of the body\n", pageWarmup, pageRequests)
	w("(the CSV export: %d and %d).\n\n", csvWarmup, csvRequests)
	w("| Page | Median | p95 | Max | Target | Response |\n|---|---|---|---|---|---|\n")
	for _, p := range r.Pages {
		if p.Missing != "" {
			w("| %s | – | – | – | ≤ %s | %s: not measured |\n", p.Spec.What, ms(p.Spec.Target), p.Missing)
			continue
		}
		resp := fmt.Sprintf("%d KiB", p.Bytes>>10)
		if p.Spec.CSV {
			resp += fmt.Sprintf(", %d rows", p.Rows)
		}
		w("| %s | %s | %s | %s | ≤ %s | %s |\n", p.Spec.What, ms(p.Lat.P50), ms(p.Lat.P95), ms(p.Lat.Max), ms(p.Spec.Target), resp)
	}
	w("\nVerdicts in the summary are on the p95.\n\n")
}

func (h *harness) writeSignIn(w func(string, ...any)) {
	s := h.res.SignIn
	w("## 5. Sign-in under pressure\n\n")
	w("A freshly started Keyward (production argon2id: m=19 MiB, t=2, p=1, at most one hash per core at once);\n")
	w("%d members with correct passwords, one client and connection each, all released at the same instant.\n\n", s.N)
	w("| Signed in | Throttled (429) | Errors | p50 | p99 | Max | All done after | Peak RSS (VmHWM) | VmHWM before |\n|---|---|---|---|---|---|---|---|---|\n")
	w("| %d | %d | %d | %s | %s | %s | %s | %.1f MiB | %.1f MiB |\n\n", s.OK, s.Throttled, s.Errors,
		ms(s.Lat.P50), ms(s.Lat.P99), ms(s.Lat.Max), ms(s.Wall), mb(s.HWMAfter), mb(s.HWMBefore))
	if s.ErrorSample != "" {
		w("An error: `%s`.\n\n", s.ErrorSample)
	}
	w("The latency is the queue for the hashing slots: with two cores, two hashes run at once, so the last of\n")
	w("the %d waits for all the others. The cap is what keeps memory flat.\n\n", s.N)
}

func (h *harness) writeFootprint(w func(string, ...any)) {
	fp := h.res.Footprint
	w("## 6. Footprint\n\n")
	w("| | |\n|---|---|\n")
	w("| Binary, `go build -trimpath -ldflags \"-s -w\"` (as `make build`) | %.1f MiB (%d bytes) |\n", mb(fp.BinStripped), fp.BinStripped)
	w("| Binary, `go build -trimpath` (symbols and DWARF kept) | %.1f MiB (%d bytes) |\n", mb(fp.BinFull), fp.BinFull)
	for _, name := range []string{"verify", "pages"} {
		var st, rss []string
		for i := range fp.Startup[name] {
			st = append(st, ms(fp.Startup[name][i]))
			rss = append(rss, fmt.Sprintf("%.1f", mb(fp.IdleRSS[name][i])))
		}
		w("| Start to /healthz 200, %s (each run) | %s |\n", dbLabel(name), strings.Join(st, ", "))
		w("| Idle RSS 1 s after start, %s (each run, MiB) | %s |\n", dbLabel(name), strings.Join(rss, ", "))
	}
	w("\nStart-up is measured from `exec` to the first 200 from `/healthz`, polled every millisecond, on an\n")
	w("existing database (migrations already applied) whose file is in the page cache.\n\n")
}

func (h *harness) writeMicro(w func(string, ...any)) {
	w("## 7. Go microbenchmarks\n\n")
	for _, set := range microSets {
		w("- `%s`: %s\n", strings.Trim(set.pkg, "./"), set.about)
	}
	w("\n| Package | Benchmark | ns/op | B/op | allocs/op |\n|---|---|---|---|---|\n")
	for _, m := range h.res.Micro {
		w("| %s | %s | %s | %.0f | %.0f |\n", m.Pkg, m.Name, trimFloat(m.NsOp), m.BOp, m.AllocsOp)
	}
	w("\n`go test -run '^$' -bench … -benchmem` on the same machine, after the load tests.\n")
	h.writeVariantMicro(w)
}
