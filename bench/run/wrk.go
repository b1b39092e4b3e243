package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests     int64
	RPS          float64
	P50, P99     time.Duration
	Non2xx       int64
	SocketErrors string        // "" when there were none
	CPUPerReq    time.Duration // server CPU time per request, when measured
}

// wrkArgs are the fixed load parameters: 2 threads (one per core; the
// server shares them) and 64 connections, with latency percentiles.
func (h *harness) wrkArgs(script, url string, d time.Duration) []string {
	return []string{"-t", strconv.Itoa(h.opt.threads), "-c", strconv.Itoa(h.opt.conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", "-s", h.script(script), url,
		"--", h.wrkKeys[0], h.wrkKeys[1]}
}

func (h *harness) script(name string) string { return h.root + "/bench/wrk/" + name }

// runWrk runs wrk for d and parses its report.
func (h *harness) runWrk(ctx context.Context, script, url string, d time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.wrkPath, h.wrkArgs(script, url, d)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out.String())
	}
	return parseWrk(out.String())
}

// runWrkOn runs wrk against s and also measures the CPU time s spent per
// request: a figure that other work on the machine distorts far less than
// requests per second.
func (h *harness) runWrkOn(ctx context.Context, s *server, script, path string, d time.Duration) (wrkResult, error) {
	pid := s.cmd.Process.Pid
	c0, err := procCPU(pid)
	if err != nil {
		return wrkResult{}, err
	}
	res, err := h.runWrk(ctx, script, s.url+path, d)
	if err != nil {
		return res, err
	}
	c1, err := procCPU(pid)
	if err != nil {
		return res, err
	}
	if res.Requests > 0 {
		res.CPUPerReq = (c1 - c0) / time.Duration(res.Requests)
	}
	return res, nil
}

// bgWrk is a wrk run in the background, stopped with SIGINT (after which
// wrk still prints its report).
type bgWrk struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

func (h *harness) startWrk(script, url string, max time.Duration) (*bgWrk, error) {
	b := &bgWrk{done: make(chan error, 1)}
	b.cmd = exec.Command(h.wrkPath, h.wrkArgs(script, url, max)...)
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { b.done <- b.cmd.Wait() }()
	return b, nil
}

func (b *bgWrk) stop() (wrkResult, error) {
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
		return wrkResult{}, fmt.Errorf("wrk did not stop on SIGINT; killed")
	}
	return parseWrk(b.out.String())
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reReqs     = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr  = regexp.MustCompile(`Socket errors:\s+(.*)`)
	rePercent  = regexp.MustCompile(`^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	wrkUnitDur = map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}
)

func parseWrk(s string) (wrkResult, error) {
	var r wrkResult
	m := reRPS.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("wrk: no Requests/sec in its report:\n%s", s)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reReqs.FindStringSubmatch(s); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reNon2xx.FindStringSubmatch(s); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSockErr.FindStringSubmatch(s); m != nil {
		r.SocketErrors = strings.TrimSpace(m[1])
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		m := rePercent.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		d := time.Duration(v * float64(wrkUnitDur[m[3]]))
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return r, fmt.Errorf("wrk: no latency distribution in its report:\n%s", s)
	}
	return r, nil
}
