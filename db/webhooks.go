package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxWebhookURLLength caps an endpoint's URL.
const MaxWebhookURLLength = 2000

// WebhookEndpoint is where an admin wants events POSTed. The signing
// secret is not here: it is shown once, by CreateWebhookEndpoint, and read
// back only by the worker that signs (ClaimDeliveries).
type WebhookEndpoint struct {
	ID             int64
	URL            string
	Description    string
	EventTypes     []string // "*" alone: every type
	CreatedBy      int64
	CreatedByEmail string
	CreatedAt      time.Time
	DisabledAt     *time.Time
	DisabledReason string
	FailingSince   *time.Time
}

// WebhookInput is what the endpoint form sets.
type WebhookInput struct {
	URL         string
	Description string
	EventTypes  []string
	// AllowHTTP accepts an http:// URL (the admin setting that also lets
	// private addresses through, for receivers inside the network).
	AllowHTTP bool
}

// validate checks in's URL (absolute, https unless AllowHTTP, at most
// MaxWebhookURLLength, no user info) and event types. Whether the host
// resolves to a refused address is the sender's check (package web/notify),
// made both on the form and at every send.
func (in *WebhookInput) validate() error {
	var ve ValidationError
	in.URL = strings.TrimSpace(in.URL)
	in.Description = checkFreeText("description", strings.TrimSpace(in.Description), 200, &ve)
	switch u, err := url.Parse(in.URL); {
	case in.URL == "":
		ve.Add("url", "Enter the URL that receives the events.")
	case len(in.URL) > MaxWebhookURLLength:
		ve.Add("url", fmt.Sprintf("Use at most %d characters.", MaxWebhookURLLength))
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		ve.Add("url", "Enter an absolute URL, such as https://hooks.example.com/keyward.")
	case u.Scheme == "http" && !in.AllowHTTP:
		ve.Add("url", "Use https://. Plain http:// is allowed only when the admin setting for private receivers is on.")
	case u.User != nil:
		ve.Add("url", "Leave user and password out of the URL; requests are signed instead.")
	}
	known := WebhookEventTypes()
	types := make([]string, 0, len(in.EventTypes))
	for _, t := range in.EventTypes {
		switch {
		case t == "*":
			types = []string{"*"}
		case !slices.Contains(known, t):
			ve.Add("event_types", fmt.Sprintf("Unknown event type %q.", t))
		case !slices.Contains(types, t) && !slices.Contains(types, "*"):
			types = append(types, t)
		}
	}
	if len(types) == 0 && ve.Fields["event_types"] == "" {
		ve.Add("event_types", "Choose at least one event type.")
	}
	in.EventTypes = types
	return ve.Err()
}

// newWebhookSecret makes a Standard Webhooks signing secret: "whsec_" and
// 32 random bytes in base64.
func newWebhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("db: webhook secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

const insertWebhookSQL = `INSERT INTO webhook_endpoints (url, description, event_types, secret, created_by, created_at, create_token_hash)
	VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`

// CreateWebhookEndpoint adds an endpoint and returns it with its signing
// secret, which is shown this once.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, in WebhookInput, actor Actor) (WebhookEndpoint, string, error) {
	return s.createWebhookEndpoint(ctx, in, nil, actor)
}

func (s *Store) createWebhookEndpoint(ctx context.Context, in WebhookInput, tokHash []byte, actor Actor) (WebhookEndpoint, string, error) {
	if err := in.validate(); err != nil {
		return WebhookEndpoint{}, "", err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return WebhookEndpoint{}, "", fmt.Errorf("db: create webhook: %w", err)
	}
	defer tx.Rollback()
	now := s.Now()
	if tokHash != nil {
		if err := checkEndpointTokenUnused(ctx, tx, tokHash); err != nil {
			return WebhookEndpoint{}, "", err
		}
	}
	sealed, err := sealInTx(ctx, tx, now, []byte(secret))
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	ep := WebhookEndpoint{URL: in.URL, Description: in.Description, EventTypes: in.EventTypes,
		CreatedBy: actor.UserID, CreatedAt: now}
	if err := tx.QueryRowContext(ctx, insertWebhookSQL, in.URL, in.Description, strings.Join(in.EventTypes, " "),
		sealed, nullID(actor.UserID), toMillis(now), nullBytes(tokHash)).Scan(&ep.ID); err != nil {
		return WebhookEndpoint{}, "", fmt.Errorf("db: create webhook: %w", err)
	}
	e := actor.event(ActionWebhookCreate, "webhook", ep.ID, ep.URL)
	e.Detail = map[string]string{"event_types": strings.Join(in.EventTypes, " ")}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return WebhookEndpoint{}, "", err
	}
	if err := tx.Commit(); err != nil {
		return WebhookEndpoint{}, "", fmt.Errorf("db: create webhook: %w", err)
	}
	return ep, secret, nil
}

const listWebhooksSQL = `SELECT w.id, w.url, w.description, w.event_types, w.created_by, COALESCE(u.email, ''),
	w.created_at, w.disabled_at, w.disabled_reason, w.failing_since
	FROM webhook_endpoints w LEFT JOIN users u ON u.id = w.created_by`

// ListWebhookEndpoints returns every endpoint, oldest first.
func (s *Store) ListWebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	rows, err := s.r.QueryContext(ctx, listWebhooksSQL+` ORDER BY w.id`)
	if err != nil {
		return nil, fmt.Errorf("db: list webhooks: %w", err)
	}
	defer rows.Close()
	var out []WebhookEndpoint
	for rows.Next() {
		ep, err := scanWebhook(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("db: list webhooks: %w", err)
		}
		out = append(out, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list webhooks: %w", err)
	}
	return out, nil
}

// GetWebhookEndpoint returns endpoint id, or ErrNotFound.
func (s *Store) GetWebhookEndpoint(ctx context.Context, id int64) (WebhookEndpoint, error) {
	ep, err := scanWebhook(s.r.QueryRowContext(ctx, listWebhooksSQL+` WHERE w.id = ?`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return WebhookEndpoint{}, fmt.Errorf("db: webhook %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("db: webhook %d: %w", id, err)
	}
	return ep, nil
}

func scanWebhook(scan func(...any) error) (WebhookEndpoint, error) {
	var (
		ep                    WebhookEndpoint
		types                 string
		createdBy             sql.NullInt64
		created               int64
		disabled, failingFrom sql.NullInt64
	)
	if err := scan(&ep.ID, &ep.URL, &ep.Description, &types, &createdBy, &ep.CreatedByEmail, &created,
		&disabled, &ep.DisabledReason, &failingFrom); err != nil {
		return WebhookEndpoint{}, err
	}
	ep.EventTypes = eventTypeList(types)
	ep.CreatedBy, ep.CreatedAt = createdBy.Int64, fromMillis(created)
	ep.DisabledAt, ep.FailingSince = timePtr(disabled), timePtr(failingFrom)
	return ep, nil
}
