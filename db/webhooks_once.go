package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
)

// An endpoint's create form is answered by the page that shows its signing
// secret once; reloading that page posts the form again. Like a key's
// (keys_once.go), the form carries a one-time token whose SHA-256 the new
// endpoint keeps, so the same submission never makes a second endpoint.

// EndpointAlreadyCreatedError answers an endpoint form submitted again: the
// endpoint it made before, whose secret was shown once. It unwraps to
// ErrConflict.
type EndpointAlreadyCreatedError struct {
	EndpointID int64
	URL        string
}

func (e *EndpointAlreadyCreatedError) Error() string {
	return "This endpoint was already added and its secret shown once."
}

func (e *EndpointAlreadyCreatedError) Unwrap() error { return ErrConflict }

// CreateWebhookEndpointOnce is CreateWebhookEndpoint for a form carrying
// the one-time token tok: the first submission adds the endpoint; a later
// one with the same token returns an *EndpointAlreadyCreatedError and adds
// nothing. Check and insert share one write transaction.
func (s *Store) CreateWebhookEndpointOnce(ctx context.Context, in WebhookInput, tok string, actor Actor) (WebhookEndpoint, string, error) {
	if err := CheckFormToken(tok); err != nil {
		var ve ValidationError
		ve.AddErr("form_token", err)
		return WebhookEndpoint{}, "", ve.Err()
	}
	h := sha256.Sum256([]byte(tok))
	return s.createWebhookEndpoint(ctx, in, h[:], actor)
}

// #nosec G101 -- SQL naming the create_token_hash column, not a credential.
const endpointByFormTokenSQL = `SELECT id, url FROM webhook_endpoints WHERE create_token_hash = ?`

func checkEndpointTokenUnused(ctx context.Context, tx *Tx, hash []byte) error {
	var e EndpointAlreadyCreatedError
	switch err := tx.QueryRowContext(ctx, endpointByFormTokenSQL, hash).Scan(&e.EndpointID, &e.URL); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("db: check endpoint form token: %w", err)
	}
	return &e
}

// nullBytes is b, or SQL NULL when b is nil.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
