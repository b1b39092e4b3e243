package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"

	"github.com/keyward/keyward/db"
)

// The audit log through the management API: the admin audit page's
// filters (actor, action, target, dates) plus the management token a
// change was made with, paged newest first by event id
// (db.AuditFilter.BeforeID), and a JSON Lines export that streams the whole
// filtered log page by page, so a log of any size never sits in memory.

// APIAuditEvent is one event of the audit log.
type APIAuditEvent struct {
	ID          int64                `json:"id" example:"4711"`
	At          time.Time            `json:"at"`
	Actor       string               `json:"actor" doc:"Who acted: an email, \"cli\", \"system\" or a key (\"key #ID (name)\")." example:"ann@example.com"`
	ActorID     *int64               `json:"actor_id" nullable:"true" doc:"The acting person's user id; null for the CLI, the system or a key."`
	Action      string               `json:"action" example:"key.create"`
	ActionLabel string               `json:"action_label" example:"Key created"`
	TargetType  string               `json:"target_type" doc:"user, key, scope, team, invite, setting, or empty." example:"key"`
	TargetID    *int64               `json:"target_id" nullable:"true"`
	Target      string               `json:"target" doc:"The target's name at the time of the event." example:"deploy"`
	IP          string               `json:"ip" example:"192.0.2.10"`
	TokenID     *int64               `json:"token_id" nullable:"true" doc:"The management token the change was made with; null for the dashboard, the CLI and the system."`
	Detail      map[string]string    `json:"detail" doc:"What else the event records (a reason, a grace period, …); {} when nothing."`
	Changes     map[string]APIChange `json:"changes" doc:"For an edit: each changed field's value before and after; {} otherwise."`
}

// APIChange is one field's value before and after an edit.
type APIChange struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

func optionalID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func apiAuditEvent(e db.AuditEvent) APIAuditEvent {
	out := APIAuditEvent{ID: e.ID, At: e.At, Actor: e.Actor, ActorID: optionalID(e.ActorID), Action: e.Action,
		ActionLabel: db.ActionLabel(e.Action), TargetType: e.TargetType, TargetID: optionalID(e.TargetID),
		Target: e.Target, IP: e.IP, TokenID: optionalID(e.TokenID),
		Detail: map[string]string{}, Changes: map[string]APIChange{}}
	for k, v := range e.Detail {
		out.Detail[k] = v
	}
	for k, c := range e.Changes {
		out.Changes[k] = APIChange{Before: c.Before, After: c.After}
	}
	return out
}

// AuditFilterQuery is the filters both audit operations take.
type AuditFilterQuery struct {
	Actor      string    `query:"actor" maxLength:"254" doc:"The actor exactly as logged (an email, \"cli\", \"system\"), in any case."`
	Action     string    `query:"action" maxLength:"64" doc:"One action, such as key.create or user.disable."`
	TargetType string    `query:"target_type" maxLength:"32" doc:"user, key, scope, team, invite or setting."`
	TargetID   int64     `query:"target_id" minimum:"1" doc:"The target's id (with target_type)."`
	TokenID    int64     `query:"token_id" minimum:"1" doc:"Only changes made with this management token."`
	Since      time.Time `query:"since" doc:"Events at or after this time (RFC 3339)."`
	Until      time.Time `query:"until" doc:"Events before this time (RFC 3339)."`
}

// AuditListInput is GET /admin/audit.
type AuditListInput struct {
	AuditFilterQuery
	AdminPageQuery
}

// AuditListOutput is a page of events, newest first.
type AuditListOutput struct {
	Body struct {
		Items      []APIAuditEvent `json:"items"`
		NextCursor *string         `json:"next_cursor" nullable:"true" doc:"Pass as cursor for older events; null on the last page."`
	}
}

// AuditExportInput is GET /admin/audit.jsonl.
type AuditExportInput struct {
	AuditFilterQuery
}

// auditExportPage is how many events the export reads per query: the most
// db.ListAudit returns, so 100,000 events are 200 indexed queries.
const auditExportPage = 500

// auditExportStall is how long the export may take to send one page
// before the server gives up on the client: the server's write timeout
// would otherwise cut a long export that is still moving.
const auditExportStall = 30 * time.Second

