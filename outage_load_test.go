package main

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The load of the outage test: what it sends, in which phase of the
// outage, and what each answer must be. Every answer is checked against
// the phases it may have crossed (the phase when it was sent up to the
// phase when it came back), tallied by class, phase and status, and every
// success of a key is counted, so usage can be compared with what was
// served.

// outagePhase is where the outage stands.
type outagePhase int32

const (
	phaseBefore    outagePhase = iota // the cluster runs
	phaseStopping                     // pg_ctlcluster stop issued
	phaseDown                         // stopped, and both /healthz say 503
	phaseStarting                     // pg_ctlcluster start issued
	phaseRecovered                    // both /healthz say 200 again
)

var phaseNames = [...]string{"before", "stopping", "down", "starting", "recovered"}

func (p outagePhase) String() string { return phaseNames[p] }

// requestClass is what a request asks and of which kind of key.
type requestClass string

const (
	verifyCached   requestClass = "verify, cached key"
	authCached     requestClass = "forward auth, cached key"
	verifyRevoked  requestClass = "verify, key revoked before the stop"
	authRevoked    requestClass = "forward auth, key revoked before the stop"
	verifyUncached requestClass = "verify, uncached key"
	authUncached   requestClass = "forward auth, uncached key"
	page           requestClass = "dashboard page"
	healthz        requestClass = "/healthz"
)

// tallyKey counts answers.
type tallyKey struct {
	class  requestClass
	phase  outagePhase
	status int
}

// outageLoad sends the load and keeps the books.
type outageLoad struct {
	servers []string // A, B
	api     *outageClient
	browser *outageClient // signed in
	phase   atomic.Int32
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup

	mu        sync.Mutex
	tally     map[tallyKey]int
	bad       []string
	badCount  int
	successes map[string]int64 // key -> 200-valid verifications and 200 forward auths
	healthAt  [2][phaseRecovered + 1]time.Time
	// cachedAt is when the cached keys were last read from the database;
	// pastBackstop counts their 503s after the cache's 1-minute backstop.
	cachedAt     time.Time
	pastBackstop int
}

// cacheBackstop is VerifierOptions.CacheTTL's default, which keyward serve
// uses: a cached answer is trusted for at most this long after its read.
const cacheBackstop = time.Minute

// beyondBackstop reports whether a is the documented 503 for a key of
// class whose cached answer has outlived the backstop, which is what the
// cache promises once the outage lasts longer than that.
func (l *outageLoad) beyondBackstop(class requestClass, a httpAnswer) bool {
	switch class {
	case verifyCached, authCached, verifyRevoked, authRevoked:
	default:
		return false
	}
	if !a.unavailableJSON() || time.Since(l.cachedAt) <= cacheBackstop {
		return false
	}
	l.mu.Lock()
	l.pastBackstop++
	l.mu.Unlock()
	return true
}

func newOutageLoad(servers []string, browser *outageClient) *outageLoad {
	return &outageLoad{servers: servers, api: newOutageClient(), browser: browser,
		stop: make(chan struct{}), tally: map[tallyKey]int{}, successes: map[string]int64{}}
}

func (l *outageLoad) current() outagePhase { return outagePhase(l.phase.Load()) }

func (l *outageLoad) setPhase(p outagePhase) { l.phase.Store(int32(p)) }

// verify asks server i about key and books the answer.
func (l *outageLoad) verify(i int, key string, class requestClass) httpAnswer {
	p0 := l.current()
	a := l.api.verify(l.servers[i], key)
	l.book(class, p0, a, func(p outagePhase) bool { return verifyOK(class, p, a) || l.beyondBackstop(class, a) })
	if a.status == http.StatusOK && a.verdict().Valid {
		l.success(key)
	}
	return a
}

// forwardAuth asks server i about key through /api/v1/auth and books it.
func (l *outageLoad) forwardAuth(i int, key string, class requestClass) httpAnswer {
	p0 := l.current()
	a := l.api.forwardAuth(l.servers[i], key)
	l.book(class, p0, a, func(p outagePhase) bool { return authOK(class, p, a) || l.beyondBackstop(class, a) })
	if a.status == http.StatusOK {
		l.success(key)
	}
	return a
}

// probe asks server i about key outside the load's books (for a wait on a
// change), counting a valid answer as the success it is.
func (l *outageLoad) probe(i int, key string) httpAnswer {
	a := l.api.verify(l.servers[i], key)
	if a.status == http.StatusOK && a.verdict().Valid {
		l.success(key)
	}
	return a
}

func (l *outageLoad) success(key string) {
	l.mu.Lock()
	l.successes[key]++
	l.mu.Unlock()
}

// verifyOK is what a verify answer of class may be in phase p.
func verifyOK(class requestClass, p outagePhase, a httpAnswer) bool {
	v := a.verdict()
	valid := a.status == http.StatusOK && v.Valid
	switch class {
	case verifyCached:
		// Answered from the cache throughout: it was read seconds before
		// the stop (beyondBackstop covers an outage longer than the cache
		// lives).
		return valid
	case verifyRevoked:
		return a.status == http.StatusOK && !v.Valid && v.Code == "REVOKED"
	case verifyUncached:
		switch p {
		case phaseDown:
			return a.unavailableJSON()
		case phaseStarting:
			return a.unavailableJSON() || valid
		default:
			return valid
		}
	}
	return false
}

