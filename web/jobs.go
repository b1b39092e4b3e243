package web

import (
	"context"
	"log/slog"
	"time"
)

const (
	// jobInterval is how often the background jobs run. Auto-disable works
	// in days, so hourly is prompt enough and costs one indexed query.
	jobInterval = time.Hour
	// jobLeaseTTL is how long a tick's lease lasts: a little under the
	// interval, so its holder renews it at its next tick, and if the holder
	// is gone, the first instance to tick after it runs out takes over.
	jobLeaseTTL = jobInterval - 5*time.Minute
	// jobLeaseName names the one lease the hourly jobs share.
	jobLeaseName = "hourly jobs"
	// outboxKeep is how long delivered events and their delivery logs
	// are kept.
	outboxKeep = 30 * 24 * time.Hour
)

// RunJobs runs the background jobs until ctx is done: the auto-disable of
// unused keys (when the policy turns it on), the expiry reminders and the
// weekly digest, the removal of expired session rows, of forgotten sign-in
// failures and of Idempotency-Key records past their 24 hours. Every instance ticks at
// start, then hourly, but only the one holding the jobs' lease in the
// database runs them (runJobsOnce), so N instances still act once per
// tick: one audit event and one log line per disabled batch, not N. The
// others log (hourly, at info) that they skipped the tick, so an operator
// and the multi-instance test can tell a held lease from a job that never ran.
//
// It also runs the anomaly rules every few minutes under a lease of their
// own (runActivity), and the notification worker (web/notify), which
// delivers the outbox on every instance: deliveries are claimed row by
// row, so instances share the work without a lease of their own.
func (s *Server) RunJobs(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.notify.Run(ctx)
	}()
	defer func() { <-done }()
	activityDone := make(chan struct{})
	go func() {
		defer close(activityDone)
		s.runActivity(ctx)
	}()
	defer func() { <-activityDone }()
	t := time.NewTicker(jobInterval)
	defer t.Stop()
	for {
		s.runJobsOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) runJobsOnce(ctx context.Context) {
	log := s.cfg.Logger
	ours, err := s.store.TryLease(ctx, jobLeaseName, s.holder, jobLeaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("background jobs: lease failed", slog.String("error", err.Error()))
		}
		return
	}
	if !ours {
		log.Info("background jobs: skipped, another instance holds the lease")
		return
	}
	if n, err := s.store.AutoDisableStale(ctx); err != nil {
		if ctx.Err() == nil {
			log.Error("auto-disable job failed", slog.String("error", err.Error()))
		}
	} else if n > 0 {
		log.Info("auto-disabled unused keys", slog.Int("keys", n))
	}
	if _, err := s.store.DeleteExpiredSessions(ctx); err != nil && ctx.Err() == nil {
		log.Error("session cleanup failed", slog.String("error", err.Error()))
	}
	if _, err := s.store.DeleteForgottenLoginFailures(ctx); err != nil && ctx.Err() == nil {
		log.Error("sign-in failure cleanup failed", slog.String("error", err.Error()))
	}
	// Idempotency-Keys are honoured for 24 hours; older records only
	// take room.
	if _, err := s.store.PruneIdempotency(ctx); err != nil && ctx.Err() == nil {
		log.Error("idempotency cleanup failed", slog.String("error", err.Error()))
	}
	// Expiry reminders and the weekly digest go out once each (markers
	// in notices_sent): a late tick sends what is still due, never twice.
	if n, err := s.store.EnqueueExpiryReminders(ctx); err != nil {
		if ctx.Err() == nil {
			log.Error("expiry reminders failed", slog.String("error", err.Error()))
		}
	} else if n > 0 {
		log.Info("expiry reminders enqueued", slog.Int("notices", n))
	}
	if sent, err := s.store.EnqueueWeeklyDigest(ctx); err != nil {
		if ctx.Err() == nil {
			log.Error("weekly digest failed", slog.String("error", err.Error()))
		}
	} else if sent {
		log.Info("weekly digest decided")
	}
	// Hourly counts are kept 30 days, per-address ones 7 (the anomaly
	// rules' windows).
	if _, err := s.store.PruneActivity(ctx); err != nil && ctx.Err() == nil {
		log.Error("activity cleanup failed", slog.String("error", err.Error()))
	}
	// Delivered events are kept 30 days for the delivery logs.
	if _, err := s.store.PruneOutbox(ctx, outboxKeep); err != nil && ctx.Err() == nil {
		log.Error("outbox cleanup failed", slog.String("error", err.Error()))
	}
}
