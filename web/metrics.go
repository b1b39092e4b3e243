package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward/handlers"
)

// metrics holds the server's HTTP collectors in its own registry (no
// global state: two servers in one test binary do not collide). The
// business counters (sign-ins, verifications) are the handlers' own, in the
// same registry.
//
// Routes are patterns from the route table (or "unmatched") and methods
// are normalized (metricMethod), so the set of series is small and bounded
// whatever clients send.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyward_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, metricMethod(method), strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// metricMethod is method when it is a standard one and "OTHER" otherwise:
// net/http accepts any token as a method, and a label taken verbatim from
// clients would let anyone grow /metrics without bound.
func metricMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// metricsHandler serves GET /metrics from reg. With a token it answers
// only requests that carry it as "Authorization: Bearer TOKEN" (how
// Prometheus sends its authorization.credentials): the page names every
// route with its traffic, counts sign-in failures and shows the Go
// version, which an operator may not want public. Without a token it is
// open, as documented (restrict it at the proxy then).
func metricsHandler(reg *prometheus.Registry, token string) echo.HandlerFunc {
	serve := echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if token == "" {
		return serve
	}
	// Comparing hashes takes the same time whatever the length of what
	// was sent, so timing tells nothing about the token.
	want := sha256.Sum256([]byte(token))
	return func(c echo.Context) error {
		scheme, sent, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(sent)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="keyward-metrics"`)
			return &handlers.HTTPError{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED",
				Message: "/metrics needs the metrics token: send Authorization: Bearer TOKEN."}
		}
		return serve(c)
	}
}
