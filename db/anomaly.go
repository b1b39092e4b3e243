package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The anomaly job compares each key's hour with its own past and raises
// alerts: a spike in uses, a use after dormancy, a dead key still being
// presented, a key used from many addresses at once. It reads the hourly
// buckets the usage flush writes (key_usage_hourly, key_hour_ips) and
// never the request path: a verification costs nothing more for it.
//
// It runs every few minutes and keeps its place in a settings row: every
// hour before the position was evaluated for the last time and is never
// read again; the current hour, still filling, is evaluated on every run.
// Re-evaluating an hour raises again only when its finding grew (more
// uses, attempts or addresses than the alert's evidence already holds), so
// an alert's occurrences and last_seen_at count what happened, not how
// often the job looked.

const (
	// settingActivityPosition is the settings row holding the first hour
	// (hours since the Unix epoch) not yet evaluated for the last time.
	settingActivityPosition = "activity_evaluated_hour"
	// activityLookBack bounds the hours a run goes back: on the first run,
	// or after the job was stopped for a long time. Older hours are past
	// being news.
	activityLookBack = 24
	// activitySettle is how long after an hour ends it is evaluated for the
	// last time: the usage flush writes within a second, so by then every
	// use of the hour is in its bucket.
	activitySettle = time.Minute
	// activityChunk is the most keys one transaction (or one IN list)
	// covers: the SQLite writer is never held for long, and no statement
	// carries more parameters than either engine takes.
	activityChunk = 500
)

// ActivityReport says what one run of the anomaly job did.
type ActivityReport struct {
	// Hours evaluated, the current one included; Final of them for the
	// last time.
	Hours, Final int
	// Opened alerts, and open ones Updated with a finding that grew.
	Opened, Updated int
}

// hourNumber is t's hour since the Unix epoch, the key of the hourly buckets.
func hourNumber(t time.Time) int64 { return t.UnixMilli() / msPerHour }

// hourTime is the start of hour h.
func hourTime(h int64) time.Time { return fromMillis(h * msPerHour) }

// EvaluateActivity runs the anomaly rules (Store.ActivityRules) over the
// hours not yet evaluated for the last time, at most activityLookBack of
// them, up to and including the current hour. An hour is final once
// activitySettle has passed since its end; the position moves past it
// then, so a restart or another instance carries on where this one
// stopped. Two stores running it at once raise each alert once: each
// finding is decided against the alert's evidence inside the writer's
// transaction (see raiseFindings).
func (s *Store) EvaluateActivity(ctx context.Context) (ActivityReport, error) {
	var rep ActivityReport
	now := s.Now()
	rules, err := readActivityRules(ctx, s.r)
	if err != nil {
		return rep, err
	}
	pos, ok, err := s.activityPosition(ctx)
	if err != nil {
		return rep, err
	}
	cur := hourNumber(now)
	start := cur - activityLookBack
	if ok && pos > start {
		start = pos
	}
	for h := start; h <= cur; h++ {
		if err := s.evaluateHour(ctx, h, now, rules, &rep); err != nil {
			return rep, err
		}
		rep.Hours++
		if now.Before(hourTime(h + 1).Add(activitySettle)) {
			continue // still filling (and so is every later hour): evaluated again on the next run
		}
		if err := s.setActivityPosition(ctx, h+1, now); err != nil {
			return rep, err
		}
		rep.Final++
	}
	return rep, nil
}

const activityPositionSQL = `SELECT value FROM settings WHERE name = ?`

// activityPosition reads the first hour not yet evaluated for the last
// time; ok is false before the first run (or if the row was hand-edited
// into something that is not a number).
func (s *Store) activityPosition(ctx context.Context) (pos int64, ok bool, err error) {
	var v string
	err = s.r.QueryRowContext(ctx, activityPositionSQL, settingActivityPosition).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("db: read the anomaly job's position: %w", err)
	}
	pos, err = strconv.ParseInt(v, 10, 64)
	return pos, err == nil, nil
}

// setActivityPositionSQL only ever moves the position forward: an
// instance that finished an older hour late does not send another back.
const setActivityPositionSQL = `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
	WHERE CAST(settings.value AS BIGINT) < CAST(excluded.value AS BIGINT)`

func (s *Store) setActivityPosition(ctx context.Context, pos int64, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, setActivityPositionSQL, settingActivityPosition,
		strconv.FormatInt(pos, 10), toMillis(now)); err != nil {
		return fmt.Errorf("db: move the anomaly job's position to hour %d: %w", pos, err)
	}
	return nil
}
