package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/db"
)

// How the key commands print keys. Local commands and their --server
// forms print through these functions only, which is what keeps their
// output the same bytes.

// keyView is a key as the CLI prints it, read from the database
// (keyViewOf) or from a server's management API (remoteKey.view). Both
// print through the same functions below, so that a command run locally
// and the same command run with --server write the same bytes.
type keyView struct {
	ID         int64
	User       string
	Name       string
	Hint       string
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	Status     db.KeyStatus
	Owner      string
	OwnerType  string
}

// keyViewOf is k as printed at now (its status depends on the time).
func keyViewOf(k db.Key, now time.Time) keyView {
	return keyView{ID: k.ID, User: k.OwnerEmail, Name: k.Name, Hint: k.Hint, Scopes: k.Scopes,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt,
		Status: k.Status(now), Owner: k.Owner(), OwnerType: k.OwnerType()}
}

func keyViewsOf(keys []db.Key, now time.Time) []keyView {
	out := make([]keyView, len(keys))
	for i, k := range keys {
		out[i] = keyViewOf(k, now)
	}
	return out
}

// keyJSON is one key in `keys list --json`; scripts rely on these names.
// Times are RFC 3339 in UTC, or null.
type keyJSON struct {
	ID         int64        `json:"id"`
	User       string       `json:"user"`
	Name       string       `json:"name"`
	Hint       string       `json:"hint"`
	Scopes     []string     `json:"scopes"`
	CreatedAt  string       `json:"created_at"`
	ExpiresAt  *string      `json:"expires_at"`
	LastUsedAt *string      `json:"last_used_at"`
	Status     db.KeyStatus `json:"status"`
	// Owner is the owner as services see it (user's email, or
	// "team:NAME"); User stays the person who made the key.
	Owner     string `json:"owner"`
	OwnerType string `json:"owner_type"`
}

func writeKeysJSON(w io.Writer, keys []keyView) error {
	out := make([]keyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.json())
	}
	return writeJSON(w, out)
}

// writeJSON writes v indented, as every --json output is.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// json is k as `keys list --json` (and `keys edit --json`) print it.
func (k keyView) json() keyJSON {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return keyJSON{
		ID:         k.ID,
		User:       k.User,
		Name:       k.Name,
		Hint:       k.Hint,
		Scopes:     scopes,
		CreatedAt:  k.CreatedAt.UTC().Format(time.RFC3339),
		ExpiresAt:  rfc3339(k.ExpiresAt),
		LastUsedAt: rfc3339(k.LastUsedAt),
		Status:     k.Status,
		Owner:      k.Owner,
		OwnerType:  k.OwnerType,
	}
}

func rfc3339(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// tableTime is the table's time format, always in UTC (as the help says).
const tableTime = "2006-01-02 15:04"

func formatTime(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(tableTime)
}

func writeKeysTable(w io.Writer, keys []keyView) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tNAME\tHINT\tSTATUS\tCREATED\tLAST USED\tEXPIRES")
	for _, k := range keys {
		created := k.CreatedAt
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			k.ID, k.Owner, k.Name, k.Hint, k.Status,
			formatTime(&created, ""), formatTime(k.LastUsedAt, "never"), formatTime(k.ExpiresAt, "never"))
	}
	return tw.Flush()
}

// printKeys prints keys as keys list does: JSON, or a table (a note on
// stderr when there are none).
func (a *app) printKeys(keys []keyView, asJSON bool) error {
	if asJSON {
		return writeKeysJSON(a.stdout, keys)
	}
	if len(keys) == 0 {
		fmt.Fprintln(a.stderr, "No keys found.")
		return nil
	}
	return writeKeysTable(a.stdout, keys)
}

// printCreated is the one output of keys create, local or remote: the
// secret alone on stdout, what was made on stderr.
func (a *app) printCreated(k keyView, secret string) {
	fmt.Fprintln(a.stdout, secret)
	exp := "never"
	if k.ExpiresAt != nil {
		exp = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(a.stderr, "Created key %d %q for %s (expires: %s). It is not shown again.\n",
		k.ID, k.Name, k.Owner, exp)
}

// printRevoked is the one output of keys revoke, local or remote.
func (a *app) printRevoked(k keyView) {
	fmt.Fprintf(a.stderr, "Revoked key %d %q of %s. A running server refuses it within seconds.\n",
		k.ID, k.Name, k.User)
}
