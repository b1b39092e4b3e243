package web

import (
	"context"
	"log/slog"
	"time"
)

const (
	// defaultActivityInterval is how often the anomaly rules run: often
	// enough that a revoked key still being presented is flagged within
	// minutes, and each run reads one hour's buckets (the current one)
	// plus any hour that has ended since.
	defaultActivityInterval = 5 * time.Minute
	// activityLeaseName names the anomaly rules' lease: their own, not the
	// hourly jobs', so neither waits for the other's holder.
	activityLeaseName = "activity rules"
)

// activityLeaseTTL is a little under the interval, as for the hourly
// jobs: the holder renews it at its next tick, and if the holder is gone
// another instance takes over one tick later.
func (s *Server) activityLeaseTTL() time.Duration {
	return s.cfg.ActivityInterval - s.cfg.ActivityInterval/10
}

// runActivity runs the anomaly rules at start, then every
// Config.ActivityInterval, until ctx is done.
func (s *Server) runActivity(ctx context.Context) {
	t := time.NewTicker(s.cfg.ActivityInterval)
	defer t.Stop()
	for {
		s.runActivityOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runActivityOnce evaluates the anomaly rules if this instance holds their
// lease (db.Store.EvaluateActivity). A routine run logs at debug; one that
// opened alerts, at info.
func (s *Server) runActivityOnce(ctx context.Context) {
	log := s.cfg.Logger
	ours, err := s.store.TryLease(ctx, activityLeaseName, s.holder, s.activityLeaseTTL())
	if err != nil {
		if ctx.Err() == nil {
			log.Error("anomaly rules: lease failed", slog.String("error", err.Error()))
		}
		return
	}
	if !ours {
		log.Debug("anomaly rules: skipped, another instance holds the lease")
		return
	}
	start := time.Now()
	rep, err := s.store.EvaluateActivity(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("anomaly rules failed", slog.String("error", err.Error()))
		}
		return
	}
	level := slog.LevelDebug
	if rep.Opened > 0 {
		level = slog.LevelInfo
	}
	log.Log(ctx, level, "anomaly rules evaluated", slog.Int("hours", rep.Hours), slog.Int("opened", rep.Opened),
		slog.Int("updated", rep.Updated), slog.Duration("took", time.Since(start)))
}
