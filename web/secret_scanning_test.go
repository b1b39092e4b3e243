package web

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// scanningSigner is a stand-in for GitHub: a P-256 key and the document
// that publishes it.
type scanningSigner struct {
	id   string
	priv *ecdsa.PrivateKey
}

func newScanningSigner(t *testing.T, id string) scanningSigner {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return scanningSigner{id: id, priv: priv}
}

// document is GitHub's public key document listing the signers.
func scanningDocument(t *testing.T, signers ...scanningSigner) string {
	t.Helper()
	type key struct {
		ID      string `json:"key_identifier"`
		Key     string `json:"key"`
		Current bool   `json:"is_current"`
	}
	var doc struct {
		PublicKeys []key `json:"public_keys"`
	}
	for i, s := range signers {
		der, err := x509.MarshalPKIXPublicKey(&s.priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		doc.PublicKeys = append(doc.PublicKeys, key{ID: s.id, Current: i == 0,
			Key: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (s scanningSigner) sign(t *testing.T, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// scan posts body to the GitHub endpoint with the given key identifier
// and signature headers ("" leaves one out).
func (a *testApp) scan(body []byte, keyID, sig string) response {
	a.t.Helper()
	hdr := http.Header{"Content-Type": {"application/json"}}
	if keyID != "" {
		hdr.Set("Github-Public-Key-Identifier", keyID)
	}
	if sig != "" {
		hdr.Set("Github-Public-Key-Signature", sig)
	}
	return a.api(http.MethodPost, "/api/v1/secret-scanning/github", bytes.NewReader(body), hdr)
}

func scanBody(t *testing.T, tokens ...string) []byte {
	t.Helper()
	var matches []map[string]string
	for i, tok := range tokens {
		matches = append(matches, map[string]string{"token": tok, "type": "keyward_api_key",
			"url": "https://github.com/octo/repo/blob/abc/config.env#L" + itoa(int64(i+1)), "source": "content"})
	}
	b, err := json.Marshal(matches)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGitHubSecretScanningRevokes is the "done when": a key
// reported by a signed GitHub request is refused by the next verify.
func TestGitHubSecretScanningRevokes(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a := newEngineApp(t, engine)
			gh := newScanningSigner(t, "gh-key-1")
			if err := a.store.SetGitHubScanningKeys(t.Context(), scanningDocument(t, gh), db.CLIActor()); err != nil {
				t.Fatal(err)
			}
			u := a.createUser("ann@example.com", db.RoleMember)
			k, secret := a.storeKey(u.ID, db.KeyInput{Name: "deploy"})
			a.wantCode(secret, "")
			unknown := mustGenerate(t)
			body := scanBody(t, secret, unknown, "kw_not-a-key")
			r := a.scan(body, gh.id, gh.sign(t, body))
			if r.StatusCode != http.StatusOK {
				t.Fatalf("signed request: got %d %s, want 200", r.StatusCode, r.body)
			}
			var labels []struct {
				TokenRaw  string `json:"token_raw"`
				TokenType string `json:"token_type"`
				Label     string `json:"label"`
			}
			if err := json.Unmarshal([]byte(r.body), &labels); err != nil {
				t.Fatal(err)
			}
			want := []string{"true_positive", "false_positive", "false_positive"}
			if len(labels) != len(want) {
				t.Fatalf("labels: got %s, want %d", r.body, len(want))
			}
			for i, l := range labels {
				if l.Label != want[i] || l.TokenType != "keyward_api_key" || l.TokenRaw == "" {
					t.Errorf("label %d: got %+v, want %s", i, l, want[i])
				}
			}
			if labels[0].TokenRaw != secret {
				t.Errorf("token_raw of the first match: got another token, want the one GitHub sent")
			}
			a.wantCode(secret, "REVOKED")
			events, err := a.store.ListAudit(t.Context(), db.AuditFilter{Action: db.ActionKeyLeakReported})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 3 {
				t.Fatalf("leak audits: got %d, want 3 (one per token)", len(events))
			}
			known := events[len(events)-1]
			if known.TargetID != k.ID || known.Detail["source"] != db.LeakSourceGitHub || known.Detail["found_in"] != "content" {
				t.Errorf("audit of the real key: got %+v", known)
			}
		})
	}
}

// TestGitHubSecretScanningRefuses: anything not signed by a configured
// key is 401 and changes nothing.
func TestGitHubSecretScanningRefuses(t *testing.T) {
	a := newTestApp(t)
	gh := newScanningSigner(t, "gh-key-1")
	mallory := newScanningSigner(t, "gh-key-1")
	u := a.createUser("ann@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "deploy"})
	body := scanBody(t, secret)
	good := gh.sign(t, body)

	// No keys configured yet: even GitHub's own signature is refused.
	if r := a.scan(body, gh.id, good); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("no keys configured: got %d, want 401", r.StatusCode)
	}
	if err := a.store.SetGitHubScanningKeys(t.Context(), scanningDocument(t, gh), db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(body, []byte("config.env"), []byte("other.env!"), 1)
	tests := []struct {
		name, id, sig string
		body          []byte
	}{
		{"signed with another key", gh.id, mallory.sign(t, body), body},
		{"tampered body", gh.id, good, tampered},
		{"missing signature", gh.id, "", body},
		{"missing identifier", "", good, body},
		{"unknown identifier", "gh-key-2", good, body},
		{"signature not base64", gh.id, "not base64!", body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.scan(tt.body, tt.id, tt.sig)
			if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, `"INVALID_SIGNATURE"`) {
				t.Errorf("got %d %s, want 401 INVALID_SIGNATURE", r.StatusCode, r.body)
			}
			a.wantCode(secret, "")
		})
	}
	events, err := a.store.ListAudit(t.Context(), db.AuditFilter{Action: db.ActionKeyLeakReported})
	if err != nil || len(events) != 0 {
		t.Errorf("refused requests wrote %d leak audits (%v), want none", len(events), err)
	}
	// And the real signature still works afterwards.
	if r := a.scan(body, gh.id, good); r.StatusCode != http.StatusOK {
		t.Fatalf("signed request after refusals: got %d %s, want 200", r.StatusCode, r.body)
	}
	a.wantCode(secret, "REVOKED")
}
