package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/keyward/keyward/db"
)

// The management API's list, timed like the pages: the heavy member's
// 10,000 keys read 100 at a time through a management token, each request
// the next page of a walk that follows next_cursor and starts over after
// the last page, so the timings cover the first page and the deep ones
// alike (keyset pagination should make them cost the same).

// apiListPath is the first page of the walk.
const apiListPath = "/api/v1/keys?limit=100"

// apiClient walks the key list with a management token.
type apiClient struct {
	base, token, next string
	c                 *http.Client
}

// newAPIClient makes a keys:read management token for email directly in
// the database target (the server keeps running: SQLite's WAL and
// PostgreSQL both take a second writer) and returns a client using it.
func newAPIClient(ctx context.Context, base, target, email string) (*apiClient, error) {
	store, err := db.Open(ctx, target, db.Options{})
	if err != nil {
		return nil, fmt.Errorf("open %s for a management token: %w", target, err)
	}
	defer store.Close()
	u, err := store.GetUserByEmail(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("management token: %s: %w", email, err)
	}
	exp := time.Now().Add(24 * time.Hour)
	_, token, err := store.CreateAPIToken(ctx, u.ID, db.APITokenInput{Name: "make bench",
		Permissions: []db.Permission{db.PermKeysRead}, ExpiresAt: &exp}, db.CLIActor())
	if err != nil {
		return nil, fmt.Errorf("management token: %w", err)
	}
	return &apiClient{base: base, token: token, c: &http.Client{Timeout: time.Minute, Transport: newTransport()}}, nil
}

// get fetches the walk's next page and returns its status and size.
func (a *apiClient) get() (status int, size int64, err error) {
	path := apiListPath
	if a.next != "" {
		path += "&cursor=" + url.QueryEscape(a.next)
	}
	req, err := http.NewRequest(http.MethodGet, a.base+path, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, int64(len(body)), err
	}
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return resp.StatusCode, int64(len(body)), fmt.Errorf("GET %s: %w", path, err)
	}
	a.next = ""
	if page.NextCursor != nil {
		a.next = *page.NextCursor
	}
	return resp.StatusCode, int64(len(body)), nil
}
