package handlers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/db"
)

// Sign-in outcomes, the label values of keyward_logins_total.
const (
	loginSuccess   = "success"
	loginFailure   = "failure"
	loginThrottled = "throttled"
)

// metrics are the business counters the handlers move. Every series is
// created at start-up, from the fixed lists of outcomes and verify codes,
// so the hot path increments a counter it already holds and /metrics shows
// every series from the first scrape (at zero).
type metrics struct {
	logins     map[string]prometheus.Counter
	verified   prometheus.Counter
	refused    map[db.VerifyCode]prometheus.Counter
	verifyTime prometheus.Histogram
	// auditFailures counts audit events that could not be written.
	auditFailures prometheus.Counter
}

// newMetrics registers the business series on reg. v (nil in handler
// tests without one) feeds keyward_usage_dropped_total.
func newMetrics(reg prometheus.Registerer, v *db.Verifier) *metrics {
	logins := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_logins_total", Help: "Sign-in attempts by outcome.",
	}, []string{"outcome"})
	verifies := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_verifications_total", Help: "Key verifications by outcome (valid or the failure code).",
	}, []string{"outcome"})
	m := &metrics{
		logins:   map[string]prometheus.Counter{},
		verified: verifies.WithLabelValues("valid"),
		refused:  map[db.VerifyCode]prometheus.Counter{},
		verifyTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "keyward_verification_duration_seconds", Help: "Time spent verifying a key (excluding HTTP).",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01},
		}),
	}
	m.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_audit_write_failures_total", Help: "Audit events that could not be written (each is also logged).",
	})
	for _, o := range []string{loginSuccess, loginFailure, loginThrottled} {
		m.logins[o] = logins.WithLabelValues(o)
	}
	for _, code := range db.VerifyCodes {
		m.refused[code] = verifies.WithLabelValues(string(code))
	}
	// Read at scrape time from the verifier's own counter: the drop happens
	// in db, under the recorder's lock, where no metric should be.
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keyward_usage_dropped_total",
		Help: "Successful verifications whose per-key usage (last used, daily count) was dropped: too many keys had usage waiting for the database.",
	}, func() float64 {
		if v == nil {
			return 0
		}
		return float64(v.UsageDropped())
	})
	reg.MustRegister(logins, verifies, m.verifyTime, m.auditFailures, dropped)
	return m
}

func (m *metrics) login(outcome string) { m.logins[outcome].Inc() }

// verification counts one answer of the verify API or forward auth.
func (m *metrics) verification(code db.VerifyCode, d time.Duration) {
	if code == "" {
		m.verified.Inc()
	} else {
		m.refused[code].Inc() // db's verify tests hold every code to db.VerifyCodes
	}
	m.verifyTime.Observe(d.Seconds())
}
