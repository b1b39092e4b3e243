package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/db"
)

// remoteKey is the management API's APIKey, the fields the CLI prints.
type remoteKey struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Owner      string     `json:"owner"`
	OwnerType  string     `json:"owner_type"`
	Team       *string    `json:"team"`
	Hint       string     `json:"hint"`
	Scopes     []string   `json:"scopes"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	DisabledAt *time.Time `json:"disabled_at"`
}

// view is k as the CLI prints it: the same keyView a local command
// builds from the database, so the output is the same bytes. One
// difference remains: the API does not name who made a team's key, so
// for a team key "user" is the owner (team:NAME), where the local CLI
// prints the creator's email. For a personal key both are the owner.
func (k remoteKey) view() keyView {
	return keyView{ID: k.ID, User: k.Owner, Name: k.Name, Hint: k.Hint, Scopes: k.Scopes,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt,
		Status: db.KeyStatus(k.Status), Owner: k.Owner, OwnerType: k.OwnerType}
}

func keyPath(id int64, action string) string {
	p := "/api/v1/keys/" + strconv.FormatInt(id, 10)
	if action != "" {
		p += "/" + action
	}
	return p
}

// remoteCreateInput is the body of create-key.
type remoteCreateInput struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	ExpiresAt   string   `json:"expires_at,omitempty"`
	ExpiresIn   string   `json:"expires_in,omitempty"`
	Team        string   `json:"team,omitempty"`
}

// remoteKeysCreate creates a key for the token's person (--user, which
// the local command needs, must name them) and prints it as keys create
// does. A relative --expires (30d, 12h) is counted by the server's clock.
func (a *app) remoteKeysCreate(ctx context.Context, rc *remoteClient, user string, in db.KeyInput, expires, team string) error {
	me, err := rc.me(ctx)
	if err != nil {
		return err
	}
	if user != "" && db.NormalizeEmail(user) != db.NormalizeEmail(me.User.Email) {
		return fmt.Errorf("--user: the token in %s acts for %s; the server creates keys for that person only", tokenEnv, me.User.Email)
	}
	body := remoteCreateInput{Name: in.Name, Description: in.Description, Scopes: in.Scopes, Team: team}
	if isRelativeExpiry(expires) {
		body.ExpiresIn = strings.TrimSpace(expires)
	} else if in.ExpiresAt != nil {
		body.ExpiresAt = in.ExpiresAt.UTC().Format(time.RFC3339)
	}
	var out struct {
		Key    remoteKey `json:"key"`
		Secret string    `json:"secret"`
	}
	if err := rc.do(ctx, request{method: http.MethodPost, path: "/api/v1/keys", body: body, idempotent: true}, &out); err != nil {
		return err
	}
	a.printCreated(out.Key.view(), out.Secret)
	return nil
}

// isRelativeExpiry reports whether --expires counts from now (30d, 12h).
func isRelativeExpiry(s string) bool {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		_, err := strconv.Atoi(n)
		return err == nil
	}
	_, err := time.ParseDuration(s)
	return err == nil
}

// remoteKeysList lists every key when the token may read the admin side
// (as the local command, which acts as an admin, does), else the token's
// person's keys. --user narrows the list to one person's keys.
func (a *app) remoteKeysList(ctx context.Context, rc *remoteClient, user string, f db.KeyFilter, asJSON bool) error {
	me, err := rc.me(ctx)
	if err != nil {
		return err
	}
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Stale {
		q.Set("stale", "true")
	}
	path := "/api/v1/keys"
	switch {
	case me.has(db.PermAdminRead):
		path = "/api/v1/admin/keys"
		if user != "" {
			q.Set("owner", db.NormalizeEmail(user))
		}
	case user != "" && db.NormalizeEmail(user) != db.NormalizeEmail(me.User.Email):
		return fmt.Errorf("--user: the token in %s acts for %s and lacks admin:read, so it lists that person's keys only", tokenEnv, me.User.Email)
	}
	keys, err := remoteListAll[remoteKey](ctx, rc, path, q)
	if err != nil {
		return err
	}
	views := make([]keyView, len(keys))
	for i, k := range keys {
		views[i] = k.view()
	}
	return a.printKeys(views, asJSON)
}

func (rc *remoteClient) getKey(ctx context.Context, id int64) (remoteKey, error) {
	var k remoteKey
	err := rc.do(ctx, request{method: http.MethodGet, path: keyPath(id, "")}, &k)
	return k, err
}

// remoteKeysRoll is keys roll on the server: it sends the grace as a Go
// duration ("1h0m0s"), which the server holds to its policy.
func (a *app) remoteKeysRoll(ctx context.Context, rc *remoteClient, id int64, grace time.Duration) error {
	var out struct {
		Key      remoteKey `json:"key"`
		Secret   string    `json:"secret"`
		Previous remoteKey `json:"previous"`
	}
	body := map[string]string{"grace": grace.String()}
	if err := rc.do(ctx, request{method: http.MethodPost, path: keyPath(id, "roll"), body: body, idempotent: true}, &out); err != nil {
		return err
	}
	a.printRolled(out.Key.view(), out.Secret, out.Previous.view())
	return nil
}

// remoteKeysSetDisabled is keys disable/enable on the server. The key is
// read first, to say "already disabled" as the local command does.
func (a *app) remoteKeysSetDisabled(ctx context.Context, rc *remoteClient, id int64, disabled bool, reason string) error {
	before, err := rc.getKey(ctx, id)
	if err != nil {
		return err
	}
	action, body := "enable", any(nil)
	if disabled {
		action = "disable"
	}
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	var k remoteKey
	if err := rc.do(ctx, request{method: http.MethodPost, path: keyPath(id, action), body: body}, &k); err != nil {
		return err
	}
	a.printDisabled(k.view(), disabled, (before.DisabledAt != nil) == disabled)
	return nil
}

// remoteKeysRevoke is keys revoke on the server.
func (a *app) remoteKeysRevoke(ctx context.Context, rc *remoteClient, id int64, reason string) error {
	var k remoteKey
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	if err := rc.do(ctx, request{method: http.MethodPost, path: keyPath(id, "revoke"), body: body}, &k); err != nil {
		return err
	}
	a.printRevoked(k.view())
	return nil
}

// remoteKeysEdit is keys edit on the server: one PATCH with the fields the
// flags gave. An expiry is sent as an absolute time (null for never).
func (a *app) remoteKeysEdit(ctx context.Context, rc *remoteClient, id int64, values map[string]*string, given map[string]bool, asJSON bool) error {
	patch := map[string]any{}
	if given["name"] {
		patch["name"] = *values["name"]
	}
	if given["description"] {
		patch["description"] = *values["description"]
	}
	if given["expires"] {
		t, err := parseExpiry(*values["expires"], time.Now())
		if err != nil {
			return err
		}
		if t == nil {
			patch["expires_at"] = nil
		} else {
			patch["expires_at"] = t.UTC().Format(time.RFC3339)
		}
	}
	if given["scopes"] {
		sc, err := db.ParseScopes(*values["scopes"])
		if err != nil {
			return fmt.Errorf("--scopes: %w", err)
		}
		patch["scopes"] = orNoScopes(sc)
	}
	if given["allow-ip"] {
		ips, err := db.ParseAllowedIPs(*values["allow-ip"])
		if err != nil {
			return fmt.Errorf("--allow-ip: %w", err)
		}
		list := make([]string, len(ips))
		for i, p := range ips {
			list[i] = p.String()
		}
		patch["allowed_ips"] = list
	}
	if given["meta"] {
		m, err := db.CheckMeta(*values["meta"])
		if err != nil {
			return fmt.Errorf("--meta: %w", err)
		}
		if m == "" {
			m = "{}"
		}
		patch["meta"] = json.RawMessage(m)
	}
	var k remoteKey
	if err := rc.do(ctx, request{method: http.MethodPatch, path: keyPath(id, ""), body: patch}, &k); err != nil {
		return err
	}
	return a.printSavedKey(k.view(), asJSON)
}

func orNoScopes(sc []string) []string {
	if sc == nil {
		return []string{}
	}
	return sc
}
