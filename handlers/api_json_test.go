package handlers

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The verify API's hand-written JSON must be exactly encoding/json's: the
// encoder byte for byte, the decoder in meaning.

func encodingJSON(t testing.TB, r verifyResponse) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return buf.String()
}

func TestVerifyResponseJSONMatchesEncodingJSON(t *testing.T) {
	exp := time.Date(2027, 1, 31, 12, 30, 0, 0, time.UTC)
	expMs := time.UnixMilli(1798720245123).UTC()
	expNano := time.Date(2027, 1, 31, 12, 30, 0, 120, time.UTC)
	tests := []struct {
		name string
		r    verifyResponse
	}{
		{"refused", verifyResponse{Code: "NOT_FOUND"}},
		{"nothing", verifyResponse{}},
		{"valid", verifyResponse{Valid: true, Key: &verifyKey{ID: 42, Name: "deploy bot", Owner: "ada@example.com", Scopes: []string{}, ExpiresAt: nil}}},
		{"scopes and expiry", verifyResponse{Valid: true, Key: &verifyKey{ID: 1, Name: "ci", Owner: "o@example.com", Scopes: []string{"read", "write:all"}, ExpiresAt: &exp}}},
		{"millisecond expiry", verifyResponse{Valid: true, Key: &verifyKey{ID: 1, Name: "ci", Owner: "o", Scopes: []string{"a"}, ExpiresAt: &expMs}}},
		{"nanosecond expiry", verifyResponse{Valid: true, Key: &verifyKey{ID: 1, Name: "ci", Owner: "o", Scopes: []string{"a"}, ExpiresAt: &expNano}}},
		{"nil scopes", verifyResponse{Valid: true, Key: &verifyKey{ID: 1, Name: "n", Owner: "o"}}},
		{"html and quotes", verifyResponse{Valid: true, Key: &verifyKey{ID: -3, Name: `<script>"&'\`, Owner: "a&b@example.com", Scopes: []string{"<x>"}}}},
		{"unicode", verifyResponse{Valid: true, Key: &verifyKey{ID: 7, Name: "clé d’accès 🔑", Owner: "ünï@example.com", Scopes: []string{}}}},
		{"controls and separators", verifyResponse{Valid: true, Key: &verifyKey{ID: 7, Name: "a\tb\nc\x00\x7f\u2028\u2029", Owner: "o", Scopes: []string{}}}},
		{"invalid utf-8", verifyResponse{Valid: true, Key: &verifyKey{ID: 7, Name: "bad \xff\xfe", Owner: "o", Scopes: []string{"\xc3"}}}},
		{"code with html", verifyResponse{Code: "<&>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.r.appendJSON(nil))
			if want := encodingJSON(t, tt.r); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func FuzzVerifyResponseJSON(f *testing.F) {
	f.Add(true, "", int64(42), "deploy bot", "ada@example.com", "read", int64(1798720245123000000), true)
	f.Add(false, "REVOKED", int64(0), "", "", "", int64(0), false)
	f.Add(true, "", int64(-1), "<\u2028\xff>", "\"\\", "a b", int64(-62135596800000000), true)
	f.Fuzz(func(t *testing.T, valid bool, code string, id int64, name, owner, scope string, expNanos int64, hasExp bool) {
		r := verifyResponse{Valid: valid, Code: code}
		if valid {
			k := &verifyKey{ID: id, Name: name, Owner: owner, Scopes: strings.Fields(scope)}
			if k.Scopes == nil {
				k.Scopes = []string{}
			}
			if hasExp {
				e := time.Unix(0, expNanos).UTC()
				k.ExpiresAt = &e
			}
			r.Key = k
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(r); err != nil {
			t.Skip("encoding/json refuses it too") // only times outside years 0-9999
		}
		if got := string(r.appendJSON(nil)); got != buf.String() {
			t.Errorf("got  %s\nwant %s", got, buf.String())
		}
	})
}

// sameAsUnmarshal checks decodeVerifyRequest against json.Unmarshal.
func sameAsUnmarshal(t *testing.T, body string) {
	t.Helper()
	var want verifyRequest
	wantErr := json.Unmarshal([]byte(body), &want)
	got, err := decodeVerifyRequest([]byte(body))
	if (err != nil) != (wantErr != nil) || got != want {
		t.Errorf("body %q: got %+v, %v; want %+v, %v", body, got, err, want, wantErr)
	}
}

func TestDecodeVerifyRequestMatchesUnmarshal(t *testing.T) {
	key := "kw_" + strings.Repeat("a", 49)
	tests := []struct {
		body string
		fast bool // the fast path decides it
	}{
		{`{"key":"` + key + `"}`, true},
		{`{"key":"` + key + `","scope":"read"}`, true},
		{" \t\r\n{ \"scope\" : \"read\" ,\n\"key\" : \"" + key + "\" }\n", true},
		{`{}`, true},
		{`{"key":"a","key":"b"}`, true},
		{`{"key":""}`, true},
		{`{"KEY":"` + key + `"}`, false},
		{`{"Scope":"read","key":"x"}`, false},
		{`{"key":"\u006bw_x"}`, false},
		{`{"key":"é"}`, false},
		{`{"key":null}`, false},
		{`{"key":1}`, false},
		{`{"key":"x","other":{"a":[1,2]}}`, false},
		{`{"key":"x"} trailing`, false},
		{`{"key":"x"}{}`, false},
		{`{"key":"x",}`, false},
		{`{"key" "x"}`, false},
		{`{"key":"x"`, false},
		{`{"key":"x` + "\x01" + `"}`, false},
		{`null`, false},
		{`[]`, false},
		{`"key"`, false},
		{`{`, false},
		{``, false},
	}
	for _, tt := range tests {
		sameAsUnmarshal(t, tt.body)
		if _, ok := decodeVerifyFast([]byte(tt.body)); ok != tt.fast {
			t.Errorf("body %q: fast path took it = %v, want %v", tt.body, ok, tt.fast)
		}
	}
}

func FuzzDecodeVerifyRequest(f *testing.F) {
	for _, s := range []string{
		`{"key":"kw_abc"}`, `{"key":"a","scope":"b"}`, ` { "scope":"s" } `, `{"key":"a","key":"b"}`,
		`{"Key":"a"}`, `{"key":"\""}`, `{"key":"a"} x`, `{"key":"a",}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodeVerifyFast(body)
		if !ok {
			return
		}
		var want verifyRequest
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("body %q: fast path accepted what json.Unmarshal refuses: %v", body, err)
		}
		if got != want {
			t.Fatalf("body %q: fast path got %+v, json.Unmarshal %+v", body, got, want)
		}
	})
}
