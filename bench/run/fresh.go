package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/bench/internal/seedfile"
	"github.com/keyward/keyward/db"
)

const (
	freshWorkers = 25
	freshPoll    = 10 * time.Millisecond
	freshTimeout = 5 * time.Second
	// freshJitter is the most a sample waits before its verification. A
	// worker starts its next sample just after the flush that ended the
	// previous one; without a random pause every sample would land right
	// after a flush and measure the worst case, not the distribution.
	freshJitter = time.Second
)

// freshness verifies each probe key once, under load, and polls the
// database (a separate db.Store on the same file, like another process
// would read it) until both its last_used_at and its daily count show that
// use. The latency is from the use as the server recorded it (last_used_at,
// milliseconds) to the poll that saw it, so it includes neither the HTTP
// round trip nor more than one poll interval of slack.
func (h *harness) freshness(ctx context.Context, kw *server, store *db.Store) error {
	h.phase("freshness under load")
	return freshnessOn(ctx, kw.url, store, h.res.verifySeed.Probe, &h.res.Fresh)
}

// freshnessOn samples each of probes once: a use through base, polled in
// store.
func freshnessOn(ctx context.Context, base string, store *db.Store, probes []seedfile.Key, r *freshResult) error {
	r.Workers, r.Poll = freshWorkers, freshPoll
	var (
		mu    sync.Mutex
		lats  []time.Duration
		next  atomic.Int64
		wg    sync.WaitGroup
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for range freshWorkers {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second, Transport: newTransport()}
			defer c.CloseIdleConnections()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(probes) {
					return
				}
				lat, ok, err := freshSample(ctx, c, base, store, probes[i].ID, probes[i].Secret)
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				if ok {
					lats = append(lats, lat)
				} else {
					r.Timeouts++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	r.Lat = summarize(lats)
	progress("freshness: %d samples, p50 %s, p99 %s, max %s, %d not seen within %s",
		r.Lat.N, r.Lat.P50.Round(time.Millisecond), r.Lat.P99.Round(time.Millisecond), r.Lat.Max.Round(time.Millisecond),
		r.Timeouts, freshTimeout)
	return nil
}

// freshSample runs one sample; ok is false when the use was not visible
// within freshTimeout.
func freshSample(ctx context.Context, c *http.Client, base string, store *db.Store, id int64, secret string) (time.Duration, bool, error) {
	before, err := usageCount(ctx, store, id)
	if err != nil {
		return 0, false, err
	}
	time.Sleep(rand.N(freshJitter))
	t0 := time.Now()
	valid, code, err := verifyKey(c, base, secret)
	if err != nil {
		return 0, false, err
	}
	if !valid {
		return 0, false, fmt.Errorf("probe key %d refused (%s)", id, code)
	}
	for time.Since(t0) < freshTimeout {
		time.Sleep(freshPoll)
		k, err := store.GetKey(ctx, db.AnyOwner(), id)
		if err != nil {
			return 0, false, err
		}
		if k.LastUsedAt == nil || k.LastUsedAt.UnixMilli() < t0.UnixMilli() {
			continue
		}
		seen := time.Now()
		n, err := usageCount(ctx, store, id)
		if err != nil {
			return 0, false, err
		}
		if n > before {
			return seen.Sub(*k.LastUsedAt), true, nil
		}
	}
	return 0, false, nil
}

// usageCount is the key's count over today and yesterday (UTC), so a use
// just before midnight still counts.
func usageCount(ctx context.Context, store *db.Store, id int64) (int64, error) {
	days, err := store.KeyUsage(ctx, db.AnyOwner(), id, 2)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, d := range days {
		n += d.Count
	}
	return n, nil
}
