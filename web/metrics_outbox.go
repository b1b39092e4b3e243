package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify"
)

// outboxScrapeTimeout bounds the outbox count a scrape makes, so a slow
// database cannot hold /metrics for long.
const outboxScrapeTimeout = 2 * time.Second

// outboxCollector exports the notification outbox to /metrics, read at
// scrape time: the backlog from the database (shared by every instance,
// so each reports the same figure) and this process's attempts by channel
// from the worker's counters.
type outboxCollector struct {
	store     *db.Store
	notify    *notify.Service
	log       *slog.Logger
	failedLog rate.Sometimes
	pending   *prometheus.Desc
	delivered *prometheus.Desc
	failed    *prometheus.Desc
}

func newOutboxCollector(store *db.Store, n *notify.Service, log *slog.Logger) *outboxCollector {
	return &outboxCollector{store: store, notify: n, log: log,
		failedLog: rate.Sometimes{Interval: time.Minute},
		pending: prometheus.NewDesc("keyward_outbox_pending",
			"Notifications waiting to be sent: pending deliveries (retries included) and events not yet fanned out.", nil, nil),
		delivered: prometheus.NewDesc("keyward_notifications_delivered_total",
			"Notification delivery attempts that succeeded, by channel (email, webhook).", []string{"channel"}, nil),
		failed: prometheus.NewDesc("keyward_notifications_failed_total",
			"Notification delivery attempts that failed (each retry counts), by channel (email, webhook).", []string{"channel"}, nil),
	}
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.delivered
	ch <- c.failed
}

// Collect leaves the backlog out of a scrape when the database does not
// answer (an absent series, rather than a wrong zero), and logs why at
// most once a minute.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), outboxScrapeTimeout)
	defer cancel()
	if n, err := c.store.OutboxPending(ctx); err != nil {
		c.failedLog.Do(func() {
			c.log.Warn("metrics: outbox backlog not read", slog.String("error", err.Error()))
		})
	} else {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
	}
	st := c.notify.Stats()
	for _, channel := range []string{db.ChannelEmail, db.ChannelWebhook} {
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(st.Delivered[channel]), channel)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(st.Failed[channel]), channel)
	}
}
