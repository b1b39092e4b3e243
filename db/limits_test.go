package db

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestParseAllowedIPs(t *testing.T) {
	many := make([]string, MaxAllowedIPs+1)
	for i := range many {
		many[i] = fmt.Sprintf("10.0.%d.0/24", i)
	}
	tests := []struct {
		name    string
		in      string
		want    string // formatPrefixes of the result
		wantErr string // part of the field error
	}{
		{"empty", "  \n ", "", ""},
		{"bare IPv4 is one host", "192.0.2.7", "192.0.2.7/32", ""},
		{"bare IPv6 is one host", "2001:db8::1", "2001:db8::1/128", ""},
		{"host bits cleared", "10.1.2.3/8", "10.0.0.0/8", ""},
		{"IPv6 host bits cleared", "2001:db8::1/32", "2001:db8::/32", ""},
		{"IPv4-mapped network becomes IPv4", "::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"IPv4-mapped address becomes IPv4", "::ffff:192.0.2.1", "192.0.2.1/32", ""},
		{"lines and commas", "10.0.0.0/8\n192.0.2.1, 2001:db8::/32\r\n", "10.0.0.0/8 192.0.2.1/32 2001:db8::/32", ""},
		{"duplicates dropped keeping the first", "10.0.0.0/8 10.9.9.9/8 192.0.2.1 192.0.2.1/32", "10.0.0.0/8 192.0.2.1/32", ""},
		{"exactly the maximum", strings.Join(many[:MaxAllowedIPs], "\n"), strings.Join(many[:MaxAllowedIPs], " "), ""},
		{"too many", strings.Join(many, "\n"), "", "at most 100"},
		{"bad address named", "10.0.0.1, 300.1.1.1", "", `"300.1.1.1"`},
		{"bad prefix length named", "10.0.0.0/33", "", `"10.0.0.0/33"`},
		{"word named", "office", "", `"office"`},
		{"zone refused", "fe80::1%eth0", "", "zone"},
		{"markup named as typed", "<b>", "", `"<b>"`},
		{"long junk shortened", strings.Repeat("x", 70), "", `"` + strings.Repeat("x", 50) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAllowedIPs(tt.in)
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || !strings.Contains(fe.Message, tt.wantErr) {
					t.Fatalf("ParseAllowedIPs(%q) = %v, %v; want a field error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAllowedIPs(%q): %v", tt.in, err)
			}
			if s := formatPrefixes(got); s != tt.want {
				t.Errorf("ParseAllowedIPs(%q) = %q, want %q", tt.in, s, tt.want)
			}
			if tt.want == "" && got != nil {
				t.Errorf("ParseAllowedIPs(%q) = %#v, want nil", tt.in, got)
			}
		})
	}
}

