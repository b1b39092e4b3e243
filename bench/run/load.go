package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/db"
)

// endpoint is one API path under test and its twin on the bare server.
type endpoint struct {
	Name, Script, KeywardPath, BarePath string
}

var endpoints = []endpoint{
	{"POST /api/v1/keys/verify", "verify.lua", "/api/v1/keys/verify", "/verify"},
	{"GET /api/v1/auth", "auth.lua", "/api/v1/auth", "/auth"},
}

// Every load key carries an IP allowlist whose last network holds the
// addresses wrk presents them from (10.1.x.y, see bench/wrk/common.lua and
// bench/seed): loadClientIP is one of those, outsideClientIP none.
const (
	loadClientIP    = "10.1.0.1"
	outsideClientIP = "203.0.113.1"
)

// verifyLoad runs the headline A/B throughput rounds, then, with wrk still
// loading the server, the freshness and revocation measurements.
func (h *harness) verifyLoad(ctx context.Context) error {
	copies, err := h.variantsDBCopies()
	if err != nil {
		return err
	}
	kw, err := h.startKeyward("keyward-verify", h.path("verify.db"))
	if err != nil {
		return err
	}
	defer kw.stop()
	if _, err := kw.waitHealthy(10 * time.Second); err != nil {
		return err
	}
	vs, err := h.startVariants(copies)
	defer func() {
		for _, s := range vs {
			_ = s.stop()
		}
	}()
	if err != nil {
		return err
	}
	bare, err := h.startBare()
	if err != nil {
		return err
	}
	defer bare.stop()
	if _, err := bare.waitHealthy(10 * time.Second); err != nil {
		return err
	}
	if err := h.precheck(kw); err != nil {
		return err
	}

	progress("warm-up: 3 s of each server")
	warm := []string{kw.url + endpoints[0].KeywardPath, bare.url + endpoints[0].BarePath}
	for _, s := range vs {
		warm = append(warm, s.url+endpoints[0].KeywardPath)
	}
	for _, url := range warm {
		if _, err := h.runWrk(ctx, endpoints[0].Script, url, 3*time.Second); err != nil {
			return err
		}
	}
	before, err := scrape(kw.url)
	if err != nil {
		return err
	}
	h.res.Throughput = make([]endpointResult, len(endpoints))
	for i, ep := range endpoints {
		h.res.Throughput[i].Endpoint = ep
	}
	for r := range h.opt.rounds {
		for i, ep := range endpoints {
			var rd round
			if err := h.pause(ctx); err != nil {
				return err
			}
			if rd.Keyward, err = h.runWrkOn(ctx, kw, ep.Script, ep.KeywardPath, h.opt.roundTime); err != nil {
				return err
			}
			for j, s := range vs {
				if err := h.pause(ctx); err != nil {
					return err
				}
				res, err := h.runWrkOn(ctx, s, ep.Script, ep.KeywardPath, h.opt.roundTime)
				if err != nil {
					return err
				}
				rd.Variants = append(rd.Variants, res)
				progress("round %d %s: variant %s %.0f req/s, %s CPU/req", r+1, ep.Name, h.variants[j].Name, res.RPS, res.CPUPerReq)
			}
			if err := h.pause(ctx); err != nil {
				return err
			}
			if rd.Bare, err = h.runWrkOn(ctx, bare, ep.Script, ep.BarePath, h.opt.roundTime); err != nil {
				return err
			}
			rd.Ratio = rd.Keyward.RPS / rd.Bare.RPS
			rd.Load1 = loadAvg()
			h.res.Throughput[i].Rounds = append(h.res.Throughput[i].Rounds, rd)
			progress("round %d %s: keyward %.0f req/s (p50 %s, p99 %s, %s CPU/req), bare %.0f req/s (p50 %s, p99 %s, %s CPU/req), ratio %.2f",
				r+1, ep.Name, rd.Keyward.RPS, rd.Keyward.P50, rd.Keyward.P99, rd.Keyward.CPUPerReq,
				rd.Bare.RPS, rd.Bare.P50, rd.Bare.P99, rd.Bare.CPUPerReq, rd.Ratio)
		}
	}
	after, err := scrape(kw.url)
	if err != nil {
		return err
	}
	for i := range h.res.Throughput {
		t := &h.res.Throughput[i]
		var ratios []float64
		for _, rd := range t.Rounds {
			ratios = append(ratios, rd.Ratio)
		}
		t.Median = median(ratios)
		t.Statuses = statusDelta(before, after, t.Endpoint.KeywardPath)
	}
	h.res.Outcomes = outcomeDelta(before, after)

	store, err := db.Open(ctx, h.path("verify.db"), db.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := h.usageAccounting(ctx, kw, store, after); err != nil {
		return err
	}

	bg, err := h.startWrk("verify.lua", kw.url+endpoints[0].KeywardPath, 10*time.Minute)
	if err != nil {
		return err
	}
	ferr := h.freshness(ctx, kw, store)
	var rerr error
	if ferr == nil {
		rerr = h.revocation(ctx, kw)
	}
	bgRes, werr := bg.stop()
	h.res.Background = bgRes
	for _, err := range []error{ferr, rerr, werr} {
		if err != nil {
			return err
		}
	}
	return nil
}

// pause lets the previous run's connections close and its usage flush.
func (h *harness) pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
		return nil
	}
}

