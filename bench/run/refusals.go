package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/db"
)

// The refusals phase (section 12): section 1's verify load, except that its
// 5% of refused requests carry keys that exist and are dead (revoked,
// disabled, expired), so every one of them is counted on its key through
// the usage recorder (per day and code, per hour and address, the last
// refusal). Each round runs section 1's own mix (unknown, malformed and
// revoked keys), the dead-key mix and the bare server, so both ratios come
// from the same rounds. Then, under the dead-key load, how soon a refusal
// is readable on its key (last_refused_at and the day's count).
const (
	// deadKeysPerCode dead keys of each kind are mixed in.
	deadKeysPerCode = 10
	// refusalProbes are revoked keys used by nothing else, one sample each.
	refusalProbes = 300
)

type refusalsResult struct {
	Rounds                []refusalRound
	MedianStd, MedianDead float64
	Mix                   map[string]int   // the dead keys' codes, as the server answered them
	Counted               map[string]int64 // refusals written for the dead keys during the rounds, per code
	Outcomes              map[string]int64 // the server's refusals of the same codes during the rounds
	Fresh                 freshResult
	// FreshUse is section 2's freshness of a successful use, sampled
	// under the same load right after Fresh, for comparison.
	FreshUse   freshResult
	Background wrkResult
}

type refusalRound struct {
	Std, Dead, Bare     wrkResult
	RatioStd, RatioDead float64
	Load1               string
}

var deadCodes = []db.VerifyCode{db.CodeRevoked, db.CodeDisabled, db.CodeExpired}

// deadKeys creates the dead keys (interleaved by code) and the probes.
func (h *harness) deadKeys(ctx context.Context, store *db.Store) (dead []db.Key, secrets []string, probes []db.Key, probeSecrets []string, expiry time.Time, err error) {
	admin := h.res.verifySeed.Admin.ID
	expiry = time.Now().Add(3 * time.Second)
	for i := range deadKeysPerCode {
		for _, code := range deadCodes {
			in := db.KeyInput{Name: fmt.Sprintf("dead %s %d", strings.ToLower(string(code)), i)}
			if code == db.CodeExpired {
				in.ExpiresAt = &expiry
			}
			k, secret, err := store.CreateKey(ctx, admin, in, db.CLIActor())
			if err != nil {
				return nil, nil, nil, nil, expiry, err
			}
			switch code {
			case db.CodeRevoked:
				_, err = store.RevokeKey(ctx, db.AnyOwner(), k.ID, "bench: dead key", db.CLIActor())
			case db.CodeDisabled:
				_, err = store.SetKeyDisabled(ctx, db.AnyOwner(), k.ID, true, "bench: dead key", db.CLIActor())
			}
			if err != nil {
				return nil, nil, nil, nil, expiry, err
			}
			dead, secrets = append(dead, k), append(secrets, secret)
		}
	}
	for i := range refusalProbes {
		k, secret, err := store.CreateKey(ctx, admin, db.KeyInput{Name: fmt.Sprintf("refusal probe %d", i)}, db.CLIActor())
		if err != nil {
			return nil, nil, nil, nil, expiry, err
		}
		if _, err := store.RevokeKey(ctx, db.AnyOwner(), k.ID, "bench: refusal probe", db.CLIActor()); err != nil {
			return nil, nil, nil, nil, expiry, err
		}
		probes, probeSecrets = append(probes, k), append(probeSecrets, secret)
	}
	return dead, secrets, probes, probeSecrets, expiry, nil
}

