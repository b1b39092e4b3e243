package db

import (
	"context"
	"encoding/json"
	"time"
)

// ActionAuditExport: someone downloaded the audit log (CSV or JSON Lines).
// Like GitHub's audit log, reading the whole record out is itself recorded:
// an export is how a copy of every sign-in and address leaves the server.
const ActionAuditExport = "audit.export"

// AuditRecord is one audit event as it leaves Keyward: a line of the JSON
// Lines export and of the SIEM mirror. Its field names are a contract with
// log pipelines, so they are only ever added, never renamed.
type AuditRecord struct {
	ID         int64          `json:"id"`
	At         string         `json:"at"` // RFC 3339, UTC, milliseconds
	Actor      string         `json:"actor"`
	ActorID    int64          `json:"actor_id"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   int64          `json:"target_id"`
	Target     string         `json:"target"`
	IP         string         `json:"ip"`
	TokenID    int64          `json:"token_id"`
	Detail     map[string]any `json:"detail"`
}

// Record gives e in its exported shape. Detail holds both the text details
// and the edited fields' before/after objects, as the row stores them.
func (e AuditEvent) Record() AuditRecord {
	detail := make(map[string]any, len(e.Detail)+len(e.Changes))
	for k, v := range e.Detail {
		detail[k] = v
	}
	for k, c := range e.Changes {
		detail[k] = c
	}
	return AuditRecord{
		ID: e.ID, At: e.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Actor: e.Actor, ActorID: e.ActorID, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, Target: e.Target,
		IP: e.IP, TokenID: e.TokenID, Detail: detail,
	}
}

// MarshalAuditLine gives e as one line of JSON with its newline.
func MarshalAuditLine(e AuditEvent) ([]byte, error) {
	b, err := json.Marshal(e.Record())
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// auditExportPage is how many events EachAudit reads per query: enough that
// the queries cost little next to writing the rows out, few enough that an
// export of millions of events holds one page in memory at a time.
const auditExportPage = maxAuditLimit

// EachAudit calls fn with every event matching f, newest first, reading
// them in pages by id (the keyset ListAudit pages with): the export of a
// log of any length runs in constant memory, and events recorded while it
// runs do not shift the pages. f.Limit is ignored; a BeforeID starts the
// walk below it. fn's error stops the walk and is returned.
func (s *Store) EachAudit(ctx context.Context, f AuditFilter, fn func(AuditEvent) error) error {
	f.Limit = auditExportPage
	for {
		page, err := s.ListAudit(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < auditExportPage {
			return nil
		}
		f.BeforeID = page[len(page)-1].ID
	}
}

// auditAt is the time an event is recorded with: its own At, or at.
func auditAt(at time.Time, e AuditEvent) time.Time {
	if !e.At.IsZero() {
		return e.At
	}
	return at
}
