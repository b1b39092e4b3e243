package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// auditCSVColumns are the CSV export's header: the JSON Lines fields, in
// the same order, so the two formats read alike.
var auditCSVColumns = []string{"id", "at", "actor", "actor_id", "action", "target_type", "target_id", "target", "ip", "token_id", "detail"}

// AdminAuditCSV is GET /admin/audit.csv: the audit log with the page's
// filters, every matching event (not one page), as CSV with formula-like
// cells defused (CSVWriter).
func (h *Handler) AdminAuditCSV(c echo.Context) error {
	return h.auditExport(c, "csv", "text/csv; charset=utf-8", func(w io.Writer) (func(db.AuditEvent) error, func() error, error) {
		// A byte-order mark, as the keys export: spreadsheets then read
		// the file as UTF-8.
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return nil, nil, err
		}
		cw := NewCSVWriter(w)
		if err := cw.Write(auditCSVColumns); err != nil {
			return nil, nil, err
		}
		row := func(e db.AuditEvent) error {
			r := e.Record()
			detail, err := json.Marshal(r.Detail)
			if err != nil {
				return err
			}
			return cw.Write([]string{
				strconv.FormatInt(r.ID, 10), r.At, r.Actor, csvID(r.ActorID), r.Action,
				r.TargetType, csvID(r.TargetID), r.Target, r.IP, csvID(r.TokenID), string(detail),
			})
		}
		return row, cw.Flush, nil
	})
}

// AdminAuditJSONL is GET /admin/audit.jsonl: the same events as JSON Lines,
// one db.AuditRecord per line, the shape the SIEM mirror writes.
func (h *Handler) AdminAuditJSONL(c echo.Context) error {
	return h.auditExport(c, "jsonl", "application/jsonl; charset=utf-8", func(w io.Writer) (func(db.AuditEvent) error, func() error, error) {
		row := func(e db.AuditEvent) error {
			line, err := db.MarshalAuditLine(e)
			if err != nil {
				return err
			}
			_, err = w.Write(line)
			return err
		}
		return row, func() error { return nil }, nil
	})
}

// auditExportFlushEvery is how many rows go out between flushes to the
// client: a long export starts arriving at once and never piles up in the
// server's buffers.
const auditExportFlushEvery = 500

// auditExport checks the filters (bad ones: the page with its field
// errors, 422, and no download), records the export in the log, then
// streams every matching event as it is read, page by page
// (Store.EachAudit), so the export of any log runs in constant memory.
// start writes the head of the file and returns the row writer and the
// final flush.
func (h *Handler) auditExport(c echo.Context, ext, contentType string,
	start func(io.Writer) (func(db.AuditEvent) error, func() error, error)) error {
	m, f, err := h.auditQuery(c)
	if err != nil {
		return err
	}
	if len(m.Errors) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.AdminAuditView(m))
	}
	a := actor(c)
	detail := map[string]string{"format": ext}
	if m.Query != "" {
		detail["filter"] = m.Query
	}
	// An export that cannot be recorded is not made: the log must show
	// who took a copy of it.
	if err := h.Store.Audit(ctx(c), db.AuditEvent{ActorID: a.UserID, Actor: a.Label, IP: a.IP,
		Action: db.ActionAuditExport, Detail: detail}); err != nil {
		return err
	}
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, contentType)
	resp.Header().Set(echo.HeaderContentDisposition,
		`attachment; filename="keyward-audit-`+h.now().UTC().Format("2006-01-02")+"."+ext+`"`)
	resp.WriteHeader(http.StatusOK)
	row, flush, err := start(resp)
	if err != nil {
		return h.abortStream(c, err)
	}
	n := 0
	err = h.Store.EachAudit(ctx(c), f, func(e db.AuditEvent) error {
		if err := row(e); err != nil {
			return err
		}
		if n++; n%auditExportFlushEvery == 0 {
			if err := flush(); err != nil {
				return err
			}
			resp.Flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return h.abortStream(c, err)
	}
	return nil
}

// abortStream ends a download whose status line has gone out: the error
// can no longer become an error page, so it is logged and the connection
// cut (http.ErrAbortHandler), which a client sees as a failed download
// rather than a complete file missing its end.
func (h *Handler) abortStream(c echo.Context, err error) error {
	h.Logger.ErrorContext(ctx(c), "audit export stopped", "path", c.Path(), "error", err.Error())
	panic(http.ErrAbortHandler)
}

// csvID is an id cell: empty for none (0).
func csvID(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}
