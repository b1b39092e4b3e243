package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want config
	}{
		{
			name: "defaults",
			want: config{Addr: "localhost:8080", DBPath: "./data/keyward.db", LogFormat: "text",
				SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour, APIRate: 10, NotifyLease: 2 * time.Minute},
		},
		{
			name: "environment beats default",
			env: map[string]string{"KEYWARD_ADDR": ":9000", "KEYWARD_DB": "/var/lib/k.db",
				"KEYWARD_BASE_URL": "https://keys.example.com/", "KEYWARD_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
				"KEYWARD_LOG_FORMAT": "json", "KEYWARD_SESSION_IDLE": "10m", "KEYWARD_SESSION_ABSOLUTE": "8h",
				"KEYWARD_METRICS_TOKEN": "0123456789abcdef", "KEYWARD_API_RATE": "0.5", "KEYWARD_NOTIFY_LEASE": "5s"},
			want: config{Addr: ":9000", DBPath: "/var/lib/k.db", BaseURL: "https://keys.example.com",
				TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")},
				LogFormat:      "json", SessionIdle: 10 * time.Minute, SessionAbsolute: 8 * time.Hour,
				MetricsToken: "0123456789abcdef", APIRate: 0.5, NotifyLease: 5 * time.Second},
		},
		{
			name: "flag beats environment",
			env:  map[string]string{"KEYWARD_ADDR": ":9000", "KEYWARD_LOG_FORMAT": "json", "KEYWARD_SESSION_IDLE": "garbage"},
			args: []string{"--addr", "127.0.0.1:7000", "--log-format=text", "--session-idle", "5m"},
			want: config{Addr: "127.0.0.1:7000", DBPath: "./data/keyward.db", LogFormat: "text",
				SessionIdle: 5 * time.Minute, SessionAbsolute: 12 * time.Hour, APIRate: 10, NotifyLease: 2 * time.Minute},
		},
		{
			name: "flag given the default value still wins",
			env:  map[string]string{"KEYWARD_ADDR": ":9000"},
			args: []string{"--addr", "localhost:8080"},
			want: config{Addr: "localhost:8080", DBPath: "./data/keyward.db", LogFormat: "text",
				SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour, APIRate: 10, NotifyLease: 2 * time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGlobals()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			g.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := g.load(func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if !equalJSON(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad proxy in env", map[string]string{"KEYWARD_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, nil,
			`KEYWARD_TRUSTED_PROXIES: "proxy.local" is not an IP address`},
		{"bad CIDR flag", nil, []string{"--trusted-proxies", "10.0.0.0/33"}, `--trusted-proxies: "10.0.0.0/33" is not a CIDR`},
		{"bad log format", map[string]string{"KEYWARD_LOG_FORMAT": "xml"}, nil, `KEYWARD_LOG_FORMAT: "xml" is not a log format`},
		{"bad idle", nil, []string{"--session-idle", "forever"}, `--session-idle: "forever" is not a positive duration`},
		{"negative absolute", map[string]string{"KEYWARD_SESSION_ABSOLUTE": "-1h"}, nil, "KEYWARD_SESSION_ABSOLUTE"},
		{"empty db flag", nil, []string{"--db", " "}, "--db: give the path"},
		{"short metrics token", map[string]string{"KEYWARD_METRICS_TOKEN": "hunter2"}, nil, "KEYWARD_METRICS_TOKEN: use at least 16 characters"},
		{"metrics token with a space", nil, []string{"--metrics-token", "0123456789 abcdef"}, "--metrics-token: use visible ASCII"},
		{"api rate zero", map[string]string{"KEYWARD_API_RATE": "0"}, nil, `KEYWARD_API_RATE: "0" is not a number of calls a second`},
		{"api rate word", nil, []string{"--api-rate", "fast"}, `--api-rate: "fast" is not a number`},
		{"notify lease under a second", nil, []string{"--notify-lease", "500ms"}, `--notify-lease: "500ms" is not a duration of at least 1s`},
		{"notify lease word", map[string]string{"KEYWARD_NOTIFY_LEASE": "long"}, nil, `KEYWARD_NOTIFY_LEASE: "long" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGlobals()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			g.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			_, err := g.load(func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
			for _, secret := range []string{"hunter2", "0123456789 abcdef"} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats the metrics token", err)
				}
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "[]", false},
		{"10.0.0.0/8", "[10.0.0.0/8]", false},
		{"10.1.2.3/8", "[10.0.0.0/8]", false},
		{" 192.0.2.7 , 2001:db8::/32 ,", "[192.0.2.7/32 2001:db8::/32]", false},
		{"::1", "[::1/128]", false},
		{"fe80::1%eth0", "", true},
		{"10.0.0.0/8;10.1.0.0/16", "", true},
		{"localhost", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTrustedProxies(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			s := "["
			for i, p := range got {
				if i > 0 {
					s += " "
				}
				s += p.String()
			}
			if s += "]"; s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

// TestGlobalFlagPosition checks that global flags work before and after the
// subcommand, and beat their environment twin either way.
func TestGlobalFlagPosition(t *testing.T) {
	a, b := newCLI(t), newCLI(t)
	a.addUser("ann@example.com", false)
	b.addUser("bob@example.com", false)
	b.createKey("--user", "bob@example.com", "--name", "in-b")

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"env only", []string{"keys", "list", "--json"}, 0},
		{"flag after subcommand", []string{"keys", "list", "--json", "--db", b.dbPath}, 1},
		{"flag before subcommand", []string{"--db", b.dbPath, "keys", "list", "--json"}, 1},
		{"flag between commands", []string{"keys", "--db", b.dbPath, "list", "--json"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.listJSONArgs(tt.args...); len(got) != tt.want {
				t.Errorf("got %d keys, want %d", len(got), tt.want)
			}
		})
	}
	r := a.run("", "keys", "list", "--trusted-proxies", "nonsense")
	wantFailure(t, r, 1, `--trusted-proxies: "nonsense"`)
}

func TestVersionAndHelp(t *testing.T) {
	env := func(string) string { return "" }
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"version"}, 0, versionString() + "\n", ""},
		{"help", []string{"help"}, 0, "keyward keys create --user E --name N", ""},
		{"help keys", []string{"help", "keys"}, 0, "--expires  never (default)", ""},
		{"-h", []string{"-h"}, 0, "Usage:", ""},
		{"keys create -h", []string{"keys", "create", "-h"}, 0, "KEYWARD_DB", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", "keyward: unknown command \"frobnicate\""},
		{"help for unknown", []string{"help", "frobnicate"}, 2, "", "no help for"},
		{"unknown global flag", []string{"--verbose"}, 2, "", "-verbose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, env, strings.NewReader(""), &out, &errb)
			if code != tt.code {
				t.Errorf("got exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if tt.wantStdout == "" && out.Len() > 0 {
				t.Errorf("got stdout %q, want nothing", out.String())
			}
			if !strings.Contains(out.String(), tt.wantStdout) {
				t.Errorf("got stdout %q, want it to contain %q", out.String(), tt.wantStdout)
			}
			if !strings.Contains(errb.String(), tt.wantStderr) {
				t.Errorf("got stderr %q, want it to contain %q", errb.String(), tt.wantStderr)
			}
		})
	}
}

func TestLocalURL(t *testing.T) {
	tests := []struct {
		addr  string
		bound net.Addr
		want  string
	}{
		{"localhost:8080", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://localhost:8080"},
		{"127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}, "http://127.0.0.1:41234"},
		{":8080", &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "http://localhost:8080"},
		{"0.0.0.0:9000", &net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "http://localhost:9000"},
		{"[::1]:8080", &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "http://[::1]:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := localURL(tt.addr, tt.bound); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestUserAddCreatesDatabase checks that the first command an operator may
// run, adding the first admin, creates the database and its directory.
func TestUserAddCreatesDatabase(t *testing.T) {
	c := newCLI(t)
	c.dbPath = filepath.Join(t.TempDir(), "nested", "dir", "keyward.db")
	c.env["KEYWARD_DB"] = c.dbPath
	c.addUser("ann@example.com", true)
	if got := c.listJSON(); len(got) != 0 {
		t.Errorf("got %d keys in a new database, want 0", len(got))
	}
}
