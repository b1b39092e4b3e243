package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward/db"
)

// The key endpoints of the management API: the same keys, rules and
// access as the dashboard's key pages (handlers/key_access.go), for
// scripts. Reads see the caller's own keys and their teams' (any key with
// admin:read); changes reach the keys they manage (any key with
// admin:write); a roll is the owner's alone, as on the dashboard.

// APIKey is a key as the management API shows it: never its secret.
type APIKey struct {
	ID            int64      `json:"id" example:"42"`
	Name          string     `json:"name" example:"billing service"`
	Description   string     `json:"description"`
	Owner         string     `json:"owner" doc:"The owner's email, or team:NAME for a team's key." example:"ann@example.com"`
	OwnerType     string     `json:"owner_type" enum:"user,team"`
	Team          *string    `json:"team" nullable:"true" doc:"The owning team's name, null for a personal key."`
	Hint          string     `json:"hint" doc:"How the key is shown: its prefix and last four characters." example:"kw_…x9Qa"`
	Scopes        []string   `json:"scopes" doc:"Granted scopes."`
	PendingScopes []string   `json:"pending_scopes" doc:"Scopes waiting for an admin's approval."`
	AllowedIPs    []string   `json:"allowed_ips" doc:"Networks the key may be presented from; empty: anywhere." example:"[\"203.0.113.0/24\"]"`
	Meta          KeyMeta    `json:"meta" doc:"Metadata returned to services with the key; {} when none."`
	Status        string     `json:"status" enum:"active,expiring,expired,disabled,revoked,pending"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     *time.Time `json:"expires_at" nullable:"true"`
	LastUsedAt    *time.Time `json:"last_used_at" nullable:"true"`
	LastUsedIP    string     `json:"last_used_ip"`
	DisabledAt    *time.Time `json:"disabled_at" nullable:"true"`
	RevokedAt     *time.Time `json:"revoked_at" nullable:"true"`
	RevokeReason  string     `json:"revoke_reason"`
	RolledFrom    *int64     `json:"rolled_from" nullable:"true" doc:"The key this one replaced by a roll."`
}

// apiKey maps a db key at now.
func apiKey(k db.Key, now time.Time) APIKey {
	out := APIKey{
		ID: k.ID, Name: k.Name, Description: k.Description, Owner: k.Owner(), OwnerType: k.OwnerType(),
		Hint: k.Hint, Scopes: nonNil(k.Scopes), PendingScopes: nonNil(k.PendingScopes),
		AllowedIPs: make([]string, 0, len(k.AllowedIPs)), Meta: KeyMeta(k.Meta),
		Status: string(k.Status(now)), CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		LastUsedAt: k.LastUsedAt, LastUsedIP: k.LastUsedIP, DisabledAt: k.DisabledAt,
		RevokedAt: k.RevokedAt, RevokeReason: k.RevokeReason,
	}
	if k.TeamID != 0 {
		out.Team = &k.TeamName
	}
	for _, p := range k.AllowedIPs {
		out.AllowedIPs = append(out.AllowedIPs, p.String())
	}
	if k.RolledFrom != 0 {
		out.RolledFrom = &k.RolledFrom
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// KeyMeta is a key's metadata on the wire: a JSON object, kept exactly as
// its owner wrote it (key order and number spelling included), {} when
// none.
type KeyMeta string

// MarshalJSON writes the stored object, or {}.
func (m KeyMeta) MarshalJSON() ([]byte, error) {
	if m == "" {
		return []byte("{}"), nil
	}
	return []byte(m), nil
}

// UnmarshalJSON keeps the object compacted; db.CheckMeta checks it.
func (m *KeyMeta) UnmarshalJSON(b []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*m = KeyMeta(buf.String())
	return nil
}

// Schema is an object of any properties.
func (KeyMeta) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeObject, AdditionalProperties: true,
		Description: "A JSON object (at most 4 KiB) returned to services as key.meta.",
		Examples:    []any{map[string]any{"tenant": "acme"}}}
}

// KeyList is a page of keys.
type KeyList struct {
	Items []APIKey `json:"items"`
	// NextCursor continues the list; null on the last page.
	NextCursor *string `json:"next_cursor" nullable:"true" doc:"Pass as ?cursor= (with the same filters and sort) for the next page; null on the last page."`
}

// KeyListQuery holds the filters of both key lists, the dashboard's.
type KeyListQuery struct {
	Status         string `query:"status" enum:"active,expiring,pending,expired,disabled,revoked" doc:"Only keys in this state (active includes expiring keys)."`
	Stale          bool   `query:"stale" doc:"Only stale keys: unused (or never used) for longer than the policy allows, neither revoked nor expired."`
	NeverUsed      bool   `query:"never_used" doc:"Only keys never verified."`
	ExpiringWithin string `query:"expiring_within" doc:"Only usable keys expiring within this span: 7d, 36h, 90m." example:"7d"`
	Search         string `query:"search" maxLength:"100" doc:"Keys whose name contains this text, ignoring case."`
	Scope          string `query:"scope" maxLength:"64" doc:"Keys that carry this scope."`
	Team           string `query:"team" maxLength:"100" doc:"Keys of the team with this name."`
	Sort           string `query:"sort" enum:"created,last_used,expires" default:"created" doc:"created: newest first; last_used: most recently used first; expires: soonest first. Keys without the date come last."`
	Limit          int    `query:"limit" minimum:"1" maximum:"100" default:"25"`
	Cursor         string `query:"cursor" maxLength:"100" doc:"next_cursor of the previous page."`
}

// ListKeysInput is GET /api/v1/keys.
type ListKeysInput struct {
	KeyListQuery
}

// ListAllKeysInput is GET /api/v1/admin/keys.
type ListAllKeysInput struct {
	KeyListQuery
	Owner string `query:"owner" maxLength:"254" doc:"Keys of the person with this email." example:"ann@example.com"`
}

// KeyListOutput answers both lists.
type KeyListOutput struct {
	Body KeyList
}

// KeyIDPath names one key.
type KeyIDPath struct {
	ID int64 `path:"id" minimum:"1" doc:"The key's id."`
}

// KeyOutput answers with one key.
type KeyOutput struct {
	Body APIKey
}

// UsageInput is GET /api/v1/keys/{id}/usage.
type UsageInput struct {
	KeyIDPath
	Days int `query:"days" minimum:"1" maximum:"366" default:"30" doc:"How many days, ending today (UTC)."`
}

// UsageDay is one day of a key: its successful verifications, and the
// refused ones with their codes.
type UsageDay struct {
	Day   string `json:"day" format:"date" example:"2026-11-25"`
	Count int64  `json:"count" example:"3"`
	// Refusals are the day's refused verifications of the key (revoked,
	// disabled, expired, a missing scope…), RefusalsByCode the same by
	// verify code.
	Refusals       int64            `json:"refusals" example:"2" doc:"Verifications of this key refused that day."`
	RefusalsByCode map[string]int64 `json:"refusals_by_code" doc:"The day's refusals by verify code (REVOKED, DISABLED, EXPIRED, INSUFFICIENT_SCOPE, IP_NOT_ALLOWED, PENDING_APPROVAL); empty when none."`
}

// UsageOutput is a key's daily usage, oldest first.
type UsageOutput struct {
	Body struct {
		Days []UsageDay `json:"days"`
	}
}

func (h *Handler) registerKeys(api huma.API) {
	op := tokenOp("list-keys", http.MethodGet, "/api/v1/keys", "List your keys", db.PermKeysRead, "Keys")
	op.Description = "Your keys and your teams' keys, filtered like the dashboard's list, in pages (keyset cursor)."
	huma.Register(api, op, h.APIKeysList)

	op = tokenOp("list-all-keys", http.MethodGet, "/api/v1/admin/keys", "List every key", db.PermAdminRead, "Admin")
	op.Description = "Every key of every person and team, with the stale-key filters and an owner filter."
	huma.Register(api, op, h.APIKeysListAll)

	op = tokenOp("get-key", http.MethodGet, "/api/v1/keys/{id}", "Get a key", db.PermKeysRead, "Keys")
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APIKeyGet)

	op = tokenOp("get-key-usage", http.MethodGet, "/api/v1/keys/{id}/usage", "A key's daily usage", db.PermKeysRead, "Keys")
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APIKeyUsage)

	h.registerKeyWrites(api)
	h.registerKeyRolls(api)
}

// viewAccess is the keys the caller may read: any with admin:read.
func (c *Caller) viewAccess() db.KeyAccess {
	if c.Token.Has(db.PermAdminRead) {
		return db.AnyOwner()
	}
	return db.VisibleTo(c.User.ID)
}

// manageAccess is the keys the caller may change: any with admin:write.
func (c *Caller) manageAccess() db.KeyAccess {
	if c.Token.Has(db.PermAdminWrite) {
		return db.AnyOwner()
	}
	return c.KeyAccess()
}

// APIKeysList is GET /api/v1/keys.
func (h *Handler) APIKeysList(ctx context.Context, in *ListKeysInput) (*KeyListOutput, error) {
	c := callerFrom(ctx)
	return h.listKeys(ctx, db.VisibleTo(c.User.ID), in.KeyListQuery, "")
}

// APIKeysListAll is GET /api/v1/admin/keys.
func (h *Handler) APIKeysListAll(ctx context.Context, in *ListAllKeysInput) (*KeyListOutput, error) {
	return h.listKeys(ctx, db.AnyOwner(), in.KeyListQuery, in.Owner)
}

// listKeys reads one page: limit+1 keys, the extra one only telling
// whether a next page exists.
func (h *Handler) listKeys(ctx context.Context, access db.KeyAccess, q KeyListQuery, owner string) (*KeyListOutput, error) {
	f, err := h.keyFilter(ctx, q)
	if err != nil {
		return nil, err
	}
	f.OwnerEmail = owner
	f.Limit = q.Limit + 1
	keys, err := h.Store.ListKeys(ctx, access, f)
	if err != nil {
		return nil, err
	}
	out := &KeyListOutput{Body: KeyList{Items: make([]APIKey, 0, min(len(keys), q.Limit))}}
	if len(keys) > q.Limit {
		keys = keys[:q.Limit]
		next := db.CursorAfter(keys[len(keys)-1], f.Sort).String()
		out.Body.NextCursor = &next
	}
	now := h.now()
	for _, k := range keys {
		out.Body.Items = append(out.Body.Items, apiKey(k, now))
	}
	return out, nil
}

// keyFilter turns the query into a db filter, refusing what it cannot
// read: a misspelt filter must not silently list everything.
func (h *Handler) keyFilter(ctx context.Context, q KeyListQuery) (db.KeyFilter, error) {
	f := db.KeyFilter{Status: db.KeyStatus(q.Status), Stale: q.Stale, NeverUsed: q.NeverUsed,
		Search: q.Search, Scope: q.Scope, Sort: db.KeySort(q.Sort)}
	if q.ExpiringWithin != "" {
		d, err := parseSpan(q.ExpiringWithin)
		if err != nil || d <= 0 || d > 3650*24*time.Hour {
			return f, queryProblem("expiring_within", "Give a span such as 7d, 36h or 90m (at most 3650d).", q.ExpiringWithin)
		}
		f.ExpiringWithin = d
	}
	if q.Team != "" {
		t, err := h.Store.GetTeamByName(ctx, q.Team)
		if errors.Is(err, db.ErrNotFound) {
			return f, queryProblem("team", "No team has this name.", q.Team)
		} else if err != nil {
			return f, err
		}
		f.TeamID = t.ID
	}
	if q.Cursor != "" {
		cur, err := db.ParseKeyCursor(q.Cursor, f.Sort)
		if err != nil {
			return f, &HTTPError{Status: http.StatusBadRequest, Code: "INVALID_CURSOR", Message: err.Error()}
		}
		f.After = &cur
	}
	return f, nil
}

// queryProblem is a 422 placing the problem in one query parameter.
func queryProblem(param, msg string, value any) error {
	return huma.Error422UnprocessableEntity(msg, &huma.ErrorDetail{Location: "query." + param, Message: msg, Value: value})
}

// parseSpan reads a span of time: a whole number of days ("30d") or a Go
// duration ("12h", "90m", "1h30m").
func parseSpan(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100_000 {
			return 0, errors.New("not a number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// APIKeyGet is GET /api/v1/keys/{id}.
func (h *Handler) APIKeyGet(ctx context.Context, in *KeyIDPath) (*KeyOutput, error) {
	k, err := h.Store.GetKey(ctx, callerFrom(ctx).viewAccess(), in.ID)
	if err != nil {
		return nil, err
	}
	return &KeyOutput{Body: apiKey(k, h.now())}, nil
}

// APIKeyUsage is GET /api/v1/keys/{id}/usage.
func (h *Handler) APIKeyUsage(ctx context.Context, in *UsageInput) (*UsageOutput, error) {
	access := callerFrom(ctx).viewAccess()
	days, err := h.Store.KeyUsage(ctx, access, in.ID, in.Days)
	if err != nil {
		return nil, err
	}
	refusals, err := h.Store.KeyRefusals(ctx, access, in.ID, in.Days)
	if err != nil {
		return nil, err
	}
	out := &UsageOutput{}
	out.Body.Days = make([]UsageDay, len(days))
	for i, d := range days {
		out.Body.Days[i] = UsageDay{Day: d.Day.Format(time.DateOnly), Count: d.Count, RefusalsByCode: map[string]int64{}}
		if i < len(refusals) && refusals[i].Day.Equal(d.Day) {
			out.Body.Days[i].Refusals = refusals[i].Total
			for code, n := range refusals[i].ByCode {
				out.Body.Days[i].RefusalsByCode[code] = n
			}
		}
	}
	return out, nil
}