func TestCheckMeta(t *testing.T) {
	big := `{"k":"` + strings.Repeat("x", MaxMetaBytes-8) + `"}` // MaxMetaBytes-8+8 bytes
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{"blank is none", " \n", "", ""},
		{"empty object is none", "{ }", "", ""},
		{"compacted, order kept", "{\n  \"plan\": \"pro\",\n  \"tenant\": \"acme\"\n}", `{"plan":"pro","tenant":"acme"}`, ""},
		{"nested objects and arrays", `{"a": {"b": {"c": [1, 2, {"d": null}]}}}`, `{"a":{"b":{"c":[1,2,{"d":null}]}}}`, ""},
		{"unicode kept as written", `{"name": "Zoë 東京 🚀", "esc": "\u00e9"}`, `{"name":"Zoë 東京 🚀","esc":"\u00e9"}`, ""},
		{"numbers kept as written", `{"big": 12345678901234567890, "f": 1.50, "e": 1e3, "neg": -0}`, `{"big":12345678901234567890,"f":1.50,"e":1e3,"neg":-0}`, ""},
		{"markup kept, not escaped", `{"html": "<b>&</b>"}`, `{"html":"<b>&</b>"}`, ""},
		{"exactly the maximum", big, big, ""},
		{"too large", `{"k":"` + strings.Repeat("x", MaxMetaBytes) + `"}`, "", "use at most 4096"},
		{"null", "null", "", "JSON object"},
		{"array", `[{"a": 1}]`, "", "JSON object"},
		{"string", `"acme"`, "", "JSON object"},
		{"number", "42", "", "JSON object"},
		{"invalid JSON", `{"a": }`, "", "not valid JSON"},
		{"truncated", `{"a": 1`, "", "not valid JSON"},
		{"trailing junk", `{"a": 1} x`, "", "not valid JSON"},
		{"invalid UTF-8", "{\"a\": \"\xff\"}", "", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckMeta(tt.in)
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || !strings.Contains(fe.Message, tt.wantErr) {
					t.Fatalf("CheckMeta(%.40q) = %.40q, %v; want a field error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("CheckMeta(%.60q) = %.60q, %v; want %.60q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCreateKeyWithLimits(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env := newKeyTestEnv(t)
		meta := `{"tenant":"acme","plan":{"tier":"pro","seats":12}}`
		k, _ := env.key(t, env.alice, "office", func(in *KeyInput) {
			in.AllowedIPs = prefixes(t, "10.1.2.3/8", "2001:db8::/32", "10.0.0.0/8")
			in.Meta = "{\n \"tenant\": \"acme\", \"plan\": {\"tier\": \"pro\", \"seats\": 12}\n}"
		})
		got, err := env.s.GetKey(ctx, AnyOwner(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s := formatPrefixes(got.AllowedIPs); s != "10.0.0.0/8 2001:db8::/32" {
			t.Errorf("AllowedIPs = %q, want the canonical list without duplicates", s)
		}
		if got.Meta != meta {
			t.Errorf("Meta = %q, want %q", got.Meta, meta)
		}
		events, err := env.s.ListAudit(ctx, AuditFilter{Action: ActionKeyCreate, TargetID: k.ID})
		if err != nil || len(events) != 1 {
			t.Fatalf("create events = %v, %v; want 1", events, err)
		}
		if d := events[0].Detail; d["allowed_ips"] != "10.0.0.0/8 2001:db8::/32" || d["meta"] != meta {
			t.Errorf("create audit detail = %v, want the allowlist and metadata", d)
		}

		t.Run("bad limits are field errors and write nothing", func(t *testing.T) {
			before, _ := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), KeyFilter{})
			_, _, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: "bad", AllowedIPs: []netip.Prefix{{}}, Meta: "[1]"}, CLIActor())
			fields := FieldErrors(err)
			if fields[FieldAllowedIPs] == "" || fields[FieldMeta] == "" {
				t.Errorf("CreateKey errors = %v, want %s and %s", fields, FieldAllowedIPs, FieldMeta)
			}
			after, _ := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), KeyFilter{})
			if len(after) != len(before) {
				t.Errorf("keys = %d after a refused create, want %d", len(after), len(before))
			}
		})

		t.Run("roll copies the limits", func(t *testing.T) {
			nk, _, _, err := env.s.RollKey(ctx, env.alice.ID, k.ID, 0, CLIActor())
			if err != nil {
				t.Fatal(err)
			}
			if formatPrefixes(nk.AllowedIPs) != formatPrefixes(got.AllowedIPs) || nk.Meta != meta {
				t.Errorf("rolled key limits = %v %q, want %v %q", nk.AllowedIPs, nk.Meta, got.AllowedIPs, meta)
			}
		})
	})
}

