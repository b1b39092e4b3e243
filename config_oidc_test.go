package main

import (
	"slices"
	"strings"
	"testing"
)

func TestLoadOIDC(t *testing.T) {
	const secret = "s3cr3t-client-secret"
	base := map[string]string{"KEYWARD_BASE_URL": "https://keys.example.com",
		"KEYWARD_OIDC_ISSUER": "https://login.example.com", "KEYWARD_OIDC_CLIENT_ID": "keyward",
		"KEYWARD_OIDC_CLIENT_SECRET": secret}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	errs := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"issuer without client id", with("KEYWARD_OIDC_CLIENT_ID", ""), "not --oidc-client-id"},
		{"client id without issuer", with("KEYWARD_OIDC_ISSUER", ""), "not --oidc-issuer"},
		{"no base url", with("KEYWARD_BASE_URL", ""), "needs --base-url"},
		{"issuer not a url", with("KEYWARD_OIDC_ISSUER", "login.example.com"), "not an issuer URL"},
		{"bad domain", with("KEYWARD_OIDC_ALLOWED_DOMAINS", "example.com,user@example.org"), "not an e-mail domain"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newGlobals().load(func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q shows the client secret", err)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		c, err := newGlobals().load(func(k string) string { return map[string]string{}[k] })
		if err != nil || c.OIDC != nil {
			t.Fatalf("got %+v, %v; want single sign-on off", c.OIDC, err)
		}
	})
	t.Run("on", func(t *testing.T) {
		c, err := newGlobals().load(func(k string) string {
			return with("KEYWARD_OIDC_ALLOWED_DOMAINS", " Example.com, @corp.example ,")[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		o := c.OIDC
		if o == nil || o.Issuer != "https://login.example.com" || o.ClientID != "keyward" || o.ClientSecret != secret {
			t.Fatalf("got %+v, want the issuer, client id and secret", o)
		}
		if o.ButtonLabel != "Sign in with SSO" || o.GroupsClaim != "groups" {
			t.Errorf("defaults: got label %q claim %q, want Sign in with SSO, groups", o.ButtonLabel, o.GroupsClaim)
		}
		if want := []string{"example.com", "corp.example"}; !slices.Equal(o.AllowedDomains, want) {
			t.Errorf("domains: got %q, want %q", o.AllowedDomains, want)
		}
	})
}