func (h *harness) refusals(ctx context.Context) error {
	r := &h.res.Refusals
	store, err := db.Open(ctx, h.path("verify.db"), db.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	dead, secrets, probes, probeSecrets, expiry, err := h.deadKeys(ctx, store)
	if err != nil {
		return err
	}
	deadFile := h.path("dead.txt")
	if err := os.WriteFile(deadFile, []byte(strings.Join(secrets, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	kw, err := h.startKeyward("keyward-refusals", h.path("verify.db"))
	if err != nil {
		return err
	}
	defer kw.stop()
	bare, err := h.startBare()
	if err != nil {
		return err
	}
	defer bare.stop()
	for _, s := range []*server{kw, bare} {
		if _, err := s.waitHealthy(10 * time.Second); err != nil {
			return err
		}
	}
	time.Sleep(time.Until(expiry) + 100*time.Millisecond)
	c := &http.Client{Timeout: 10 * time.Second, Transport: newTransport()}
	defer c.CloseIdleConnections()
	r.Mix = map[string]int{}
	for _, s := range secrets {
		valid, code, err := verifyKey(c, kw.url, s)
		if err != nil {
			return err
		}
		if valid {
			return fmt.Errorf("a dead key verified: %.8s…", s)
		}
		r.Mix[code]++
	}
	std := h.wrkKeys
	deadKeys := [2]string{std[0], deadFile}
	defer func() { h.wrkKeys = std }()
	progress("dead keys: %v; warm-up: 3 s of each mix and the bare server", r.Mix)
	for _, keys := range [][2]string{std, deadKeys} {
		h.wrkKeys = keys
		if _, err := h.runWrk(ctx, "verify.lua", kw.url+endpoints[0].KeywardPath, 3*time.Second); err != nil {
			return err
		}
	}
	if _, err := h.runWrk(ctx, "verify.lua", bare.url+endpoints[0].BarePath, 3*time.Second); err != nil {
		return err
	}

	time.Sleep(1500 * time.Millisecond) // the warm-up's refusals flushed
	countedBefore, err := refusalsOf(ctx, store, dead)
	if err != nil {
		return err
	}
	before, err := scrape(kw.url)
	if err != nil {
		return err
	}
	var stdRatios, deadRatios []float64
	for i := range h.opt.rounds {
		var rd refusalRound
		for _, run := range []struct {
			s     *server
			keys  [2]string
			path  string
			into  *wrkResult
			label string
		}{
			{kw, std, endpoints[0].KeywardPath, &rd.Std, "section 1 mix"},
			{kw, deadKeys, endpoints[0].KeywardPath, &rd.Dead, "dead-key mix"},
			{bare, std, endpoints[0].BarePath, &rd.Bare, "bare"},
		} {
			if err := h.pause(ctx); err != nil {
				return err
			}
			h.wrkKeys = run.keys
			if *run.into, err = h.runWrkOn(ctx, run.s, "verify.lua", run.path, h.opt.roundTime); err != nil {
				return err
			}
		}
		rd.RatioStd, rd.RatioDead = rd.Std.RPS/rd.Bare.RPS, rd.Dead.RPS/rd.Bare.RPS
		rd.Load1 = loadAvg()
		r.Rounds = append(r.Rounds, rd)
		stdRatios, deadRatios = append(stdRatios, rd.RatioStd), append(deadRatios, rd.RatioDead)
		progress("round %d: section 1 mix %.0f req/s, dead-key mix %.0f req/s (%s CPU/req), bare %.0f req/s; ratios %.2f and %.2f",
			i+1, rd.Std.RPS, rd.Dead.RPS, rd.Dead.CPUPerReq, rd.Bare.RPS, rd.RatioStd, rd.RatioDead)
	}
	r.MedianStd, r.MedianDead = median(stdRatios), median(deadRatios)
	after, err := scrape(kw.url)
	if err != nil {
		return err
	}
	time.Sleep(1500 * time.Millisecond) // the rounds' refusals flushed
	countedAfter, err := refusalsOf(ctx, store, dead)
	if err != nil {
		return err
	}
	r.Counted, r.Outcomes = map[string]int64{}, map[string]int64{}
	out := outcomeDelta(before, after)
	for _, code := range deadCodes {
		r.Counted[string(code)] = countedAfter[code] - countedBefore[code]
		r.Outcomes[string(code)] = out[string(code)]
	}
	progress("refusals counted on the dead keys %v; the server's refusals of those codes %v (REVOKED also counts section 1's revoked keys)",
		r.Counted, r.Outcomes)

	h.wrkKeys = deadKeys
	bg, err := h.startWrk("verify.lua", kw.url+endpoints[0].KeywardPath, 10*time.Minute)
	if err != nil {
		return err
	}
	ferr := refusalFreshness(ctx, kw.url, store, probes, probeSecrets, &r.Fresh)
	if ferr == nil {
		ferr = freshnessOn(ctx, kw.url, store, h.res.verifySeed.Probe[:min(refusalProbes, len(h.res.verifySeed.Probe))], &r.FreshUse)
	}
	r.Background, err = bg.stop()
	if ferr != nil {
		return ferr
	}
	return err
}

// refusalsOf sums the refusals written for keys, per code, over today and
// yesterday (UTC).
func refusalsOf(ctx context.Context, store *db.Store, keys []db.Key) (map[db.VerifyCode]int64, error) {
	out := map[db.VerifyCode]int64{}
	for _, k := range keys {
		t, err := store.KeyRefusalTotals(ctx, db.AnyOwner(), k.ID, 2)
		if err != nil {
			return nil, err
		}
		for code, n := range t.ByCode {
			out[code] += n
		}
	}
	return out, nil
}

// refusalFreshness is freshnessOn for refusals: each probe (a revoked key)
// is presented once, under load, and the database polled until both its
// last refusal and its day's count show it. The latency runs from the
// refusal as the server recorded it (last_refused_at) to the poll that saw
// it.
func refusalFreshness(ctx context.Context, base string, store *db.Store, probes []db.Key, secrets []string, r *freshResult) error {
	h := &freshRun{}
	r.Workers, r.Poll = freshWorkers, freshPoll
	var next atomic.Int64
	var wg sync.WaitGroup
	for range freshWorkers {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second, Transport: newTransport()}
			defer c.CloseIdleConnections()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(probes) {
					return
				}
				lat, ok, err := refusalSample(ctx, c, base, store, probes[i].ID, secrets[i])
				h.add(lat, ok, err)
			}
		})
	}
	wg.Wait()
	if h.err != nil {
		return h.err
	}
	r.Lat, r.Timeouts = summarize(h.lats), h.timeouts
	progress("refusal freshness: %d samples, p50 %s, p99 %s, max %s, %d not seen within %s",
		r.Lat.N, r.Lat.P50.Round(time.Millisecond), r.Lat.P99.Round(time.Millisecond), r.Lat.Max.Round(time.Millisecond),
		r.Timeouts, freshTimeout)
	return nil
}

