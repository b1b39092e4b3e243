package db

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
)

// testP256 makes a P-256 key pair and its PEM public key.
func testP256(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return priv, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func testRSAPublicPEM(t *testing.T) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// testGitHubKeysDocument is a document in GitHub's shape with one fresh key.
func testGitHubKeysDocument(t *testing.T) string {
	t.Helper()
	_, pub := testP256(t)
	return `{"public_keys": [{"key_identifier": "test-key-1", "key": ` + jsonString(pub) + `, "is_current": true}]}`
}

func TestVerifyGitHubSignature(t *testing.T) {
	priv, pub := testP256(t)
	other, _ := testP256(t)
	keys, err := ParseGitHubScanningKeys(`{"public_keys": [{"key_identifier": "k1", "key": ` + jsonString(pub) + `, "is_current": true}]}`)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"token":"kw_x","type":"keyward_api_key","url":"https://github.com/o/r"}]`)
	sign := func(k *ecdsa.PrivateKey, b []byte) string {
		sum := sha256.Sum256(b)
		sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	tests := []struct {
		name, id, sig string
		body          []byte
		ok            bool
	}{
		{"signed by the key", "k1", sign(priv, body), body, true},
		{"signed by another key", "k1", sign(other, body), body, false},
		{"tampered body", "k1", sign(priv, body), append([]byte(" "), body...), false},
		{"unknown identifier", "k2", sign(priv, body), body, false},
		{"no signature", "k1", "", body, false},
		{"not base64", "k1", "%%%", body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyGitHubSignature(keys, tt.id, tt.sig, tt.body)
			if got := err == nil; got != tt.ok {
				t.Errorf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadScanningSignature) {
				t.Errorf("got %v, want ErrBadScanningSignature", err)
			}
		})
	}
}
