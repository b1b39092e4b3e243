package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a process the harness started and must stop: Keyward or the
// bare baseline.
type server struct {
	name    string
	cmd     *exec.Cmd
	url     string // http://127.0.0.1:PORT
	log     *os.File
	started time.Time
	done    chan error
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is the harness's environment without KEYWARD_* variables, so the
// operator's own settings cannot change what is measured.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return env
}

// startKeyward runs `keyward serve` from the built binary on dbPath, behind
// a trusted proxy at 127.0.0.1 (see bench/wrk/common.lua), at the default
// log level (info). It returns once the process has started; call
// waitHealthy to know it answers.
//
// --api-rate: the page timings walk the management API's key list as fast
// as they can; the per-token limit (10 calls a second by default) would
// answer 429 and measure the limiter, not the list. Variants (older
// revisions) are started without it: they may not know the flag.
func (h *harness) startKeyward(name, dbPath string) (*server, error) {
	return h.startKeywardBinary(h.path("keyward"), name, dbPath, "--api-rate", "10000")
}

// startKeywardBinary is startKeyward with another build (a variant).
func (h *harness) startKeywardBinary(binary, name, dbPath string, extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logf, err := os.Create(h.path(name + ".log"))
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--db", dbPath, "--addr", addr, "--trusted-proxies", "127.0.0.1"}, extra...)
	cmd := exec.Command(binary, args...) // #nosec G204 -- the harness's own binaries and arguments
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	s := &server{name: name, cmd: cmd, url: "http://" + addr, log: logf, done: make(chan error, 1)}
	s.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { s.done <- cmd.Wait() }()
	return s, nil
}

// startBare runs the baseline server; it prints its URL on the first line.
func (h *harness) startBare() (*server, error) {
	cmd := exec.Command(h.path("bare"), "-addr", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	s := &server{name: "bare", cmd: cmd, done: make(chan error, 1), started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("bare: no address: %w", err)
	}
	s.url = strings.TrimSpace(line)
	go func() { s.done <- cmd.Wait() }()
	return s, nil
}

// waitHealthy polls /healthz every millisecond until it answers 200 and
// returns the time since the process was started.
func (s *server) waitHealthy(timeout time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			return 0, fmt.Errorf("%s exited during start-up (%v); see its log", s.name, err)
		default:
		}
		resp, err := c.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(s.started), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("%s: /healthz did not answer within %s", s.name, timeout)
}

// stop sends SIGTERM (a graceful shutdown that flushes usage) and waits;
// after 20 s it kills the process.
func (s *server) stop() error {
	if s == nil {
		return nil
	}
	defer func() {
		if s.log != nil {
			s.log.Close()
		}
	}()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == -1 {
			return nil // ended by the signal
		}
		return err
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("%s did not stop within 20 s; killed", s.name)
	}
}

// procCPU returns the CPU time (user + system, all threads) a process has
// used, from /proc/PID/stat, in clock ticks of 10 ms (USER_HZ is 100 on
// Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are plain.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// procStatus reads a field of /proc/PID/status in bytes (VmRSS, VmHWM).
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		parts := strings.Fields(rest)
		if len(parts) != 2 || parts[1] != "kB" {
			return 0, fmt.Errorf("/proc/%d/status: odd %s line %q", pid, field, sc.Text())
		}
		kb, err := strconv.ParseInt(parts[0], 10, 64)
		return kb * 1024, err
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// run runs a command to completion with a deadline, sending its output to
// the harness's stderr, and returns its combined output when it fails.
func runCmd(ctx context.Context, timeout time.Duration, dir string, env []string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// cpuBusy samples /proc/stat over d and returns the share of CPU time spent
// busy across all cores: the harness's way of telling whether the machine
// was quiet.
func cpuBusy(d time.Duration) (float64, error) {
	read := func() (busy, total uint64, err error) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0, err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			return 0, 0, errors.New("/proc/stat: unexpected format")
		}
		for i, v := range f[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, err
			}
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, total, nil
	}
	b1, t1, err := read()
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	b2, t2, err := read()
	if err != nil {
		return 0, err
	}
	if t2 == t1 {
		return 0, nil
	}
	return float64(b2-b1) / float64(t2-t1), nil
}

// loadAvg returns the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return f[0]
}
