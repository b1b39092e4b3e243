package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web"
)

// Leak reports (docs/security.md, "Leaked keys"): can the answer's timing
// tell a real key from a guess, and how soon after GitHub's report is a key
// refused? Measured in process (web.New on a fresh SQLite file, over
// loopback HTTP), since the answer floor is a web.Config field and not a
// flag: once with the floor off (the raw difference between the two
// database paths) and once with the default floor.

// leakResult is the phase's figures.
type leakResult struct {
	// Raw and Floored are the answer times of reports of real keys and of
	// unknown ones, without the floor and with the default one.
	Raw, Floored leakTiming
	Floor        time.Duration
	// GitHubAnswer is the signed request's round trip; GitHubRefused the
	// time from sending it to the first refused verification after it.
	GitHubAnswer, GitHubRefused latency
}

// leakTiming is one run of interleaved reports.
type leakTiming struct {
	Known, Unknown latency
}

// Report counts: reports per key kind without and with the floor, and
// GitHub requests (one key each).
const (
	leakRawReports     = 300
	leakFlooredReports = 60
	leakGitHubRequests = 30
)

// leakReports is the phase: h.res.Leaks.
func (h *harness) leakReports(ctx context.Context) error {
	r, err := measureLeaks(ctx, h.outDir)
	if err != nil {
		return err
	}
	h.res.Leaks = r
	progress("leak reports: raw known p50 %s p99 %s, unknown p50 %s p99 %s; floored known p50 %s, unknown p50 %s; GitHub to refused p50 %s p99 %s",
		ms(r.Raw.Known.P50), ms(r.Raw.Known.P99), ms(r.Raw.Unknown.P50), ms(r.Raw.Unknown.P99),
		ms(r.Floored.Known.P50), ms(r.Floored.Unknown.P50), ms(r.GitHubRefused.P50), ms(r.GitHubRefused.P99))
	return nil
}

// measureLeaks runs the measurement on a fresh database in dir.
func measureLeaks(ctx context.Context, dir string) (leakResult, error) {
	var res leakResult
	path := filepath.Join(dir, "leaks.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix) // a previous run's database
	}
	store, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		return res, err
	}
	defer store.Close()
	owner, err := store.CreateUser(ctx, "leaks@bench.example", "bench leak owner password 42", db.RoleMember, db.CLIActor())
	if err != nil {
		return res, err
	}
	newKeys := func(n int) ([]string, error) {
		keys := make([]string, n)
		for i := range keys {
			_, secret, err := store.CreateKey(ctx, owner.ID, db.KeyInput{Name: fmt.Sprintf("leak %d", i)}, db.CLIActor())
			if err != nil {
				return nil, err
			}
			keys[i] = secret
		}
		return keys, nil
	}
	verifier := db.NewVerifier(store, db.VerifierOptions{})
	vctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { verifier.Run(vctx); close(ran) }()
	defer func() { stop(); <-ran }() // the last flush before the store closes

	serve := func(floor time.Duration) (*httptest.Server, error) {
		cfg := web.Config{LeakAnswerFloor: floor, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
		srv, err := web.New(cfg, store, verifier)
		if err != nil {
			return nil, err
		}
		return httptest.NewServer(srv.Handler()), nil
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: newTransport()}
	defer c.CloseIdleConnections()

	for _, run := range []struct {
		floor time.Duration
		n     int
		into  *leakTiming
	}{{-1, leakRawReports, &res.Raw}, {0, leakFlooredReports, &res.Floored}} {
		keys, err := newKeys(run.n)
		if err != nil {
			return res, err
		}
		ts, err := serve(run.floor)
		if err != nil {
			return res, err
		}
		known, unknown, err := timeReports(ctx, c, ts.URL, keys)
		ts.Close()
		if err != nil {
			return res, err
		}
		run.into.Known, run.into.Unknown = summarize(known), summarize(unknown)
	}
	res.Floor = 250 * time.Millisecond // handlers.DefaultLeakAnswerFloor, what floor 0 means

	answer, refused, err := timeGitHub(ctx, c, store, newKeys, serve)
	if err != nil {
		return res, err
	}
	res.GitHubAnswer, res.GitHubRefused = summarize(answer), summarize(refused)
	return res, nil
}

// timeReports reports each of keys and as many unknown keys, alternating,
// each from its own address (the per-address allowance is not measured
// here), and returns the answer times of each kind.
func timeReports(ctx context.Context, c *http.Client, base string, keys []string) (known, unknown []time.Duration, err error) {
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		guess, err := db.GenerateKey()
		if err != nil {
			return nil, nil, err
		}
		for j, key := range []string{k, guess} {
			ip := fmt.Sprintf("10.%d.%d.%d", j, i/250, i%250+1)
			d, err := postReport(c, base, key, ip)
			if err != nil {
				return nil, nil, err
			}
			if j == 0 {
				known = append(known, d)
			} else {
				unknown = append(unknown, d)
			}
		}
	}
	return known, unknown, nil
}

// postReport sends one report and times it to the end of the answer.
func postReport(c *http.Client, base, key, ip string) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/keys/report-leak", strings.NewReader(`{"key":`+jsonString(key)+`}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("report-leak: status %d", resp.StatusCode)
	}
	return d, nil
}

// timeGitHub configures a GitHub key, then for each of its keys: verifies
// it (so the server holds it in its cache), sends a signed GitHub request
// reporting it, and verifies it until refused.
func timeGitHub(ctx context.Context, c *http.Client, store *db.Store, newKeys func(int) ([]string, error),
	serve func(time.Duration) (*httptest.Server, error)) (answer, refused []time.Duration, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	doc := `{"public_keys":[{"key_identifier":"bench","is_current":true,"key":` +
		jsonString(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))) + `}]}`
	if err := store.SetGitHubScanningKeys(ctx, doc, db.CLIActor()); err != nil {
		return nil, nil, err
	}
	keys, err := newKeys(leakGitHubRequests)
	if err != nil {
		return nil, nil, err
	}
	ts, err := serve(-1)
	if err != nil {
		return nil, nil, err
	}
	defer ts.Close()
	for _, k := range keys {
		if valid, code, err := verifyKey(c, ts.URL, k); err != nil || !valid {
			return nil, nil, fmt.Errorf("key before its report: valid=%v %s %v", valid, code, err)
		}
		body, _ := json.Marshal([]map[string]string{{"token": k, "type": "keyward_api_key", "url": "https://github.com/bench/repo/blob/main/.env", "source": "content"}})
		sum := sha256.Sum256(body)
		sig, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
		if err != nil {
			return nil, nil, err
		}
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/secret-scanning/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Github-Public-Key-Identifier", "bench")
		req.Header.Set("Github-Public-Key-Signature", base64.StdEncoding.EncodeToString(sig))
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return nil, nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answer = append(answer, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			return nil, nil, fmt.Errorf("secret scanning: status %d", resp.StatusCode)
		}
		deadline := start.Add(10 * time.Second)
		for {
			valid, _, err := verifyKey(c, ts.URL, k)
			if err != nil {
				return nil, nil, err
			}
			if !valid {
				refused = append(refused, time.Since(start))
				break
			}
			if time.Now().After(deadline) {
				return nil, nil, fmt.Errorf("a key reported by GitHub still verified 10 s later")
			}
		}
	}
	return answer, refused, nil
}
