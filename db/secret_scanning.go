package db

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SettingGitHubScanningKeys names the setting holding the public keys
// GitHub signs its secret scanning reports with: GitHub's own JSON
// document, as published at
// https://api.github.com/meta/public_keys/secret_scanning and pasted by an
// admin. Keyward never fetches it: a server that answers requests need not
// reach the internet, and a key an admin pasted is one they chose to trust.
// Absent or empty: the GitHub endpoint refuses every request.
const SettingGitHubScanningKeys = "secret_scanning_github_keys"

// maxGitHubKeysDocument bounds the pasted document; GitHub's holds a
// handful of keys in about 2 KB.
const maxGitHubKeysDocument = 64 << 10

// maxGitHubKeys bounds how many keys the document may hold.
const maxGitHubKeys = 20

// GitHubScanningKey is one public key GitHub signs with.
type GitHubScanningKey struct {
	ID      string // key_identifier: what the Github-Public-Key-Identifier header names
	Current bool   // is_current: the key GitHub signs new requests with
	Key     *ecdsa.PublicKey
}

// githubKeysDocument is the shape of GitHub's document.
type githubKeysDocument struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// ParseGitHubScanningKeys reads GitHub's public key document. Every key
// must be a PEM "PUBLIC KEY" holding an ECDSA P-256 key, with an
// identifier, each identifier once. Problems are a *ValidationError on
// the field SettingGitHubScanningKeys, saying which key is wrong.
func ParseGitHubScanningKeys(doc string) ([]GitHubScanningKey, error) {
	fail := func(msg string) ([]GitHubScanningKey, error) {
		var ve ValidationError
		ve.Add(SettingGitHubScanningKeys, msg)
		return nil, ve.Err()
	}
	if len(doc) > maxGitHubKeysDocument {
		return fail("The document is too long: GitHub's is a few kilobytes.")
	}
	var d githubKeysDocument
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return fail(`This is not JSON. Paste the whole document from https://api.github.com/meta/public_keys/secret_scanning, starting with {"public_keys": [`)
	}
	switch {
	case len(d.PublicKeys) == 0:
		return fail(`The document lists no keys: it needs "public_keys" with at least one key.`)
	case len(d.PublicKeys) > maxGitHubKeys:
		return fail(fmt.Sprintf("The document lists %d keys; at most %d are accepted.", len(d.PublicKeys), maxGitHubKeys))
	}
	keys := make([]GitHubScanningKey, 0, len(d.PublicKeys))
	seen := map[string]bool{}
	for i, pk := range d.PublicKeys {
		id := strings.TrimSpace(pk.KeyIdentifier)
		switch {
		case id == "":
			return fail(fmt.Sprintf("Key %d has no key_identifier.", i+1))
		case len(id) > 200:
			return fail(fmt.Sprintf("Key %d has a key_identifier longer than 200 characters.", i+1))
		case seen[id]:
			return fail(fmt.Sprintf("The key_identifier %s appears twice.", id))
		}
		seen[id] = true
		pub, err := parseP256PEM(pk.Key)
		if err != nil {
			return fail(fmt.Sprintf("Key %s: %v.", shortID(id), err))
		}
		keys = append(keys, GitHubScanningKey{ID: id, Current: pk.IsCurrent, Key: pub})
	}
	return keys, nil
}

// parseP256PEM reads a PEM public key and insists on ECDSA P-256, the
// only kind GitHub signs secret scanning reports with.
func parseP256PEM(s string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New(`"key" is not a PEM public key (-----BEGIN PUBLIC KEY-----)`)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, errors.New(`"key" could not be read as a public key`)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New(`"key" is not an ECDSA P-256 key`)
	}
	return ec, nil
}

// shortID names a key identifier in a message (they are 64 hex digits).
func shortID(id string) string {
	if len(id) > 16 {
		return id[:16] + "…"
	}
	return id
}

// ErrBadScanningSignature: a secret scanning request whose signature does
// not verify (missing, malformed, by an unknown key or over other bytes).
var ErrBadScanningSignature = errors.New("db: secret scanning signature does not verify")

// VerifyGitHubSignature checks GitHub's signature of body: sigB64 is the
// Github-Public-Key-Signature header, a base64 ASN.1 ECDSA signature of
// the SHA-256 of the raw body, made with the key keyID names
// (Github-Public-Key-Identifier). Any failure is ErrBadScanningSignature.
func VerifyGitHubSignature(keys []GitHubScanningKey, keyID, sigB64 string, body []byte) error {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sigB64))
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: the signature is not base64", ErrBadScanningSignature)
	}
	for _, k := range keys {
		if k.ID != strings.TrimSpace(keyID) {
			continue
		}
		sum := sha256.Sum256(body)
		if ecdsa.VerifyASN1(k.Key, sum[:], sig) {
			return nil
		}
		return fmt.Errorf("%w: wrong signature", ErrBadScanningSignature)
	}
	return fmt.Errorf("%w: unknown key identifier", ErrBadScanningSignature)
}

func readGitHubKeysDocument(ctx context.Context, q querier) (string, error) {
	var v string
	switch err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, SettingGitHubScanningKeys).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("db: read %s: %w", SettingGitHubScanningKeys, err)
	}
	return v, nil
}

// GitHubScanningKeys returns the configured document as pasted ("" for
// none) and its keys. A stored document that no longer parses (edited by
// hand) yields no keys: the endpoint then refuses every request, which is
// the safe side.
func (s *Store) GitHubScanningKeys(ctx context.Context) (string, []GitHubScanningKey, error) {
	doc, err := readGitHubKeysDocument(ctx, s.r)
	if err != nil || strings.TrimSpace(doc) == "" {
		return doc, nil, err
	}
	keys, err := ParseGitHubScanningKeys(doc)
	if err != nil {
		return doc, nil, nil
	}
	return doc, keys, nil
}

// SetGitHubScanningKeys validates and stores GitHub's public key document
// ("" removes it), audited as a setting change. The audit records the key
// identifiers before and after, not the document: identifiers say what
// changed, and a document can be long.
func (s *Store) SetGitHubScanningKeys(ctx context.Context, doc string, actor Actor) error {
	doc = strings.TrimSpace(doc)
	var keys []GitHubScanningKey
	if doc != "" {
		var err error
		if keys, err = ParseGitHubScanningKeys(doc); err != nil {
			return err
		}
	}
	return s.inWriteTx(ctx, "set "+SettingGitHubScanningKeys, func(tx *Tx, now time.Time) error {
		old, err := readGitHubKeysDocument(ctx, tx)
		if err != nil || old == doc {
			return err
		}
		if _, err := tx.ExecContext(ctx, upsertSettingSQL, SettingGitHubScanningKeys, doc, toMillis(now)); err != nil {
			return fmt.Errorf("db: set %s: %w", SettingGitHubScanningKeys, err)
		}
		oldKeys, _ := ParseGitHubScanningKeys(old)
		e := actor.event(ActionSettingChange, "setting", 0, SettingGitHubScanningKeys)
		e.Detail = map[string]string{"setting": SettingGitHubScanningKeys, "old": githubKeyIDs(oldKeys), "new": githubKeyIDs(keys)}
		return insertAudit(ctx, tx, now, e)
	})
}

// githubKeyIDs lists identifiers for the audit log ("none" for no keys).
func githubKeyIDs(keys []GitHubScanningKey) string {
	if len(keys) == 0 {
		return "none"
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
		if k.Current {
			ids[i] += " (current)"
		}
	}
	return strings.Join(ids, ", ")
}
