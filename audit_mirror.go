package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/keyward/keyward/db"
)

// attachAuditMirror opens the mirror cfg names (--audit-mirror) and sets
// it on store, which closes it, draining what is queued, when the store
// closes: serve and every command that opens the database mirror their
// audit events alike. A command's "stdout" mirror writes to stdout's
// neighbour, stderr: a command's stdout carries what scripts read (a
// new key, a generated password, JSON), and must carry nothing else.
func (a *app) attachAuditMirror(store *db.Store, cfg config, serving bool, logger *slog.Logger) error {
	var out io.Writer = a.stdout
	if !serving {
		out = a.stderr
	}
	m, err := db.OpenAuditMirror(cfg.AuditMirror, out, logger)
	if err != nil {
		return fmt.Errorf("--audit-mirror (KEYWARD_AUDIT_MIRROR): %w", err)
	}
	if m != nil {
		store.SetAuditMirror(m)
	}
	return nil
}
