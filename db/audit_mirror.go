package db

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// AuditMirror copies every committed audit event, as one JSON line (the
// shape of the JSON Lines export), to a file or stdout that a SIEM's agent
// tails. The database stays the record; the mirror is a feed.
//
// Events reach it only after their transaction commits (Tx.Commit), so a
// rolled-back change mirrors nothing. Committing never waits on the
// mirror's disk: events go into a bounded queue that one goroutine
// drains; when the queue is full (the disk is stuck) an event is dropped
// and counted (Dropped, keyward_audit_mirror_dropped_total) rather than
// holding up the request that made it. Close drains the queue.
type AuditMirror struct {
	w      *bufio.Writer
	closer io.Closer // the file; nil for stdout
	logger *slog.Logger

	mu      sync.Mutex // guards closed and sends on queue
	closed  bool
	queue   chan []byte
	dropped atomic.Int64
	done    chan struct{}
	werr    error // first write error, read after done
}

// AuditMirrorQueue is how many events may wait for the mirror's writer:
// a bulk revocation of thousands of keys fits; a disk stuck for longer than
// that many events drops the rest.
const AuditMirrorQueue = 16384

// OpenAuditMirror opens the mirror target names: "" is no mirror (nil),
// "stdout" is stdout, anything else a file path, created with mode 0600 if
// missing and appended to (never truncated: the SIEM agent keeps its
// offset). logger reports write errors (nil: slog's default).
func OpenAuditMirror(target string, stdout io.Writer, logger *slog.Logger) (*AuditMirror, error) {
	switch target {
	case "":
		return nil, nil
	case "stdout":
		return NewAuditMirror(stdout, nil, AuditMirrorQueue, logger), nil
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) // #nosec G304 -- the operator names the mirror file
	if err != nil {
		return nil, fmt.Errorf("db: open audit mirror: %w", err)
	}
	return NewAuditMirror(f, f, AuditMirrorQueue, logger), nil
}

// NewAuditMirror starts a mirror writing to w, with room for queue events;
// Close closes closer (may be nil) after the last write.
func NewAuditMirror(w io.Writer, closer io.Closer, queue int, logger *slog.Logger) *AuditMirror {
	if logger == nil {
		logger = slog.Default()
	}
	m := &AuditMirror{w: bufio.NewWriter(w), closer: closer, logger: logger,
		queue: make(chan []byte, queue), done: make(chan struct{})}
	go m.run()
	return m
}

// run writes queued lines, flushing whenever the queue runs dry so that a
// tailing agent sees each event within moments of its commit.
func (m *AuditMirror) run() {
	defer close(m.done)
	for line := range m.queue {
		m.write(line)
		if len(m.queue) == 0 {
			m.flush()
		}
	}
	m.flush()
}

func (m *AuditMirror) write(line []byte) {
	if _, err := m.w.Write(line); err != nil {
		m.fail(err)
	}
}

func (m *AuditMirror) flush() {
	if err := m.w.Flush(); err != nil {
		m.fail(err)
	}
}

// fail logs the first write error (a full disk would otherwise log once
// per event) and keeps going: the next write may succeed.
func (m *AuditMirror) fail(err error) {
	if m.werr == nil {
		m.werr = err
		m.logger.Error("audit mirror: write failed", "err", err)
	}
}

// add queues events without waiting; what does not fit is dropped and
// counted.
func (m *AuditMirror) add(events []AuditEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range events {
		line, err := MarshalAuditLine(e)
		if err != nil || m.closed {
			m.dropped.Add(1)
			continue
		}
		select {
		case m.queue <- line:
		default:
			m.dropped.Add(1)
		}
	}
}

// Dropped is how many events the mirror has not written because its queue
// was full (or it was closed).
func (m *AuditMirror) Dropped() int64 {
	if m == nil {
		return 0
	}
	return m.dropped.Load()
}

// Close writes what is queued, then closes the file. Events committed
// after Close are dropped. Safe to call more than once.
func (m *AuditMirror) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	already := m.closed
	m.closed = true
	if !already {
		close(m.queue)
	}
	m.mu.Unlock()
	<-m.done
	if already {
		return nil
	}
	var cerr error
	if m.closer != nil {
		cerr = m.closer.Close()
	}
	return errors.Join(m.werr, cerr)
}

// SetAuditMirror makes m receive every audit event this Store commits from
// now on (nil: none), and Close close it after the database. One mirror per
// Store; main opens it from --audit-mirror for every command, so the CLI's
// changes reach the SIEM as the server's do.
func (s *Store) SetAuditMirror(m *AuditMirror) {
	s.w.mirror.Store(m)
}

// AuditMirror is the mirror SetAuditMirror set, or nil.
func (s *Store) AuditMirror() *AuditMirror { return s.w.mirror.Load() }

// mirrored reports whether t's audit events go to a mirror after commit.
func (t *Tx) mirrored() bool { return t.c != nil && t.c.mirror.Load() != nil }

const insertAuditReturningSQL = insertAuditSQL + ` RETURNING id`

// mirrorAudit inserts e like insertAudit, reading back its id (the mirror's
// line carries it, as the export's does), and keeps it on t for Commit to
// hand to the mirror. Only a mirrored Store pays for the RETURNING.
func mirrorAudit(ctx context.Context, tx *Tx, at time.Time, e AuditEvent, args []any) error {
	if err := tx.queryRowCached(ctx, insertAuditReturningSQL, args...).Scan(&e.ID); err != nil {
		return fmt.Errorf("db: insert audit %s: %w", e.Action, err)
	}
	e.At = auditAt(at, e).UTC().Truncate(time.Millisecond)
	tx.audits = append(tx.audits, e)
	return enqueueForAudit(ctx, tx, at, e)
}