func (h *Handler) registerAudit(api huma.API) {
	op := tokenOp("list-audit", http.MethodGet, "/api/v1/admin/audit", "Read the audit log", db.PermAdminRead, "Admin")
	op.Description = "Every security event, newest first, filtered like the dashboard's audit page. " +
		"Changes made through the management API carry the token's id (filter with token_id)."
	huma.Register(api, op, h.APIAuditList)

	op = tokenOp("export-audit", http.MethodGet, "/api/v1/admin/audit.jsonl", "Export the audit log as JSON Lines", db.PermAdminRead, "Admin")
	op.Description = "The whole filtered log, newest first, one APIAuditEvent object per line " +
		"(JSON Lines, application/x-ndjson), streamed: it starts at once and works for a log of any size."
	// OpenAPI 3.1 has no schema for a sequence of JSON texts (3.2 adds
	// itemSchema): the stream is described as the array of its lines.
	op.Responses = map[string]*huma.Response{"200": {
		Description: "JSON Lines: each element of this array is one line, newest event first.",
		Content: map[string]*huma.MediaType{"application/x-ndjson": {
			Schema: &huma.Schema{Type: huma.TypeArray,
				Items: huma.SchemaFromType(api.OpenAPI().Components.Schemas, reflect.TypeFor[APIAuditEvent]())},
		}},
	}}
	huma.Register(api, op, h.APIAuditExport)
}

// auditFilter turns the query into a db filter, refusing an action the
// log does not know (a typo would silently match nothing).
func auditFilter(q AuditFilterQuery) (db.AuditFilter, error) {
	f := db.AuditFilter{Actor: q.Actor, Action: q.Action, TargetType: q.TargetType, TargetID: q.TargetID, TokenID: q.TokenID}
	if q.Action != "" && !slices.Contains(db.Actions(), q.Action) && db.ActionLabel(q.Action) == q.Action {
		return f, huma.Error422UnprocessableEntity("Unknown action.", &huma.ErrorDetail{
			Location: "query.action", Message: fmt.Sprintf("%q is not an action of the audit log.", q.Action), Value: q.Action})
	}
	if !q.Since.IsZero() {
		f.Since = &q.Since
	}
	if !q.Until.IsZero() {
		f.Until = &q.Until
	}
	return f, nil
}

// APIAuditList is GET /api/v1/admin/audit.
func (h *Handler) APIAuditList(ctx context.Context, in *AuditListInput) (*AuditListOutput, error) {
	f, err := auditFilter(in.AuditFilterQuery)
	if err != nil {
		return nil, err
	}
	if pos, err := decodeCursor("audit", in.Cursor); err != nil {
		return nil, err
	} else if pos != "" {
		if f.BeforeID, err = strconv.ParseInt(pos, 10, 64); err != nil || f.BeforeID <= 0 {
			return nil, errBadCursor
		}
	}
	f.Limit = in.Limit + 1
	events, err := h.Store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &AuditListOutput{}
	if len(events) > in.Limit {
		events = events[:in.Limit]
		out.Body.NextCursor = encodeCursor("audit", strconv.FormatInt(events[len(events)-1].ID, 10))
	}
	out.Body.Items = make([]APIAuditEvent, len(events))
	for i, e := range events {
		out.Body.Items[i] = apiAuditEvent(e)
	}
	return out, nil
}

// APIAuditExport is GET /api/v1/admin/audit.jsonl. The first page is read
// before the answer starts, so a bad filter or an unreachable database is
// still a problem answer; a failure after that aborts the connection, so
// the client sees a broken transfer rather than a short log that looks
// whole.
func (h *Handler) APIAuditExport(ctx context.Context, in *AuditExportInput) (*huma.StreamResponse, error) {
	f, err := auditFilter(in.AuditFilterQuery)
	if err != nil {
		return nil, err
	}
	f.Limit = auditExportPage
	page, err := h.Store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "application/x-ndjson")
		hctx.SetHeader("Content-Disposition", `attachment; filename="keyward-audit.jsonl"`)
		hctx.SetHeader("Cache-Control", "no-store")
		hctx.SetStatus(http.StatusOK)
		w := hctx.BodyWriter()
		rc := http.NewResponseController(humaecho.Unwrap(hctx).Response())
		enc := json.NewEncoder(w)
		for {
			_ = rc.SetWriteDeadline(time.Now().Add(auditExportStall))
			for _, e := range page {
				if err := enc.Encode(apiAuditEvent(e)); err != nil {
					return // the client went away
				}
			}
			_ = rc.Flush()
			if len(page) < auditExportPage {
				return
			}
			f.BeforeID = page[len(page)-1].ID
			if page, err = h.Store.ListAudit(hctx.Context(), f); err != nil {
				h.Logger.LogAttrs(hctx.Context(), slog.LevelError, "audit export failed", slog.String("error", err.Error()))
				panic(http.ErrAbortHandler)
			}
		}
	}}, nil
}
