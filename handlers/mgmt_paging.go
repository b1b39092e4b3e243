package handlers

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
)

// The admin lists (users, audit, scopes, teams) page with an opaque
// cursor: the position after the last row of the previous page, encoded
// so that scripts pass it back as is and never build one. A keyset
// position (an email, an event id, a name) stays right while rows are
// added, where an offset would skip or repeat them.

// AdminPageQuery is the limit and cursor every admin list takes.
type AdminPageQuery struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"25" doc:"How many items per page."`
	Cursor string `query:"cursor" doc:"The next_cursor of the previous page; empty for the first page."`
}

// errBadCursor answers a cursor this server did not hand out for this list.
var errBadCursor = &HTTPError{Status: http.StatusBadRequest, Code: "INVALID_CURSOR",
	Message: "The cursor is not one this list handed out: pass next_cursor back unchanged, or leave it out for the first page."}

// encodeCursor makes the cursor of the position pos in list kind.
func encodeCursor(kind, pos string) *string {
	s := base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + pos))
	return &s
}

// decodeCursor reads a cursor of list kind: "" (the first page) for an
// empty one, errBadCursor for one of another list or none at all.
func decodeCursor(kind, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", errBadCursor
	}
	pos, ok := strings.CutPrefix(string(raw), kind+":")
	if !ok || pos == "" {
		return "", errBadCursor
	}
	return pos, nil
}

// pageAfter is the page of items (key unique) after the cursor position,
// for the small lists read whole from db (the catalog, teams), with the
// cursor of the next page or nil on the last. Items are sorted here by
// byte order, the order the cursor compares in: PostgreSQL's collation may
// sort names otherwise.
func pageAfter[T any](items []T, key func(T) string, kind, cursor string, limit int) ([]T, *string, error) {
	after, err := decodeCursor(kind, cursor)
	if err != nil {
		return nil, nil, err
	}
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	out := make([]T, 0, min(limit, len(items)))
	for _, it := range items {
		if after != "" && key(it) <= after {
			continue
		}
		if len(out) == limit {
			return out, encodeCursor(kind, key(out[len(out)-1])), nil
		}
		out = append(out, it)
	}
	return out, nil, nil
}
