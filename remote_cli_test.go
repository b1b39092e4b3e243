package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// wellFormedToken is a management token with a valid checksum that no
// server issued.
func wellFormedToken(t *testing.T) string {
	t.Helper()
	tok, err := db.GenerateAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRemoteRefusedBeforeAnyRequest: what the CLI refuses before it sends
// anything: no token, something that is not a management token (an API
// key must never be sent to a server as a credential of another kind), a
// token over plain http to another machine, a URL it cannot use, and the
// commands that have no remote form. None of them opens the database.
func TestRemoteRefusedBeforeAnyRequest(t *testing.T) {
	c := newCLI(t)
	tok := wellFormedToken(t)
	key, err := db.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// The last character changed (a checksum character): one in 62
	// tokens already ends in "x", which would leave it well-formed.
	mangled := tok[:len(tok)-1] + "x"
	if strings.HasSuffix(tok, "x") {
		mangled = tok[:len(tok)-1] + "y"
	}
	tests := []struct {
		name, server, token string
		args                []string
		want                string
	}{
		{"no token", "https://keys.example.com", "", []string{"keys", "list"},
			"KEYWARD_SERVER needs a management token in KEYWARD_TOKEN (there is no flag for it"},
		{"an API key as token", "https://keys.example.com", key, []string{"keys", "list"},
			"KEYWARD_TOKEN is not a management token (kwt_…"},
		{"a mangled token", "https://keys.example.com", mangled, []string{"keys", "list"},
			"KEYWARD_TOKEN is not a management token"},
		{"http to another host", "http://keys.example.com", tok, []string{"keys", "list"},
			"KEYWARD_SERVER: refusing http:// to keys.example.com"},
		{"http to a LAN address", "http://10.0.0.5:8080", tok, []string{"keys", "revoke", "1"},
			"refusing http:// to 10.0.0.5:8080"},
		{"no scheme", "keys.example.com", tok, []string{"keys", "list"}, "is not a server URL"},
		{"another scheme", "ftp://keys.example.com", tok, []string{"keys", "list"}, "is not a server URL"},
		{"credentials in the URL", "https://ann:pw@keys.example.com", tok, []string{"keys", "list"}, "put no credentials in the URL"},
		{"user add", "https://keys.example.com", tok, []string{"user", "add", "--email", "x@example.com"}, "has no remote form"},
		{"keys transfer", "https://keys.example.com", tok, []string{"keys", "transfer", "1", "--to-team", "t"}, "has no remote form"},
		{"backup", "https://keys.example.com", tok, []string{"backup", "x.db"}, "has no remote form"},
		{"scopes", "https://keys.example.com", tok, []string{"scopes", "list"}, "has no remote form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.remote(tt.server, tt.token).run("", tt.args...)
			wantFailure(t, r, 1, tt.want)
			if strings.Contains(r.stderr, tok) || strings.Contains(r.stderr, key) {
				t.Errorf("stderr %q repeats the token", r.stderr)
			}
		})
	}
	// The flag wins over the environment, as for every option.
	r := c.remote("https://keys.example.com", "").run("", "keys", "list", "--server", "http://keys.example.com")
	wantFailure(t, r, 1, "--server: refusing http://")
}

