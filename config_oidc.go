package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/keyward/keyward/web"
)

// oidcSettings are the single sign-on options of globals (see newGlobals).
func oidcSettings() (issuer, clientID, clientSecret, buttonLabel, allowedDomains, adminGroup, groupsClaim setting) {
	issuer = setting{flag: "oidc-issuer", env: "KEYWARD_OIDC_ISSUER",
		usage: "OpenID Connect issuer URL for single sign-on, e.g. https://login.example.com; with --oidc-client-id and --base-url; none: off"}
	clientID = setting{flag: "oidc-client-id", env: "KEYWARD_OIDC_CLIENT_ID",
		usage: "client id Keyward has at the OpenID provider; redirect URL: BASE-URL/login/sso/callback"}
	clientSecret = setting{flag: "oidc-client-secret", env: "KEYWARD_OIDC_CLIENT_SECRET",
		usage: "client secret at the OpenID provider (prefer the variable: flags show in ps); never logged"}
	buttonLabel = setting{flag: "oidc-button-label", env: "KEYWARD_OIDC_BUTTON_LABEL", def: "Sign in with SSO",
		usage: "text of the single sign-on button on the sign-in page"}
	allowedDomains = setting{flag: "oidc-allowed-domains", env: "KEYWARD_OIDC_ALLOWED_DOMAINS",
		usage: "comma-separated e-mail domains that may sign in through single sign-on; none: any"}
	adminGroup = setting{flag: "oidc-admin-group", env: "KEYWARD_OIDC_ADMIN_GROUP",
		usage: "group whose members are admins: set at each single sign-on, and removed from admins who left it; none: roles are Keyward's"}
	groupsClaim = setting{flag: "oidc-groups-claim", env: "KEYWARD_OIDC_GROUPS_CLAIM", def: "groups",
		usage: "ID token claim listing the person's groups (for --oidc-admin-group)"}
	return
}

// loadOIDC resolves the single sign-on options: nil when no issuer and no
// client id are given. A half configuration is an error at start, naming
// the setting; the client secret never appears in one.
func (g *globals) loadOIDC(env func(string) string, baseURL string) (*web.OIDCConfig, error) {
	issuer, issuerSrc := g.oidcIssuer.resolve(env)
	clientID, idSrc := g.oidcClientID.resolve(env)
	issuer, clientID = strings.TrimSpace(issuer), strings.TrimSpace(clientID)
	if issuer == "" && clientID == "" {
		return nil, nil
	}
	if issuer == "" {
		return nil, fmt.Errorf("%s is set but not --oidc-issuer: give both, or neither to turn single sign-on off", idSrc)
	}
	if clientID == "" {
		return nil, fmt.Errorf("%s is set but not --oidc-client-id: give both, or neither to turn single sign-on off", issuerSrc)
	}
	if u, err := url.Parse(issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s: %q is not an issuer URL like https://login.example.com", issuerSrc, issuer)
	}
	if baseURL == "" {
		return nil, errors.New("single sign-on needs --base-url: the provider sends people back to BASE-URL/login/sso/callback")
	}
	c := &web.OIDCConfig{Issuer: issuer, ClientID: clientID}
	c.ClientSecret, _ = g.oidcClientSecret.resolve(env)
	c.ButtonLabel, _ = g.oidcButtonLabel.resolve(env)
	c.ButtonLabel = strings.TrimSpace(c.ButtonLabel)
	if c.ButtonLabel == "" {
		c.ButtonLabel = g.oidcButtonLabel.def
	}
	raw, src := g.oidcAllowedDomains.resolve(env)
	for _, d := range strings.Split(raw, ",") {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if d == "" {
			continue
		}
		if strings.ContainsAny(d, "@/ ") || !strings.Contains(d, ".") {
			return nil, fmt.Errorf("%s: %q is not an e-mail domain like example.com", src, d)
		}
		c.AllowedDomains = append(c.AllowedDomains, d)
	}
	c.AdminGroup, _ = g.oidcAdminGroup.resolve(env)
	c.AdminGroup = strings.TrimSpace(c.AdminGroup)
	c.GroupsClaim, src = g.oidcGroupsClaim.resolve(env)
	if c.GroupsClaim = strings.TrimSpace(c.GroupsClaim); c.GroupsClaim == "" {
		return nil, fmt.Errorf("%s: name the claim that lists groups, e.g. groups", src)
	}
	return c, nil
}
