package db

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestCheckAllowlist is check() on snapshots: the allowlist alone, then its
// place in the order of the codes.
func TestCheckAllowlist(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	past := now.Add(-time.Second)
	v4v6 := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		name     string
		snap     keySnapshot
		scope    string
		clientIP string
		want     VerifyCode
	}{
		{"no allowlist, no address", keySnapshot{}, "", "", ""},
		{"no allowlist, any address", keySnapshot{}, "", "203.0.113.9", ""},
		{"no allowlist, junk address", keySnapshot{}, "", "not-an-ip", ""},
		{"IPv4 inside", keySnapshot{allowed: v4v6}, "", "10.20.30.40", ""},
		{"IPv4 outside", keySnapshot{allowed: v4v6}, "", "11.0.0.1", CodeIPNotAllowed},
		{"IPv6 inside", keySnapshot{allowed: v4v6}, "", "2001:db8:1::7", ""},
		{"IPv6 outside", keySnapshot{allowed: v4v6}, "", "2001:db9::1", CodeIPNotAllowed},
		{"IPv4-mapped IPv6 inside an IPv4 network", keySnapshot{allowed: v4v6}, "", "::ffff:10.1.2.3", ""},
		{"IPv4-mapped IPv6 outside", keySnapshot{allowed: v4v6}, "", "::ffff:11.1.2.3", CodeIPNotAllowed},
		{"IPv6 with a zone inside", keySnapshot{allowed: v4v6}, "", "2001:db8::1%eth0", ""},
		{"unknown address refused", keySnapshot{allowed: v4v6}, "", "", CodeIPNotAllowed},
		{"unparsable address refused", keySnapshot{allowed: v4v6}, "", "10.0.0.1:443", CodeIPNotAllowed},
		{"one host", keySnapshot{allowed: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32")}}, "", "192.0.2.8", CodeIPNotAllowed},
		{"allowlist whose entries were lost refuses", keySnapshot{allowed: []netip.Prefix{{}}}, "", "10.0.0.1", CodeIPNotAllowed},

		// Order: the key's own state first (a revoked key says REVOKED
		// wherever it comes from), then approval, then the allowlist,
		// then the scope.
		{"revoked beats IP", keySnapshot{allowed: v4v6, revoked: true}, "", "11.0.0.1", CodeRevoked},
		{"disabled beats IP", keySnapshot{allowed: v4v6, disabled: true}, "", "11.0.0.1", CodeDisabled},
		{"expired beats IP", keySnapshot{allowed: v4v6, expiresAt: &past}, "", "11.0.0.1", CodeExpired},
		{"pending key beats IP", keySnapshot{allowed: v4v6, pendingKey: true}, "", "11.0.0.1", CodePendingApproval},
		{"IP beats missing scope", keySnapshot{allowed: v4v6, scopes: []string{"read"}}, "admin", "11.0.0.1", CodeIPNotAllowed},
		{"IP beats pending scope", keySnapshot{allowed: v4v6, pending: []string{"pay"}}, "pay", "", CodeIPNotAllowed},
		{"inside, scope missing", keySnapshot{allowed: v4v6, scopes: []string{"read"}}, "admin", "10.0.0.1", CodeInsufficientScope},
		{"inside, scope pending", keySnapshot{allowed: v4v6, pending: []string{"pay"}}, "pay", "10.0.0.1", CodePendingApproval},
		{"inside, scope granted", keySnapshot{allowed: v4v6, scopes: []string{"read"}}, "read", "10.0.0.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := tt.snap
			snap.id = 7
			res := check(&snap, tt.scope, tt.clientIP, now)
			if res.Code != tt.want || res.Valid != (tt.want == "") {
				t.Errorf("check(ip %q, scope %q) = %+v, want code %q", tt.clientIP, tt.scope, res, tt.want)
			}
		})
	}
}

// The allowlist and metadata live in the snapshot: a cached verification
// with them reads no more than one without, and a change to them reaches
// the same Verifier at once.
func TestVerifyLimitsCachedAndChangedAtOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env, v := newVerifyEnv(t)
		k, secret := env.key(t, env.alice, "office", func(in *KeyInput) {
			in.AllowedIPs = prefixes(t, "10.0.0.0/8", "2001:db8::/32")
			in.Meta = `{"tenant":"acme","n":1.50}`
		})
		ask := func(ip string) VerifyResult {
			t.Helper()
			res, err := v.Verify(ctx, VerifyRequest{Key: secret, ClientIP: ip, IP: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		steps := []struct {
			name        string
			ip          string
			want        VerifyCode
			wantLookups int64
		}{
			{"first use looks up", "10.1.1.1", "", 1},
			{"IPv6 from the cache", "2001:db8::5", "", 1},
			{"refusal from the cache", "192.0.2.1", CodeIPNotAllowed, 1},
			{"unknown address from the cache", "", CodeIPNotAllowed, 1},
			{"valid again from the cache", "10.9.9.9", "", 1},
		}
		for _, st := range steps {
			res := ask(st.ip)
			wantCode(t, res, st.want)
			if got := v.Lookups(); got != st.wantLookups {
				t.Errorf("%s: Lookups = %d, want %d", st.name, got, st.wantLookups)
			}
			if st.want == "" && (string(res.Meta) != `{"tenant":"acme","n":1.50}` || res.OwnerType != OwnerUser) {
				t.Errorf("%s: Meta %s, OwnerType %q; want the stored metadata and %q", st.name, res.Meta, res.OwnerType, OwnerUser)
			}
		}

		if _, err := env.s.SetKeyLimits(ctx, OwnedBy(env.alice.ID), k.ID, prefixes(t, "192.0.2.0/24"), `{"tenant":"globex"}`, CLIActor()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, ask("10.1.1.1"), CodeIPNotAllowed)
		res := ask("192.0.2.44")
		wantCode(t, res, "")
		if string(res.Meta) != `{"tenant":"globex"}` {
			t.Errorf("Meta after the change = %s, want the new metadata", res.Meta)
		}
		if got := v.Lookups(); got != 2 {
			t.Errorf("Lookups after the change = %d, want 2 (one fresh read)", got)
		}

		if _, err := env.s.SetKeyLimits(ctx, OwnedBy(env.alice.ID), k.ID, nil, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		res = ask("")
		wantCode(t, res, "")
		if res.Meta != nil {
			t.Errorf("Meta after clearing = %s, want none", res.Meta)
		}
	})
}
