package db

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestUAFamily(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"", ""},
		{"   ", ""},
		{"curl/8.4.0", "curl"},
		{"python-requests/2.31.0", "python-requests"},
		{"Go-http-client/1.1", "Go-http-client"},
		{"okhttp/4.12.0", "okhttp"},
		{"Wget/1.21.4 (linux-gnu)", "Wget"},
		{"svc", "svc"},
		{"my tool (v2)", "my"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "Edge"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", "Safari"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1", "Chrome"},
		{"Mozilla/5.0 (compatible; Bot/1.0)", "Mozilla"},
		{"\x00evil/1", ""},
		{"ünïcode/1", ""},
		{"a-very-long-product-name-that-goes-on-and-on-and-on/1.0", "a-very-long-product-name-that-goes-on-an"},
	}
	for _, tt := range tests {
		if got := uaFamily(tt.ua); got != tt.want {
			t.Errorf("uaFamily(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}

func TestNetworkOf(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"198.51.100.7", "198.51.100.0/24"},
		{"198.51.100.255", "198.51.100.0/24"},
		{"::ffff:198.51.100.7", "198.51.100.0/24"},
		{"2001:db8:1:2::7", "2001:db8:1::/48"},
		{"fe80::1%eth0", "fe80::/48"},
		{"", ""},
		{"not an address", ""},
		{"198.51.100.0/24", ""},
	}
	for _, tt := range tests {
		if got := networkOf(tt.ip); got != tt.want {
			t.Errorf("networkOf(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

// storedAlert is one alert row as a test reads it.
type storedAlert struct {
	summary     string
	evidence    map[string]any
	occurrences int64
}

func alertsOf(t *testing.T, s *Store, keyID int64) map[string]storedAlert {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), `SELECT rule, summary, evidence, occurrences FROM alerts WHERE key_id = ?`, keyID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]storedAlert{}
	for rows.Next() {
		var (
			rule, raw string
			a         storedAlert
		)
		if err := rows.Scan(&rule, &a.summary, &raw, &a.occurrences); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(raw), &a.evidence); err != nil {
			t.Fatal(err)
		}
		out[rule] = a
	}
	return out
}

func sightingsOf(t *testing.T, s *Store, keyID int64, kind string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM key_sightings WHERE key_id = ? AND kind = ?`, keyID, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNewNetworkAndAgentAlerts walks one key through its uses: the first
// network and client family are its baseline, a second raises an alert
// (once, then it updates), a known one raises nothing, and a rule turned
// off records the sighting without alerting.
func TestNewNetworkAndAgentAlerts(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		v := quietVerifier(env.s)
		k, secret := env.key(t, env.alice, "svc")
		steps := []struct {
			name, ip, ua string
			rulesOff     bool
			// want: occurrences per rule after the step (absent: no alert).
			want              map[string]int64
			networks, agents  int
			network, agentTag string // the evidence expected of a new alert
		}{
			{name: "first use", ip: "198.51.100.1", ua: "curl/8.4.0", want: map[string]int64{}, networks: 1, agents: 1},
			{name: "same network, new version", ip: "198.51.100.7", ua: "curl/8.5.0", want: map[string]int64{}, networks: 1, agents: 1},
			{name: "no address", ip: "", ua: "curl/8.5.0", want: map[string]int64{}, networks: 1, agents: 1},
			{name: "second network", ip: "203.0.113.9", ua: "curl/8.5.0", want: map[string]int64{RuleNewNetwork: 1}, networks: 2, agents: 1, network: "203.0.113.0/24"},
			{name: "second family", ip: "198.51.100.1", ua: "python-requests/2.31", want: map[string]int64{RuleNewNetwork: 1, RuleNewAgent: 1}, networks: 2, agents: 2, agentTag: "python-requests"},
			{name: "known network, new address", ip: "203.0.113.10", ua: "python-requests/2.32", want: map[string]int64{RuleNewNetwork: 1, RuleNewAgent: 1}, networks: 2, agents: 2},
			{name: "third network updates the open alert", ip: "2001:db8:5::1", ua: "curl/8.5.0", want: map[string]int64{RuleNewNetwork: 2, RuleNewAgent: 1}, networks: 3, agents: 2, network: "2001:db8:5::/48"},
			{name: "rules off", ip: "192.0.2.5", ua: "Go-http-client/1.1", rulesOff: true, want: map[string]int64{RuleNewNetwork: 2, RuleNewAgent: 1}, networks: 4, agents: 3},
		}
		for _, st := range steps {
			if st.rulesOff {
				r := DefaultActivityRules()
				r.NewNetworkOn, r.NewAgentOn = false, false
				if err := env.s.SetActivityRules(ctx, r, CLIActor()); err != nil {
					t.Fatal(err)
				}
			}
			env.clock.Advance(time.Minute)
			if res, err := v.Verify(ctx, VerifyRequest{Key: secret, IP: st.ip, UserAgent: st.ua}); err != nil || !res.Valid {
				t.Fatalf("%s: Verify = %+v, %v", st.name, res, err)
			}
			flush(t, v)
			got := alertsOf(t, env.s, k.ID)
			if len(got) != len(st.want) {
				t.Errorf("%s: alerts %v, want %v", st.name, got, st.want)
			}
			for rule, n := range st.want {
				if got[rule].occurrences != n {
					t.Errorf("%s: %s occurrences = %d, want %d", st.name, rule, got[rule].occurrences, n)
				}
			}
			if st.network != "" {
				a := got[RuleNewNetwork]
				if a.summary != "First use from a new network "+st.network || a.evidence["network"] != st.network ||
					a.evidence["ip"] != st.ip || a.evidence["user_agent"] != st.ua {
					t.Errorf("%s: new_network alert %+v, want network %s from %s by %s", st.name, a, st.network, st.ip, st.ua)
				}
			}
			if st.agentTag != "" {
				a := got[RuleNewAgent]
				if a.summary != "First use by a new client: "+st.agentTag || a.evidence["agent"] != st.agentTag || a.evidence["user_agent"] != st.ua {
					t.Errorf("%s: new_agent alert %+v, want agent %s (%s)", st.name, a, st.agentTag, st.ua)
				}
			}
			if n := sightingsOf(t, env.s, k.ID, sightingNetwork); n != st.networks {
				t.Errorf("%s: network sightings = %d, want %d", st.name, n, st.networks)
			}
			if n := sightingsOf(t, env.s, k.ID, sightingAgent); n != st.agents {
				t.Errorf("%s: agent sightings = %d, want %d", st.name, n, st.agents)
			}
		}
		var opened int
		if err := env.s.r.QueryRow(`SELECT COUNT(*) FROM outbox_events WHERE type = ? AND key_id = ?`, EventAlertOpened, k.ID).Scan(&opened); err != nil {
			t.Fatal(err)
		}
		if opened != 2 {
			t.Errorf("alert.opened events = %d, want 2 (one per newly opened alert)", opened)
		}
	})
}

// TestNewNetworkSeededFromKeyIPs: a key used before sightings existed has
// addresses in key_ips and no sightings. Its first new address in a known
// network raises nothing (the networks are seeded from key_ips), one in a
// network it never used does.
func TestNewNetworkSeededFromKeyIPs(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		k, secret := env.key(t, env.alice, "old")
		for _, ip := range []string{"198.51.100.1", "2001:db8:1::1"} {
			if _, err := env.s.w.ExecContext(ctx, `INSERT INTO key_ips (key_id, ip, first_seen_at) VALUES (?, ?, ?)`, k.ID, ip, toMillis(env.clock.Now())); err != nil {
				t.Fatal(err)
			}
		}
		v := quietVerifier(env.s)
		use := func(ip string) {
			t.Helper()
			env.clock.Advance(time.Minute)
			if res, err := v.Verify(ctx, VerifyRequest{Key: secret, IP: ip, UserAgent: "svc/1"}); err != nil || !res.Valid {
				t.Fatalf("Verify = %+v, %v", res, err)
			}
			flush(t, v)
		}
		use("198.51.100.2")
		if got := alertsOf(t, env.s, k.ID); len(got) != 0 {
			t.Errorf("after a new address in a known network: alerts %v, want none", got)
		}
		if n := sightingsOf(t, env.s, k.ID, sightingNetwork); n != 2 {
			t.Errorf("network sightings = %d, want 2 (seeded from key_ips)", n)
		}
		use("2001:db8:2::1")
		if got := alertsOf(t, env.s, k.ID); got[RuleNewNetwork].occurrences != 1 {
			t.Errorf("after a new network: alerts %v, want new_network", got)
		}

		// Another old key whose first flush holds an address in its old
		// network and one in a new network: the new one alerts.
		k2, secret2 := env.key(t, env.alice, "old2")
		if _, err := env.s.w.ExecContext(ctx, `INSERT INTO key_ips (key_id, ip, first_seen_at) VALUES (?, ?, ?)`, k2.ID, "198.51.100.1", toMillis(env.clock.Now())); err != nil {
			t.Fatal(err)
		}
		for _, ip := range []string{"198.51.100.3", "203.0.113.3"} {
			if res, err := v.Verify(ctx, VerifyRequest{Key: secret2, IP: ip, UserAgent: "svc/1"}); err != nil || !res.Valid {
				t.Fatalf("Verify = %+v, %v", res, err)
			}
		}
		flush(t, v)
		if got := alertsOf(t, env.s, k2.ID); got[RuleNewNetwork].evidence["network"] != "203.0.113.0/24" {
			t.Errorf("old key, old and new network in one flush: alerts %v, want new_network for 203.0.113.0/24", got)
		}
	})
}

// TestNewNetworkFirstFlushIsBaseline: a key's first addresses are new to
// key_ips and their networks the baseline (two networks in one flush, no
// alert), even though key_ips holds them by the time sightings are
// written.
func TestNewNetworkFirstFlushIsBaseline(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		k, secret := env.key(t, env.alice, "new")
		v := quietVerifier(env.s)
		for _, ip := range []string{"198.51.100.1", "203.0.113.1"} {
			if _, err := v.Verify(ctx, VerifyRequest{Key: secret, IP: ip, UserAgent: "svc/1"}); err != nil {
				t.Fatal(err)
			}
		}
		flush(t, v)
		if got := alertsOf(t, env.s, k.ID); len(got) != 0 {
			t.Errorf("after the first flush: alerts %v, want none", got)
		}
		if n := sightingsOf(t, env.s, k.ID, sightingNetwork); n != 2 {
			t.Errorf("network sightings = %d, want 2", n)
		}
		// Remembered: the next flush for the same network and family
		// costs no statement.
		if !v.sightings.has(sightingKey{k.ID, sightingAgent, "svc"}) || !v.sightings.has(sightingKey{k.ID, sightingNetwork, "203.0.113.0/24"}) {
			t.Errorf("sighting memory = %v, want the key's network and family", v.sightings.known)
		}
	})
}
