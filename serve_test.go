package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// server is a `keyward serve` running in the background of a test.
type server struct {
	url    string
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	code   int           // run's exit status, once done is closed
}

// startServe runs `keyward serve --addr 127.0.0.1:0 args...` and waits until
// it listens.
func (c *cli) startServe(args ...string) *server {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stderr: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	a := c.app("", &syncBuffer{}, s.stderr)
	listening := make(chan string, 1)
	a.onListen = func(url string) { listening <- url }
	go func() {
		defer close(s.done)
		s.code = a.run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...))
	}()
	c.t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
		}
	})
	select {
	case s.url = <-listening:
	case <-s.done:
		c.t.Fatalf("serve exited %d before listening; stderr:\n%s", s.code, s.stderr)
	case <-time.After(30 * time.Second):
		c.t.Fatalf("serve did not listen within 30s; stderr:\n%s", s.stderr)
	}
	return s
}

// stop cancels the server's context, as SIGINT would, and returns its exit
// status.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		return s.code
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s; stderr:\n%s", s.stderr)
		return -1
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestServe starts the real server, verifies a key created with the CLI,
// stops it as a signal would, and checks that the usage recorded by that
// verification was flushed on the way out.
func TestServe(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	key := c.createKey("--user", "ann@example.com", "--name", "svc")
	s := c.startServe()

	if !strings.HasPrefix(s.url, "http://127.0.0.1:") || strings.HasSuffix(s.url, ":0") {
		t.Errorf("got URL %q, want http://127.0.0.1:<bound port>", s.url)
	}
	if code, _ := get(t, s.url+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: got %d, want 200", code)
	}

	resp, err := http.Post(s.url+"/api/v1/keys/verify", "application/json",
		strings.NewReader(`{"key": "`+key+`"}`))
	if err != nil {
		t.Fatalf("POST verify: %v", err)
	}
	var verdict struct {
		Valid bool `json:"valid"`
	}
	err = json.NewDecoder(resp.Body).Decode(&verdict)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !verdict.Valid {
		t.Errorf("POST verify: got status %d valid %v (err %v), want 200 and valid", resp.StatusCode, verdict.Valid, err)
	}

	if code := s.stop(t); code != 0 {
		t.Errorf("got exit %d after cancel, want 0; stderr:\n%s", code, s.stderr)
	}
	stderr := s.stderr.String()
	for _, want := range []string{
		"Open this link to create the first admin: " + s.url + "/setup?token=",
		"msg=listening",
		"msg=stopped",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, key) {
		t.Errorf("stderr contains the key")
	}
	if got := c.listJSON()[0]["last_used_at"]; got == nil {
		t.Errorf("got last_used_at null after a verification and shutdown, want the final flush to record it")
	}
}

// TestServeWithAdminJSONLogs checks that once an admin exists there is no
// setup banner, and that --log-format json makes every stderr line JSON.
func TestServeWithAdminJSONLogs(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	s := c.startServe("--log-format", "json")
	if code, _ := get(t, s.url+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: got %d, want 200", code)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("got exit %d, want 0", code)
	}
	stderr := s.stderr.String()
	if strings.Contains(stderr, "setup") {
		t.Errorf("got a setup link with an admin present:\n%s", stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := newCLI(t)
	r := c.run("", "serve", "--addr", ln.Addr().String())
	wantFailure(t, r, 1, "listen on "+ln.Addr().String())
}