// authOK is what a forward-auth answer of class may be in phase p: as
// verifyOK, in forward auth's terms, and a 503 challenges nobody.
func authOK(class requestClass, p outagePhase, a httpAnswer) bool {
	valid := a.status == http.StatusOK && a.header.Get("X-Keyward-Key-Id") != ""
	unavailable := a.unavailableJSON() && a.header.Get("WWW-Authenticate") == ""
	switch class {
	case authCached:
		return valid
	case authRevoked:
		return a.status == http.StatusUnauthorized && a.verdict().Code == "REVOKED"
	case authUncached:
		switch p {
		case phaseDown:
			return unavailable
		case phaseStarting:
			return unavailable || valid
		default:
			return valid
		}
	}
	return false
}

// pageOK: a signed-in page is itself while the database answers and the
// "Database unavailable" page while it does not.
func pageOK(p outagePhase, a httpAnswer) bool {
	switch p {
	case phaseBefore, phaseRecovered:
		return a.status == http.StatusOK
	case phaseDown:
		return a.unavailablePage()
	default:
		return a.status == http.StatusOK || a.unavailablePage()
	}
}

// healthOK: /healthz is 200 while the database answers, 503 UNAVAILABLE
// while it does not.
func healthOK(p outagePhase, a httpAnswer) bool {
	switch p {
	case phaseBefore, phaseRecovered:
		return a.status == http.StatusOK
	case phaseDown:
		return a.unavailableJSON()
	default:
		return a.status == http.StatusOK || a.unavailableJSON()
	}
}

// book tallies a, sent in phase p0, and records it as wrong unless ok
// holds for one of the phases it may have crossed. Whatever the class, a
// 5xx is only ever the documented 503.
func (l *outageLoad) book(class requestClass, p0 outagePhase, a httpAnswer, ok func(outagePhase) bool) {
	p1 := l.current()
	good := false
	for p := p0; p <= p1 && !good; p++ {
		good = ok(p)
	}
	if a.status >= 500 && !a.unavailableJSON() && !a.unavailablePage() {
		good = false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tally[tallyKey{class, p0, a.status}]++
	if !good {
		l.badCount++
		if len(l.bad) < 20 {
			detail := a.body
			if a.err != nil {
				detail = a.err.Error()
			}
			if len(detail) > 200 {
				detail = detail[:200]
			}
			l.bad = append(l.bad, fmt.Sprintf("%s, sent %s, answered %s: status %d: %s", class, p0, p1, a.status, detail))
		}
	}
}

// count returns how many answers of class were sent in phase p.
func (l *outageLoad) count(class requestClass, p outagePhase) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, v := range l.tally {
		if k.class == class && k.phase == p {
			n += v
		}
	}
	return n
}

// status503 returns how many 503s were answered, in total.
func (l *outageLoad) status503() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, v := range l.tally {
		if k.status == http.StatusServiceUnavailable {
			n += v
		}
	}
	return n
}

// report lists the tallies, one line per class, phase and status.
func (l *outageLoad) report() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	for k, v := range l.tally {
		lines = append(lines, fmt.Sprintf("%-42s %-9s %d: %d", k.class, k.phase, k.status, v))
	}
	slices.Sort(lines)
	return lines
}

// start runs the workers until finish. Uncached keys are asked only once
// the outage is established, so that they cannot be in any cache then.
func (l *outageLoad) start(cached, uncached []string, revoked string) {
	run := func(work func(n int)) {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				work(n)
			}
		}()
	}
	for w := range 3 {
		run(func(n int) { l.verify((n+w)%2, cached[(n+w)%len(cached)], verifyCached) })
	}
	run(func(n int) { l.forwardAuth(n%2, cached[n%len(cached)], authCached) })
	run(func(n int) {
		if n%2 == 0 {
			l.verify(n/2%2, revoked, verifyRevoked)
		} else {
			l.forwardAuth(n/2%2, revoked, authRevoked)
		}
	})
	run(func(n int) {
		if l.current() < phaseDown {
			time.Sleep(10 * time.Millisecond) // waiting for the outage, not for a result
			return
		}
		k := uncached[n/2%len(uncached)]
		if n%2 == 0 {
			l.verify(n/4%2, k, verifyUncached)
		} else {
			l.forwardAuth(n/4%2, k, authUncached)
		}
	})
	pages := []string{"/keys", "/admin/keys", "/account"}
	run(func(n int) {
		p0 := l.current()
		a := l.browser.get(l.servers[n%2], pages[n%len(pages)])
		l.book(page, p0, a, func(p outagePhase) bool { return pageOK(p, a) })
	})
	run(func(n int) {
		i := n % 2
		p0 := l.current()
		a := l.api.get(l.servers[i], "/healthz")
		l.book(healthz, p0, a, func(p outagePhase) bool { return healthOK(p, a) })
		l.noteHealth(i, p0, a.status)
		time.Sleep(10 * time.Millisecond) // a load balancer's probe, not a flood
	})
}

// noteHealth records when server i first answered /healthz with the
// status that ends phase p: 503 once the stop is issued, 200 once the
// start is.
func (l *outageLoad) noteHealth(i int, p outagePhase, status int) {
	want := map[outagePhase]int{phaseStopping: http.StatusServiceUnavailable, phaseStarting: http.StatusOK}[p]
	if want == 0 || status != want {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.healthAt[i][p].IsZero() {
		l.healthAt[i][p] = time.Now()
	}
}

// healthSince returns when server i first answered as phase p wants, or
// the zero time.
func (l *outageLoad) healthSince(i int, p outagePhase) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.healthAt[i][p]
}

// finish stops the workers; calling it again does nothing.
func (l *outageLoad) finish() {
	l.stopped.Do(func() { close(l.stop) })
	l.wg.Wait()
}
