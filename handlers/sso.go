package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Single sign-on is OpenID Connect's authorization code flow with PKCE,
// state and nonce, through go-oidc (discovery, ID token signature, issuer,
// audience and expiry) and x/oauth2 (the code exchange). Keyward never
// parses a token itself.

// OIDCConfig is the single sign-on configuration (flags --oidc-*). The
// client secret is never logged or shown.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string `json:"-"`
	// ButtonLabel is the text of the sign-in page's button.
	ButtonLabel string
	// AllowedDomains are the e-mail domains (lower case) that may sign in;
	// empty: any.
	AllowedDomains []string
	// AdminGroup, when set, is the group whose members are admins: the
	// provider's group claim decides the role at every sign-in.
	AdminGroup string
	// GroupsClaim names the ID token claim listing the person's groups.
	GroupsClaim string
	// HTTPClient talks to the provider (nil: one with a 10 s timeout).
	HTTPClient *http.Client
}

// SSOCallbackPath is where the provider sends the browser back; the
// redirect URL registered at the provider is the base URL plus this.
const SSOCallbackPath = "/login/sso/callback"

// ssoChallengeTTL bounds a sign-in at the provider, from the button to
// the callback, and a pending link, from the callback to the password.
const ssoChallengeTTL = 10 * time.Minute

// ssoFailurePolicy: an address gets 5 failed callbacks free, then waits
// 1 s, doubling to 15 min, forgotten an hour after its last failure.
var ssoFailurePolicy = backoffPolicy{free: 5, base: time.Second, max: 15 * time.Minute, forget: time.Hour}

// ssoService holds the provider, discovered lazily: the server starts
// while the provider is down, the first sign-in discovers it, and a
// failed discovery is tried again by the next one.
type ssoService struct {
	cfg         *OIDCConfig
	redirectURL string
	now         func() time.Time
	client      *http.Client
	failures    *backoff[netip.Addr]

	mu       sync.Mutex
	provider *oidc.Provider
}

func newSSO(cfg Config) *ssoService {
	s := &ssoService{cfg: cfg.OIDC, now: cfg.Now, failures: newBackoff[netip.Addr](cfg.Now, ssoFailurePolicy, loginLimits)}
	if s.cfg == nil {
		return s
	}
	s.redirectURL = strings.TrimRight(cfg.BaseURL, "/") + SSOCallbackPath
	s.client = s.cfg.HTTPClient
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	return s
}

// enabled reports whether single sign-on is configured.
func (s *ssoService) enabled() bool { return s != nil && s.cfg != nil }

// clientContext carries the HTTP client go-oidc and x/oauth2 use.
func (s *ssoService) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, s.client)
}

// discover returns the provider, fetching its discovery document on first
// use. Only a success is kept.
func (s *ssoService) discover(ctx context.Context) (*oidc.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider != nil {
		return s.provider, nil
	}
	// go-oidc keeps this context (without its cancellation) for fetching
	// the provider's keys later.
	p, err := oidc.NewProvider(s.clientContext(context.WithoutCancel(ctx)), s.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("handlers: discover the OpenID provider: %w", err)
	}
	s.provider = p
	return p, nil
}

// oauth2Config is the client of the code flow at p.
func (s *ssoService) oauth2Config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     s.cfg.ClientID,
		ClientSecret: s.cfg.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  s.redirectURL,
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// verifier checks an ID token's signature (the provider's published
// keys), issuer, audience (our client id) and expiry, on Keyward's clock.
func (s *ssoService) verifier(p *oidc.Provider) *oidc.IDTokenVerifier {
	return p.Verifier(&oidc.Config{ClientID: s.cfg.ClientID, Now: s.now})
}

// domainAllowed reports whether email's domain may sign in.
func (s *ssoService) domainAllowed(email string) bool {
	if len(s.cfg.AllowedDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(email[at+1:])
	for _, d := range s.cfg.AllowedDomains {
		if domain == d {
			return true
		}
	}
	return false
}