// freshRun gathers the samples of concurrent workers.
type freshRun struct {
	mu       sync.Mutex
	lats     []time.Duration
	timeouts int
	err      error
}

func (f *freshRun) add(lat time.Duration, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err != nil:
		if f.err == nil {
			f.err = err
		}
	case ok:
		f.lats = append(f.lats, lat)
	default:
		f.timeouts++
	}
}

func refusalSample(ctx context.Context, c *http.Client, base string, store *db.Store, id int64, secret string) (time.Duration, bool, error) {
	before, err := store.KeyRefusalTotals(ctx, db.AnyOwner(), id, 2)
	if err != nil {
		return 0, false, err
	}
	time.Sleep(rand.N(freshJitter))
	t0 := time.Now()
	valid, code, err := verifyKey(c, base, secret)
	if err != nil {
		return 0, false, err
	}
	if valid || code != string(db.CodeRevoked) {
		return 0, false, fmt.Errorf("refusal probe %d: valid %v, code %q; want REVOKED", id, valid, code)
	}
	for time.Since(t0) < freshTimeout {
		time.Sleep(freshPoll)
		t, err := store.KeyRefusalTotals(ctx, db.AnyOwner(), id, 2)
		if err != nil {
			return 0, false, err
		}
		if t.LastAt == nil || t.LastAt.UnixMilli() < t0.UnixMilli() || t.ByCode[db.CodeRevoked] <= before.ByCode[db.CodeRevoked] {
			continue
		}
		return time.Since(*t.LastAt), true, nil
	}
	return 0, false, nil
}
