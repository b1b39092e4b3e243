package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// observation is one verification of the key being revoked.
type observation struct {
	sent, recv time.Time
	valid      bool
}

// prober verifies one key in a loop from a few goroutines, recording when
// each request was sent and what it answered.
type prober struct {
	mu   sync.Mutex
	obs  []observation
	errs int
	stop chan struct{}
	wg   sync.WaitGroup
}

func startProber(base, key string, workers int) *prober {
	p := &prober{stop: make(chan struct{})}
	for range workers {
		p.wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second, Transport: newTransport()}
			defer c.CloseIdleConnections()
			for {
				select {
				case <-p.stop:
					return
				default:
				}
				sent := time.Now()
				valid, _, err := verifyKey(c, base, key)
				recv := time.Now()
				p.mu.Lock()
				if err != nil {
					p.errs++
				} else {
					p.obs = append(p.obs, observation{sent, recv, valid})
				}
				p.mu.Unlock()
			}
		})
	}
	return p
}

// waitFor polls until cond holds over the observations so far.
func (p *prober) waitFor(timeout time.Duration, cond func([]observation) bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		ok := cond(p.obs)
		p.mu.Unlock()
		if ok {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func (p *prober) finish() ([]observation, int) {
	close(p.stop)
	p.wg.Wait()
	return p.obs, p.errs
}

func validCount(obs []observation) int {
	n := 0
	for _, o := range obs {
		if o.valid {
			n++
		}
	}
	return n
}

// refusedAfter reports whether a request sent after t was refused.
func refusedAfter(t time.Time) func([]observation) bool {
	return func(obs []observation) bool {
		for _, o := range obs {
			if !o.valid && o.sent.After(t) {
				return true
			}
		}
		return false
	}
}

// startCachedProber starts two probes on a key and waits until it has
// verified a few times, so the server holds it in its cache when it is
// revoked.
func startCachedProber(base string, id int64, secret string) (*prober, error) {
	p := startProber(base, secret, 2)
	if !p.waitFor(10*time.Second, func(o []observation) bool { return validCount(o) >= 5 }) {
		p.finish()
		return nil, fmt.Errorf("key %d never verified before its revocation", id)
	}
	return p, nil
}

// revocation revokes keys under load, through the dashboard (signed in as
// the seeded admin, POST /keys/{id}/revoke with the CSRF token) and through
// `keyward keys revoke ID` (another process: the server learns of it at its
// next poll of the change counter).
func (h *harness) revocation(ctx context.Context, kw *server) error {
	h.phase("revocation under load")
	s := h.res.verifySeed
	r := &h.res.Revoke
	admin := newBrowser(kw.url, 30*time.Second)
	if err := admin.login(s.Admin.Email, s.Admin.Password); err != nil {
		return err
	}
	for _, k := range s.WebRevoke {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := startCachedProber(kw.url, k.ID, k.Secret)
		if err != nil {
			return err
		}
		status, err := admin.post("/keys/"+strconv.FormatInt(k.ID, 10)+"/revoke", url.Values{"reason": {"bench"}})
		done := time.Now()
		if err != nil || status != http.StatusSeeOther {
			p.finish()
			return fmt.Errorf("revoke key %d: status %d, %v", k.ID, status, err)
		}
		p.waitFor(5*time.Second, refusedAfter(done.Add(300*time.Millisecond)))
		obs, errs := p.finish()
		r.WebTrials++
		r.ProbeErrors += errs
		for _, o := range obs {
			switch {
			case o.valid && o.sent.After(done):
				r.WebAfter++
			case o.valid && o.recv.After(done):
				r.WebInFlight++
			case !o.valid && o.sent.After(done):
				r.WebRefused++
			}
		}
	}
	progress("web revocation: %d keys, %d successes sent after the revoke response (%d refused), %d answered in flight",
		r.WebTrials, r.WebAfter, r.WebRefused, r.WebInFlight)

	for _, k := range s.CLIRevoke {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := startCachedProber(kw.url, k.ID, k.Secret)
		if err != nil {
			return err
		}
		start := time.Now()
		cmd := exec.CommandContext(ctx, h.path("keyward"), "keys", "revoke", strconv.FormatInt(k.ID, 10), "--db", h.path("verify.db"))
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		done := time.Now()
		if err != nil {
			p.finish()
			return fmt.Errorf("keyward keys revoke %d: %w: %s", k.ID, err, out)
		}
		r.CLICommand = append(r.CLICommand, done.Sub(start))
		if !p.waitFor(10*time.Second, refusedAfter(done)) {
			p.finish()
			return errors.New("a key revoked from the CLI still verified 10 s later")
		}
		time.Sleep(200 * time.Millisecond)
		obs, errs := p.finish()
		r.ProbeErrors += errs
		var delay time.Duration
		for _, o := range obs {
			if o.valid && o.sent.After(done) {
				r.CLIAfter++
				delay = max(delay, o.recv.Sub(done))
			}
		}
		r.CLIDelays = append(r.CLIDelays, delay)
		progress("cli revocation of key %d: command %s, last success %s after it returned",
			k.ID, done.Sub(start).Round(time.Millisecond), delay.Round(time.Millisecond))
	}
	return nil
}
