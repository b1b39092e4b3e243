package db

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Keyset pagination for the management API. An offset makes the database
// read and drop every key before the page (page 100 of 10,000 keys reads
// 10,000 rows), and a key created while a client pages shifts every later
// page by one, so the client sees a key twice. A cursor instead names the
// last key of the page (its sort value and id) and the next page starts
// strictly after it in the list's order, which the indexes of every order
// answer with a seek. New keys have larger ids, so under the default order
// they land before the cursor and never disturb a walk in progress.

// KeyCursor is the position after which a page starts: the sort order it
// belongs to, the sorted value of the last key shown (milliseconds; nil
// when that key has no such date) and its id.
type KeyCursor struct {
	Sort  KeySort
	Value *int64
	ID    int64
}

// ErrInvalidCursor answers a cursor that this server did not make (or one
// made for another sort order).
var ErrInvalidCursor = Errorf(ErrInvalid, "The cursor is not valid: pass next_cursor from the previous page unchanged, with the same sort.")

// maxCursorLength bounds what ParseKeyCursor decodes: a real cursor is
// under 60 characters.
const maxCursorLength = 100

// CursorAfter is the cursor following k in order sort.
func CursorAfter(k Key, sort KeySort) KeyCursor {
	c := KeyCursor{Sort: normalSort(sort), ID: k.ID}
	var at *int64
	switch c.Sort {
	case KeySortLastUsed:
		if k.LastUsedAt != nil {
			v := toMillis(*k.LastUsedAt)
			at = &v
		}
	case KeySortExpires:
		if k.ExpiresAt != nil {
			v := toMillis(*k.ExpiresAt)
			at = &v
		}
	}
	c.Value = at
	return c
}

// normalSort names the default order, so "" and "created" are one order.
func normalSort(s KeySort) KeySort {
	if s == "" {
		return KeySortCreated
	}
	return s
}

// String encodes c as an opaque token: base64url of "sort:value:id" (value
// "-" for none). Clients must not build one; the format may change.
func (c KeyCursor) String() string {
	v := "-"
	if c.Value != nil {
		v = strconv.FormatInt(*c.Value, 10)
	}
	raw := string(normalSort(c.Sort)) + ":" + v + ":" + strconv.FormatInt(c.ID, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseKeyCursor decodes a cursor made by String for order sort, or
// returns ErrInvalidCursor.
func ParseKeyCursor(s string, sort KeySort) (KeyCursor, error) {
	if len(s) > maxCursorLength {
		return KeyCursor{}, ErrInvalidCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return KeyCursor{}, ErrInvalidCursor
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || KeySort(parts[0]) != normalSort(sort) {
		return KeyCursor{}, ErrInvalidCursor
	}
	c := KeyCursor{Sort: normalSort(sort)}
	if c.ID, err = strconv.ParseInt(parts[2], 10, 64); err != nil || c.ID <= 0 {
		return KeyCursor{}, ErrInvalidCursor
	}
	switch {
	case parts[1] == "-":
	case c.Sort == KeySortCreated:
		return KeyCursor{}, ErrInvalidCursor
	default:
		v, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return KeyCursor{}, ErrInvalidCursor
		}
		c.Value = &v
	}
	return c, nil
}

// afterCond is the condition "strictly after c" in c's order (keyOrderSQL)
// with its arguments. Keys without the sorted date come last, newest
// first, in every order.
func (c KeyCursor) afterCond() (string, []any) {
	var col, cmp string
	switch c.Sort {
	case KeySortLastUsed:
		col, cmp = "k.last_used_at", "<"
	case KeySortExpires:
		col, cmp = "k.expires_at", ">"
	default:
		return `k.id < ?`, []any{c.ID}
	}
	if c.Value == nil {
		return `(` + col + ` IS NULL AND k.id < ?)`, []any{c.ID}
	}
	return `(` + col + ` IS NULL OR ` + col + ` ` + cmp + ` ? OR (` + col + ` = ? AND k.id < ?))`,
		[]any{*c.Value, *c.Value, c.ID}
}
