package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// profile runs bench/profserve (Keyward's wiring plus net/http/pprof on a
// second loopback port) under the same wrk load and saves, per endpoint, a
// CPU profile and the allocations made during the load, with their top
// lists as text. Nothing here ships in the keyward binary.
func (h *harness) profile(ctx context.Context) error {
	cmd := exec.Command(h.path("profserve"), "-db", h.path("verify.db"))
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	logf, err := os.Create(h.path("profserve.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return err
	}
	s := &server{name: "profserve", cmd: cmd, done: make(chan error, 1), started: time.Now()}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("profserve: no addresses: %w", err)
	}
	go func() { s.done <- cmd.Wait() }()
	defer s.stop()
	addrs := strings.Fields(line)
	if len(addrs) != 2 {
		return fmt.Errorf("profserve: odd first line %q", line)
	}
	s.url = addrs[0]
	pprofURL := addrs[1]
	if _, err := s.waitHealthy(10 * time.Second); err != nil {
		return err
	}
	if err := h.precheck(s); err != nil {
		return err
	}
	for _, ep := range endpoints {
		name := strings.TrimSuffix(ep.Script, ".lua")
		h.phase("profile " + ep.Name)
		bg, err := h.startWrk(ep.Script, s.url+ep.KeywardPath, 2*time.Minute)
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Second)
		allocsBefore := h.path(name + ".allocs.before.pprof")
		if err := fetch(pprofURL+"/debug/pprof/allocs", allocsBefore); err != nil {
			return err
		}
		cpu := h.path(name + ".cpu.pprof")
		if err := fetch(pprofURL+"/debug/pprof/profile?seconds=15", cpu); err != nil {
			return err
		}
		allocs := h.path(name + ".allocs.pprof")
		if err := fetch(pprofURL+"/debug/pprof/allocs", allocs); err != nil {
			return err
		}
		res, err := bg.stop()
		if err != nil {
			return err
		}
		progress("%s under profiling: %.0f req/s, p50 %s, p99 %s", ep.Name, res.RPS, res.P50, res.P99)
		for _, v := range []struct{ file, args string }{
			{name + ".cpu.top.txt", "-top -nodecount=40 " + cpu},
			{name + ".cpu.cum.txt", "-top -cum -nodecount=80 " + cpu},
			{name + ".allocs.top.txt", "-top -sample_index=alloc_space -nodecount=40 -diff_base=" + allocsBefore + " " + allocs},
		} {
			args := append([]string{"tool", "pprof"}, strings.Fields(v.args)...)
			args = append(args[:len(args)-1], h.path("profserve"), args[len(args)-1])
			c := exec.CommandContext(ctx, "go", args...)
			c.Dir = h.root
			text, err := c.Output()
			if err != nil {
				return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
			}
			if err := os.WriteFile(h.path(v.file), text, 0o600); err != nil {
				return err
			}
			progress("wrote %s", h.path(v.file))
		}
	}
	return nil
}

func fetch(url, dst string) error {
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
