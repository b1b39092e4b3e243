package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// startRuns is how many times each database is opened for the start-up
// time and idle memory.
const startRuns = 5

// footprint measures the binary, start-up to a healthy /healthz on an
// existing database and the resident memory once idle, then runs the
// sign-in test on the last fresh process (so its peak memory is the
// sign-ins' and not an earlier load's).
func (h *harness) footprint(ctx context.Context) error {
	r := &h.res.Footprint
	for _, b := range []struct {
		name string
		dst  *int64
	}{{"keyward", &r.BinStripped}, {"keyward-full", &r.BinFull}} {
		st, err := os.Stat(h.path(b.name))
		if os.IsNotExist(err) && b.name == "keyward-full" {
			continue // -binary: only the given binary exists
		}
		if err != nil {
			return err
		}
		*b.dst = st.Size()
	}
	r.Startup = map[string][]time.Duration{}
	r.IdleRSS = map[string][]int64{}
	for _, dbName := range []string{"verify", "pages"} {
		for i := range startRuns {
			if err := ctx.Err(); err != nil {
				return err
			}
			s, err := h.startKeyward("start-"+dbName, h.path(dbName+".db"))
			if err != nil {
				return err
			}
			d, err := s.waitHealthy(10 * time.Second)
			if err != nil {
				_ = s.stop()
				return err
			}
			time.Sleep(time.Second)
			rss, err := procStatus(s.cmd.Process.Pid, "VmRSS")
			if err != nil {
				_ = s.stop()
				return err
			}
			r.Startup[dbName] = append(r.Startup[dbName], d)
			r.IdleRSS[dbName] = append(r.IdleRSS[dbName], rss)
			progress("start on %s.db: healthy after %s, idle RSS %s", dbName, d.Round(100*time.Microsecond), mib(rss))
			if dbName == "verify" && i == startRuns-1 {
				if err := h.signIn(ctx, s); err != nil {
					_ = s.stop()
					return fmt.Errorf("sign-in: %w", err)
				}
			}
			if err := s.stop(); err != nil {
				return err
			}
		}
	}
	return nil
}

// signIn starts 200 sign-ins with correct passwords at the same instant,
// one client (and connection) each, against a server using the production
// argon2id parameters (m=19 MiB, t=2, p=1).
func (h *harness) signIn(ctx context.Context, s *server) error {
	h.phase("sign-in under pressure")
	r := &h.res.SignIn
	users := h.res.verifySeed.SignIn
	pid := s.cmd.Process.Pid
	var err error
	if r.HWMBefore, err = procStatus(pid, "VmHWM"); err != nil {
		return err
	}
	browsers := make([]*browser, len(users))
	for i := range browsers {
		browsers[i] = newBrowser(s.url, 2*time.Minute)
		if _, err := browsers[i].csrf(); err != nil {
			return err
		}
	}
	type outcome struct {
		lat    time.Duration
		status int
		err    error
	}
	outs := make([]outcome, len(users))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, u := range users {
		wg.Go(func() {
			<-gate
			t := time.Now()
			status, err := browsers[i].post("/login", url.Values{"email": {u.Email}, "password": {u.Password}})
			outs[i] = outcome{time.Since(t), status, err}
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	r.Wall = time.Since(start)
	if r.HWMAfter, err = procStatus(pid, "VmHWM"); err != nil {
		return err
	}
	var lats []time.Duration
	for _, o := range outs {
		r.N++
		switch {
		case o.err != nil:
			r.Errors++
			r.ErrorSample = o.err.Error()
		case o.status == http.StatusSeeOther:
			r.OK++
		case o.status == http.StatusTooManyRequests:
			r.Throttled++
		default:
			r.Errors++
			r.ErrorSample = fmt.Sprintf("status %d", o.status)
		}
		if o.err == nil {
			lats = append(lats, o.lat)
		}
	}
	r.Lat = summarize(lats)
	progress("sign-in: %d ok, %d throttled (429), %d errors; p50 %s p99 %s; peak RSS %s",
		r.OK, r.Throttled, r.Errors, r.Lat.P50.Round(time.Millisecond), r.Lat.P99.Round(time.Millisecond), mib(r.HWMAfter))
	for _, b := range browsers {
		b.c.CloseIdleConnections()
	}
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
