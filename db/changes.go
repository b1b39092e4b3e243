package db

import (
	"context"
	"log/slog"
	"time"
)

// watchChanges keeps the cache in step with changes made by other
// processes until ctx is done; changes made through this process drop the
// cache synchronously already (SetKeyChangeHook). The two engines tell of
// changes differently, and this is the one place that knows it:
//
//   - SQLite: triggers move the key_changes counter, which PollChanges reads
//     every ChangePoll (250 ms by default).
//   - PostgreSQL: triggers NOTIFY keyward_key_changes with the key or user
//     that changed, and every instance LISTENs on a connection of its own
//     (Store.listenChanges): a revocation through instance A reaches
//     instance B as soon as A's transaction commits. Each (re)connection of
//     the listener drops the cache, since what changed while it was not
//     listening was missed; while it is away, entries are trusted for at
//     most CacheTTL, the backstop.
func (v *Verifier) watchChanges(ctx context.Context) {
	if v.s.pg != nil {
		var trouble listenerTrouble
		v.s.listenChanges(ctx,
			func(string) { v.notified.Add(1); v.invalidate() },
			func() { v.invalidate(); trouble.connected(v.opt.Logger) },
			func(err error) { trouble.lost(v.opt.Logger, err) })
		return
	}
	poll := time.NewTicker(v.opt.ChangePoll)
	defer poll.Stop()
	// A failing poll is logged when it starts failing and when it works
	// again, not four times a second while the database is away.
	failing := false
	for {
		err := v.PollChanges(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			failing = true
			v.opt.Logger.Warn("key change poll failed (logged once until a poll works)", slog.Any("err", err))
		case err == nil && failing:
			failing = false
			v.opt.Logger.Info("key change poll works again")
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
}

// listenerTrouble follows the change listener's lost connections, so
// that the log says when it lost its connection and when it listens
// again, not every reconnection attempt (one a second while the database
// is away). Used by the listener's goroutine only.
type listenerTrouble struct {
	down     bool      // lost since it last listened
	since    time.Time // when it was lost
	attempts int       // failed connections since
}

// lost takes a failed connection or a lost one.
func (t *listenerTrouble) lost(log *slog.Logger, err error) {
	if !t.down {
		*t = listenerTrouble{down: true, since: time.Now()}
		log.Warn("key change listener lost its connection; reconnecting, and until then cached keys are trusted for at most the cache's lifetime (logged once until it listens again)",
			slog.Any("err", err))
		return
	}
	t.attempts++
}

// connected takes a connection that listens (the cache has just been
// dropped).
func (t *listenerTrouble) connected(log *slog.Logger) {
	if t.down {
		log.Info("key change listener listens again; cache dropped",
			slog.Int("failed_attempts", t.attempts), slog.Duration("away", time.Since(t.since).Round(time.Millisecond)))
	}
	*t = listenerTrouble{}
}

// Notifications is how many change notifications from other instances
// this Verifier has received (PostgreSQL), for tests and metrics.
func (v *Verifier) Notifications() int64 { return v.notified.Load() }
