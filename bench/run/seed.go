package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/seedfile"
)

// seed creates both databases afresh (a previous run's revocations and
// usage must not leak into this one) and writes the key lists wrk reads.
func (h *harness) seed(ctx context.Context) error {
	h.phase("seed")
	for _, p := range []string{"verify", "pages"} {
		for _, suffix := range []string{".db", ".db-wal", ".db-shm", ".json"} {
			if err := os.Remove(h.path(p + suffix)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		start := time.Now()
		cmd := exec.CommandContext(ctx, h.path("seed"), "-profile", p, "-db", h.path(p+".db"), "-out", h.path(p+".json"))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("seed %s: %w", p, err)
		}
		h.res.SeedTimes = append(h.res.SeedTimes, fmt.Sprintf("%s %s", p, time.Since(start).Round(100*time.Millisecond)))
		if err := h.settle(ctx, p); err != nil {
			return err
		}
	}
	var err error
	if h.res.verifySeed, err = seedfile.Read(h.path("verify.json")); err != nil {
		return err
	}
	if h.res.pagesSeed, err = seedfile.Read(h.path("pages.json")); err != nil {
		return err
	}
	s := h.res.verifySeed
	load := make([]string, len(s.Load))
	for i, k := range s.Load {
		load[i] = k.Secret
	}
	h.wrkKeys = [2]string{h.path("load.txt"), h.path("invalid.txt")}
	if err := os.WriteFile(h.path("load.txt"), []byte(strings.Join(load, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(h.path("invalid.txt"), []byte(strings.Join(s.Invalid, "\n")+"\n"), 0o600)
}

// settle runs a server on the freshly seeded database p until its outbox is
// empty. Seeding writes events (key.created, the new addresses of the
// seeded uses, the start-up auto-disable and reminders: 14,000 on the
// verify database, 75,000 on the pages one), which a server fans out in
// its first minutes. An installation that has been running is past that;
// measured during the drain, the first start's idle RSS read 50 MiB
// instead of 36 and the first verify round lost a tenth of its ratio.
func (h *harness) settle(ctx context.Context, p string) error {
	start := time.Now()
	s, err := h.startKeyward("settle-"+p, h.path(p+".db"))
	if err != nil {
		return err
	}
	if _, err := s.waitHealthy(10 * time.Second); err != nil {
		_ = s.stop()
		return err
	}
	if _, err := waitOutboxEmpty(ctx, s.url); err != nil {
		_ = s.stop()
		return fmt.Errorf("settle %s: %w", p, err)
	}
	progress("settled %s.db: outbox drained in %s", p, time.Since(start).Round(100*time.Millisecond))
	return s.stop()
}