func TestSetKeyLimits(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env := newKeyTestEnv(t)
		k, _ := env.key(t, env.alice, "svc")
		alice := Actor{UserID: env.alice.ID, Label: env.alice.Email}

		t.Run("another member finds no key and changes nothing", func(t *testing.T) {
			calls := env.hookCalls
			_, err := env.s.SetKeyLimits(ctx, OwnedBy(env.bob.ID), k.ID, prefixes(t, "10.0.0.0/8"), `{"a":1}`, CLIActor())
			wantKind(t, err, ErrNotFound)
			got, _ := env.s.GetKey(ctx, AnyOwner(), k.ID)
			if got.AllowedIPs != nil || got.Meta != "" || env.hookCalls != calls {
				t.Errorf("after a refused change: limits %v %q, hook calls %d→%d; want none, none, unchanged",
					got.AllowedIPs, got.Meta, calls, env.hookCalls)
			}
		})

		t.Run("bad input is a field error", func(t *testing.T) {
			_, err := env.s.SetKeyLimits(ctx, OwnedBy(env.alice.ID), k.ID, nil, `{"a":`, alice)
			if FieldErrors(err)[FieldMeta] == "" {
				t.Errorf("SetKeyLimits(bad meta) = %v, want a %s field error", err, FieldMeta)
			}
		})

		steps := []struct {
			name      string
			allowed   []netip.Prefix
			meta      string
			wantAudit map[string]string // nil: no event
		}{
			{"set both", prefixes(t, "10.0.0.0/8", "192.0.2.1/32"), `{"tenant": "acme"}`, map[string]string{
				"allowed_ips_before": "anywhere", "allowed_ips_after": "10.0.0.0/8 192.0.2.1/32",
				"meta_before": "none", "meta_after": `{"tenant":"acme"}`}},
			{"same again is no change", prefixes(t, "10.0.0.0/8", "192.0.2.1/32"), `{"tenant":"acme"}`, nil},
			{"metadata only", prefixes(t, "10.0.0.0/8", "192.0.2.1/32"), `{"tenant":"globex"}`, map[string]string{
				"meta_before": `{"tenant":"acme"}`, "meta_after": `{"tenant":"globex"}`}},
			{"clear both", nil, "", map[string]string{
				"allowed_ips_before": "10.0.0.0/8 192.0.2.1/32", "allowed_ips_after": "anywhere",
				"meta_before": `{"tenant":"globex"}`, "meta_after": "none"}},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				before, _ := env.s.ListAudit(ctx, AuditFilter{Action: ActionKeyLimits})
				calls := env.hookCalls
				got, err := env.s.SetKeyLimits(ctx, OwnedBy(env.alice.ID), k.ID, st.allowed, st.meta, alice)
				if err != nil {
					t.Fatal(err)
				}
				if formatPrefixes(got.AllowedIPs) != formatPrefixes(st.allowed) {
					t.Errorf("AllowedIPs = %v, want %v", got.AllowedIPs, st.allowed)
				}
				events, _ := env.s.ListAudit(ctx, AuditFilter{Action: ActionKeyLimits})
				if st.wantAudit == nil {
					if len(events) != len(before) || env.hookCalls != calls {
						t.Errorf("no-op wrote %d events and %d cache drops, want none", len(events)-len(before), env.hookCalls-calls)
					}
					return
				}
				if len(events) != len(before)+1 || env.hookCalls != calls+1 {
					t.Fatalf("events %d→%d, cache drops %d; want one more event and one drop", len(before), len(events), env.hookCalls-calls)
				}
				e := events[0]
				if e.ActorID != env.alice.ID || e.TargetID != k.ID || fmt.Sprint(e.Detail) != fmt.Sprint(st.wantAudit) {
					t.Errorf("event = actor %d target %d detail %v; want actor %d target %d detail %v",
						e.ActorID, e.TargetID, e.Detail, env.alice.ID, k.ID, st.wantAudit)
				}
			})
		}

		t.Run("revoked key keeps its limits", func(t *testing.T) {
			if _, err := env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
				t.Fatal(err)
			}
			_, err := env.s.SetKeyLimits(ctx, AnyOwner(), k.ID, prefixes(t, "10.0.0.0/8"), "", CLIActor())
			wantKind(t, err, ErrConflict)
		})
	})
}
