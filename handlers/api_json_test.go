package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// plainVerifyBody is the oracle of FuzzDecodeVerifyRequest, from
// encoding/json's tokenizer: body is one JSON object whose members are
// named exactly "key" or "scope" (after unescaping), each at most once,
// with string or null values, in valid UTF-8, and nothing follows it.
func plainVerifyBody(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		name, ok := tok.(string)
		if err != nil || !ok || (name != "key" && name != "scope") || seen[name] {
			return false
		}
		seen[name] = true
		tok, err = dec.Token()
		if _, isString := tok.(string); err != nil || (!isString && tok != nil) {
			return false
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return false
	}
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}

// FuzzDecodeVerifyRequest: the verify body decoder accepts exactly the
// plain bodies (plainVerifyBody), and reads from them what encoding/json
// reads. Anything it accepts has no second reading: no differently cased
// or repeated name that another JSON library would take for key or scope.
// The one difference allowed: an escaped lone surrogate (\ud800), which
// encoding/json turns into U+FFFD and the decoder refuses as invalid
// UTF-8.
func FuzzDecodeVerifyRequest(f *testing.F) {
	for _, s := range []string{
		`{"key":"kw_abc"}`, `{"key":"a","scope":"b"}`, ` { "scope":"s" } `, `{"key":"a","key":"b"}`,
		`{"Key":"a"}`, `{"key":"\""}`, `{"key":"a"} x`, `{"key":"a",}`, `null`, `{"key":null}`,
		`{"\u006bey":"a"}`, `{"key":"a","\u006bey":"b"}`, `{"key":"a","SCOPE":""}`, `{"key":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeVerifyRequest(body)
		plain := plainVerifyBody(body)
		if err == nil && !plain {
			t.Fatalf("body %q: accepted, but it is not a plain key/scope object", body)
		}
		if err != nil {
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != 400 || he.Code != "INVALID_JSON" {
				t.Fatalf("body %q: got error %v, want a 400 INVALID_JSON", body, err)
			}
			if plain && !strings.Contains(strings.ToLower(string(body)), `\ud`) {
				t.Fatalf("body %q: refused a plain key/scope object: %s", body, he.Message)
			}
			return
		}
		var want verifyRequest
		if err := json.Unmarshal(body, &want); err != nil || got != want {
			t.Fatalf("body %q: got %+v, encoding/json reads %+v (%v)", body, got, want, err)
		}
	})
}
