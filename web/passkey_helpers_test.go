package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// softKey is a software passkey authenticator: one ES256 credential that
// answers WebAuthn ceremonies the way a platform authenticator does
// ("none" attestation, user present and verified), so the HTTP tests can
// exercise the server's checks (origin, relying party id, challenge,
// counter, owner) without a browser.
type softKey struct {
	t       *testing.T
	key     *ecdsa.PrivateKey
	id      []byte
	handle  []byte // the user handle from registration
	counter uint32
	// origin and rpID are what the authenticator and browser claim; tests
	// change them to forge an assertion for another site.
	origin, rpID string
}

func newSoftKey(t *testing.T, a *testApp) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	u, _ := url.Parse(a.http.URL)
	return &softKey{t: t, key: k, id: id, origin: a.http.URL, rpID: u.Hostname()}
}

var b64u = base64.RawURLEncoding

// onLocalhost makes the app's browsers use http://localhost:PORT (the
// listener is on 127.0.0.1): browsers and go-webauthn refuse an IP address
// as a relying-party id. Call it before making browsers.
func (a *testApp) onLocalhost() *testApp {
	a.http.URL = strings.Replace(a.http.URL, "127.0.0.1", "localhost", 1)
	return a
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data: RP id hash, flags (user present and
// verified, plus attested credential data when attested), counter.
func (k *softKey) authData(attested []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	flags := byte(0x05)
	if attested != nil {
		flags |= 0x40
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.counter)
	return append(out, attested...)
}

// register answers the options of /webauthn/register/begin.
func (k *softKey) register(options json.RawMessage) map[string]any {
	k.t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		k.t.Fatalf("creation options: %v", err)
	}
	k.handle, _ = b64u.DecodeString(o.PublicKey.User.ID)
	x, y := k.key.X.FillBytes(make([]byte, 32)), k.key.Y.FillBytes(make([]byte, 32))
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		k.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(attested)})
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64u.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	}
}

// assert answers the options of a sign-in ceremony, counting up first
// (set counter to replay an old value).
func (k *softKey) assert(options json.RawMessage) map[string]any {
	k.t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		k.t.Fatalf("request options: %v", err)
	}
	k.counter++
	ad := k.authData(nil)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(cd),
			"authenticatorData": b64u.EncodeToString(ad),
			"signature":         b64u.EncodeToString(sig),
			"userHandle":        b64u.EncodeToString(k.handle),
		},
	}
}

// ceremonyBegin is the answer of a begin endpoint.
type ceremonyBegin struct {
	Token   string          `json:"token"`
	Options json.RawMessage `json:"options"`
}

// postJSON posts body as JSON with the CSRF header, as passkeys.js does.
func (b *browser) postJSON(path string, body any) response {
	b.t.Helper()
	raw, ok := body.(string)
	if !ok {
		j, _ := json.Marshal(body)
		raw = string(j)
	}
	req, _ := http.NewRequest(http.MethodPost, b.app.http.URL+path, strings.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf())
	return b.do(req)
}

// begin runs a ceremony's begin and fails the test unless it answered.
func (b *browser) begin(purpose string, body any) ceremonyBegin {
	b.t.Helper()
	r := b.postJSON("/webauthn/"+purpose+"/begin", body)
	var out ceremonyBegin
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.body), &out) != nil || out.Token == "" {
		b.t.Fatalf("begin %s: got %d %s, want 200 with a token", purpose, r.StatusCode, r.body)
	}
	return out
}

// registerPasskey adds k to the signed-in person through the two requests.
func (b *browser) registerPasskey(k *softKey, name string) {
	b.t.Helper()
	beg := b.begin("register", map[string]string{"name": name})
	r := b.postJSON("/webauthn/register/finish", map[string]any{"token": beg.Token, "name": name, "credential": k.register(beg.Options)})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"redirect"`) {
		b.t.Fatalf("register finish: got %d %s, want 200 with a redirect", r.StatusCode, r.body)
	}
}

// jsonError is the message of a ceremony endpoint's refusal.
func jsonError(t *testing.T, r response) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("refusal is not JSON: %d %q", r.StatusCode, r.body)
	}
	return e.Error
}