// precheck verifies every load key once (each must be valid; this also
// fills the cache) and every refused key (each must be refused), so the
// load really is the mix it claims to be.
func (h *harness) precheck(kw *server) error {
	c := &http.Client{Timeout: 10 * time.Second, Transport: newTransport()}
	defer c.CloseIdleConnections()
	s := h.res.verifySeed
	for _, k := range s.Load {
		valid, code, err := verifyKeyFrom(c, kw.url, k.Secret, loadClientIP)
		if err != nil {
			return err
		}
		if !valid {
			return fmt.Errorf("load key %d refused (%s)", k.ID, code)
		}
	}
	// The load keys' allowlists are live: from outside them, refused.
	if _, code, err := verifyKeyFrom(c, kw.url, s.Load[0].Secret, outsideClientIP); err != nil || code != string(db.CodeIPNotAllowed) {
		return fmt.Errorf("load key %d from %s: got %q, %v; want %s", s.Load[0].ID, outsideClientIP, code, err, db.CodeIPNotAllowed)
	}
	codes := map[string]int{}
	for _, k := range s.Invalid {
		valid, code, err := verifyKey(c, kw.url, k)
		if err != nil {
			return err
		}
		if valid {
			return fmt.Errorf("a refused key verified: %.8s…", k)
		}
		codes[code]++
	}
	h.res.InvalidMix = codes
	req, _ := http.NewRequest(http.MethodGet, kw.url+"/api/v1/auth", nil)
	req.Header.Set("Authorization", "Bearer "+s.Load[0].Secret)
	req.Header.Set("X-Forwarded-For", loadClientIP) // through the trusted proxy, as wrk sends
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Keyward-Key-Id") != strconv.FormatInt(s.Load[0].ID, 10) {
		return fmt.Errorf("forward auth of a load key: status %d, key id %q", resp.StatusCode, resp.Header.Get("X-Keyward-Key-Id"))
	}
	progress("precheck: %d load keys valid; refused mix %v", len(s.Load), codes)
	return nil
}

// usageAccounting checks that usage tracking was on and exact: after a
// flush, the daily counts of the load keys add up to every valid
// verification the server reported (only load keys were valid so far).
func (h *harness) usageAccounting(ctx context.Context, kw *server, store *db.Store, after metricSet) error {
	time.Sleep(2500 * time.Millisecond) // two flush intervals
	var sum int64
	for _, k := range h.res.verifySeed.Load {
		days, err := store.KeyUsage(ctx, db.AnyOwner(), k.ID, 2)
		if err != nil {
			return err
		}
		for _, d := range days {
			sum += d.Count
		}
	}
	valid := int64(after[`keyward_verifications_total{outcome="valid"}`])
	h.res.UsageCounted, h.res.UsageValid = sum, valid
	progress("usage accounting: %d uses recorded for %d valid verifications", sum, valid)
	return nil
}

// metricSet is a Prometheus text exposition: series (name{labels}) -> value.
type metricSet map[string]float64

func scrape(base string) (metricSet, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := metricSet{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// statusDelta counts responses per status on route between two scrapes.
func statusDelta(before, after metricSet, route string) map[string]int64 {
	out := map[string]int64{}
	for series, v := range after {
		if !strings.HasPrefix(series, "keyward_http_requests_total{") || !strings.Contains(series, `route="`+route+`"`) {
			continue
		}
		_, st, ok := strings.Cut(series, `status="`)
		if !ok {
			continue
		}
		st, _, _ = strings.Cut(st, `"`)
		if n := int64(v - before[series]); n > 0 {
			out[st] += n
		}
	}
	return out
}

// outcomeDelta counts verifications per outcome between two scrapes.
func outcomeDelta(before, after metricSet) map[string]int64 {
	out := map[string]int64{}
	for series, v := range after {
		rest, ok := strings.CutPrefix(series, `keyward_verifications_total{outcome="`)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, `"`)
		if n := int64(v - before[series]); n > 0 {
			out[name] = n
		}
	}
	return out
}
