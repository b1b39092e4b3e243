package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"github.com/pb33f/libopenapi-validator/content"

	"github.com/keyward/keyward/db"
)

// adminToken is a management token of u with perms, and the token's id
// (which the audit log records on the changes made with it).
func (a *testApp) adminToken(u db.User, perms ...db.Permission) (string, int64) {
	a.t.Helper()
	secret := a.token(u, perms...)
	list, err := a.store.ListAPITokens(context.Background(), u.ID)
	if err != nil || len(list) == 0 {
		a.t.Fatalf("tokens of %s: %v (%d)", u.Email, err, len(list))
	}
	return secret, list[0].ID // newest first
}

// lastAudit is the newest event with action, failing the test if none.
func (a *testApp) lastAudit(action string) db.AuditEvent {
	a.t.Helper()
	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: action, Limit: 1})
	if err != nil {
		a.t.Fatalf("audit %s: %v", action, err)
	}
	if len(events) == 0 {
		a.t.Fatalf("no %s event in the audit log", action)
	}
	return events[0]
}

// wantTokenEvent checks that the newest action event was made with token
// id by user u.
func (a *testApp) wantTokenEvent(t *testing.T, action string, u db.User, tokenID int64) {
	t.Helper()
	e := a.lastAudit(action)
	if e.TokenID != tokenID || e.ActorID != u.ID {
		t.Errorf("%s event: got token %d by user %d, want token %d by %s (%d)", action, e.TokenID, e.ActorID, tokenID, u.Email, u.ID)
	}
}

// listPage is the shape of every admin list.
type listPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// walk GETs path (with its query) page by page with limit, following
// next_cursor, and returns every item in order. It fails the test when a
// page is larger than limit or the walk does not end.
func walk[T any](t *testing.T, c *mgmtClient, path string, q url.Values, limit int) []T {
	t.Helper()
	var all []T
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: still paging after %d pages", path, pages)
		}
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("limit", itoa(int64(limit)))
		if cursor != "" {
			qq.Set("cursor", cursor)
		}
		r := c.get(path + "?" + qq.Encode())
		if r.StatusCode != 200 {
			t.Fatalf("GET %s?%s: got %d, want 200: %s", path, qq.Encode(), r.StatusCode, r.body)
		}
		var p listPage[T]
		r.decode(t, &p)
		if len(p.Items) > limit {
			t.Fatalf("GET %s: page of %d items, want at most %d", path, len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all
		}
		cursor = *p.NextCursor
	}
}

// jsonLinesDecoder reads a JSON Lines body (application/x-ndjson) as the
// array of its lines, which is how the document describes such a stream,
// so the validator holds every line to the item schema.
func jsonLinesDecoder() content.Decoder {
	return content.DecoderFunc(func(in *content.DecodeInput) (any, error) {
		lines := []any{}
		if in == nil || in.Body == nil {
			return lines, nil
		}
		sc := bufio.NewScanner(in.Body)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			lines = append(lines, v)
		}
		return lines, sc.Err()
	})
}