// TestRemoteAllowedServers: https anywhere, http to loopback, and http
// elsewhere with --insecure-http (flag or variable) are accepted, the
// URL's path kept as a prefix.
func TestRemoteAllowedServers(t *testing.T) {
	tok := wellFormedToken(t)
	tests := []struct {
		server   string
		insecure string // KEYWARD_INSECURE_HTTP
		flags    []string
		wantBase string
	}{
		{"https://keys.example.com/", "", nil, "https://keys.example.com"},
		{"https://keys.example.com/keyward/", "", nil, "https://keys.example.com/keyward"},
		{"http://127.0.0.1:8080", "", nil, "http://127.0.0.1:8080"},
		{"http://localhost:8080", "", nil, "http://localhost:8080"},
		{"http://[::1]:8080", "", nil, "http://[::1]:8080"},
		{"http://keys.internal", "", []string{"--insecure-http"}, "http://keys.internal"},
		{"http://keys.internal", "true", nil, "http://keys.internal"},
	}
	for _, tt := range tests {
		t.Run(tt.server+" "+strings.Join(tt.flags, " "), func(t *testing.T) {
			env := map[string]string{"KEYWARD_SERVER": tt.server, "KEYWARD_TOKEN": tok, "KEYWARD_INSECURE_HTTP": tt.insecure}
			a := &app{env: func(k string) string { return env[k] }, g: newGlobals()}
			if _, err := a.parse(a.newFlagSet("t"), tt.flags, false, ""); err != nil {
				t.Fatal(err)
			}
			rc, err := a.remote()
			if err != nil {
				t.Fatalf("remote: %v", err)
			}
			if rc.base != tt.wantBase {
				t.Errorf("got base %q, want %q", rc.base, tt.wantBase)
			}
		})
	}
	env := map[string]string{"KEYWARD_SERVER": "http://keys.internal", "KEYWARD_TOKEN": tok, "KEYWARD_INSECURE_HTTP": "maybe"}
	a := &app{env: func(k string) string { return env[k] }, g: newGlobals()}
	if _, err := a.remote(); err == nil || !strings.Contains(err.Error(), `KEYWARD_INSECURE_HTTP: "maybe" is not true or false`) {
		t.Errorf("KEYWARD_INSECURE_HTTP=maybe: got %v, want it refused", err)
	}
}

// TestRemoteTokenRefused: a server's refusal of the token is one line on
// stderr with the problem's detail, status and code, and nothing on
// stdout: an unknown token, a revoked one, and one whose person was
// disabled.
func TestRemoteTokenRefused(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.addUser("bob@example.com", false)
	revoked := c.apiToken("ann@example.com")
	bobs := c.apiToken("bob@example.com")
	store := c.store()
	ann, err := store.GetUserByEmail(context.Background(), "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	toks, err := store.ListAPITokens(context.Background(), ann.ID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("ann's tokens: %v %v", toks, err)
	}
	if _, err := store.RevokeAPIToken(context.Background(), ann.ID, toks[0].ID, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	c.ok("", "user", "disable", "bob@example.com")
	s := c.startServe()

	tests := []struct {
		name, token string
		args        []string
		want        string
	}{
		{"unknown token", wellFormedToken(t), []string{"keys", "list"}, "(401 INVALID_TOKEN)"},
		{"revoked token", revoked, []string{"keys", "list", "--json"}, "(401 TOKEN_REVOKED)"},
		{"disabled person", bobs, []string{"keys", "create", "--name", "x"}, "(401 OWNER_DISABLED)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.remote(s.url, tt.token).run("", tt.args...)
			wantFailure(t, r, 1, tt.want)
			if strings.Contains(r.stderr, tt.token) {
				t.Errorf("stderr %q repeats the token", r.stderr)
			}
		})
	}
	// A URL that is not a Keyward answers no problem+json.
	r := c.remote(s.url+"/nowhere", wellFormedToken(t)).run("", "keys", "list")
	wantFailure(t, r, 1, "the server answered 404 Not Found (is --server the URL of a Keyward?)")
}

// TestRemoteUnreachableOrRedirected: a server that does not answer, and
// one that redirects (which could lead the token elsewhere, or to plain
// http), are one error line each; the redirect is not followed.
func TestRemoteUnreachableOrRedirected(t *testing.T) {
	c := newCLI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	followed := make(chan string, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed <- r.Header.Get("Authorization")
	}))
	defer target.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
	}))
	defer redirecting.Close()

	tok := wellFormedToken(t)
	wantFailure(t, c.remote(closed, tok).run("", "keys", "list"), 1, "call the server: ")
	r := c.remote(redirecting.URL, tok).run("", "keys", "list")
	wantFailure(t, r, 1, "the server redirects to "+target.URL+"/api/v1/me: set --server to the URL it redirects to")
	select {
	case auth := <-followed:
		t.Errorf("the redirect was followed (Authorization %q)", auth)
	default:
	}
}
