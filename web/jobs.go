package web

import (
	"context"
	"log/slog"
	"time"
)

// jobInterval is how often the background jobs run. Auto-disable works in
// days, so hourly is prompt enough and costs one indexed query.
const jobInterval = time.Hour

// RunJobs runs the background jobs until ctx is done: the auto-disable of
// unused keys (when the policy turns it on) and the removal of expired
// session rows. It runs them once at start, then hourly.
func (s *Server) RunJobs(ctx context.Context) {
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
}
