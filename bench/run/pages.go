package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keyward/keyward/bench/internal/seedfile"
)

// Requests per page: enough for a steady p95 (its 5 slowest of 100), after
// a warm-up that fills SQLite's page cache and grows the Go heap. The CSV
// export takes most of a second a time, so it gets fewer.
const (
	pageWarmup   = 10
	pageRequests = 100
	csvWarmup    = 2
	csvRequests  = 20
)

// pageSpec is one page timed on the large installation.
type pageSpec struct {
	Path   string
	Who    string // "heavy" (a member with 10,000 keys) or "admin"
	What   string
	Target time.Duration
	CSV    bool
	// API: the management API's key list, walked page by page with a
	// management token (pages_api.go) instead of a signed-in browser.
	API bool
}

var pageSpecs = []pageSpec{
	{"/keys", "heavy", "/keys, one user with 10,000 keys", 10 * time.Millisecond, false, false},
	{"/admin/keys", "admin", "/admin/keys, 100,000 keys across 1,000 users", 50 * time.Millisecond, false, false},
	{"/admin/keys?stale=1", "admin", "/admin/keys?stale=1 (stale review)", 50 * time.Millisecond, false, false},
	{"/admin/keys.csv", "admin", "/admin/keys.csv, all 100,000 keys", 2 * time.Second, true, false},
	{apiListPath, "heavy", "API list page of 100 (10,000 keys)", 50 * time.Millisecond, false, true},
}

// pages times each page with sequential requests from one signed-in client
// on loopback (first byte sent to last byte read), with the machine
// otherwise idle: no load generator runs in this phase.
func (h *harness) pages(ctx context.Context) error {
	res, err := h.pagesOn(ctx, "keyward-pages", h.path("pages.db"), h.res.pagesSeed)
	h.res.Pages = res
	return err
}

// pagesOn times every page of pageSpecs on a Keyward serving target, which
// s describes.
func (h *harness) pagesOn(ctx context.Context, name, target string, s *seedfile.Seed) ([]pageResult, error) {
	settle(ctx)
	var out []pageResult
	kw, err := h.startKeyward(name, target)
	if err != nil {
		return nil, err
	}
	defer kw.stop()
	if _, err := kw.waitHealthy(10 * time.Second); err != nil {
		return nil, err
	}
	clients := map[string]*browser{
		"heavy": newBrowser(kw.url, time.Minute),
		"admin": newBrowser(kw.url, time.Minute),
	}
	if err := clients["heavy"].login(s.Heavy.Email, s.Heavy.Password); err != nil {
		return nil, err
	}
	if err := clients["admin"].login(s.Admin.Email, s.Admin.Password); err != nil {
		return nil, err
	}
	api, err := newAPIClient(ctx, kw.url, target, s.Heavy.Email)
	if err != nil {
		return nil, err
	}
	for _, p := range pageSpecs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		res := pageResult{Spec: p}
		b := clients[p.Who]
		var lats []time.Duration
		warmup, n := pageWarmup, pageRequests
		if p.CSV {
			warmup, n = csvWarmup, csvRequests
		}
		for i := range warmup + n {
			t := time.Now()
			var (
				status      int
				size, lines int64
			)
			if p.API {
				status, size, err = api.get()
			} else {
				status, size, lines, err = b.get(p.Path)
			}
			d := time.Since(t)
			if err != nil {
				return out, fmt.Errorf("GET %s: %w", p.Path, err)
			}
			if status != http.StatusOK {
				res.Missing = fmt.Sprintf("status %d", status)
				break
			}
			res.Bytes = size
			if p.CSV {
				res.Rows = lines - 1 // the header
			}
			if i >= warmup {
				lats = append(lats, d)
			}
		}
		res.Lat = summarize(lats)
		out = append(out, res)
		if res.Missing != "" {
			progress("%s: %s (page missing?)", p.Path, res.Missing)
			continue
		}
		progress("%s: median %s, p95 %s (%d bytes%s)", p.Path, res.Lat.P50.Round(10*time.Microsecond),
			res.Lat.P95.Round(10*time.Microsecond), res.Bytes, rowsNote(res))
	}
	return out, nil
}

func rowsNote(r pageResult) string {
	if !r.Spec.CSV {
		return ""
	}
	return fmt.Sprintf(", %d rows", r.Rows)
}

// settle waits (up to 15 s) until the machine is quiet, less than 15% of
// the CPU busy over a second, so that a timing phase does not start while
// the previous one's processes are still winding down.
func settle(ctx context.Context) {
	deadline := time.Now().Add(15 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		busy, err := cpuBusy(time.Second)
		if err != nil || busy < 0.15 {
			return
		}
	}
}
