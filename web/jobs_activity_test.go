package web

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// debugLogTo logs at debug level to w: a routine run of the anomaly rules
// logs at debug.
func debugLogTo(w io.Writer) appOption {
	return func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// TestActivityJobOncePerTickAcrossInstances: two processes on one database
// run the anomaly rules at the same instant and only one evaluates; the
// other takes over once the holder's lease has run out.
func TestActivityJobOncePerTickAcrossInstances(t *testing.T) {
	const ran, skipped = "anomaly rules evaluated", "anomaly rules: skipped"
	var logA, logB lockedBuffer
	a := newTestApp(t, debugLogTo(&logA))
	b := a.otherProcess(debugLogTo(&logB))
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, app := range []*testApp{a, b} {
		wg.Go(func() { app.server.runActivityOnce(ctx) })
	}
	wg.Wait()
	if got := logA.count(ran) + logB.count(ran); got != 1 {
		t.Fatalf("%q lines after both ran: got %d, want 1", ran, got)
	}
	if got := logA.count(skipped) + logB.count(skipped); got != 1 {
		t.Fatalf("%q lines after both ran: got %d, want 1", skipped, got)
	}
	other, otherLog := b, &logB
	if logB.count(ran) == 1 {
		other, otherLog = a, &logA
	}
	steps := []struct {
		name    string
		advance time.Duration
		wantRan int
	}{
		{"within the lease", time.Minute, 0},
		{"once it ran out", a.server.activityLeaseTTL(), 1},
	}
	for _, st := range steps {
		a.clock.Advance(st.advance)
		other.server.runActivityOnce(ctx)
		if got := otherLog.count(ran); got != st.wantRan {
			t.Errorf("%s: the other's %q lines: got %d, want %d", st.name, ran, got, st.wantRan)
		}
	}
}

// TestRunJobsRunsActivityOnItsInterval: RunJobs runs the anomaly rules at
// start and then on their own interval, not the hourly jobs'.
func TestRunJobsRunsActivityOnItsInterval(t *testing.T) {
	var logs lockedBuffer
	a := newTestApp(t, debugLogTo(&logs), func(c *Config) { c.ActivityInterval = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.server.RunJobs(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for logs.count("anomaly rules evaluated") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("anomaly rules runs after 10 s: got %d, want at least 3", logs.count("anomaly rules evaluated"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
