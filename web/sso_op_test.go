package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// testOP is a real OpenID provider (zitadel/oidc's op package, with the
// in-memory storage of its example server) on an httptest server. Its
// login page signs in whoever the test chose with asUser, and its token
// endpoint can be made to hand out a forged ID token (forge), re-signed
// with its own key or another, for the callbacks a provider never sends.
type testOP struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   string
	storage  *opStorage
	provider *op.Provider

	// down makes the provider answer 503 to everything.
	down atomic.Bool

	mu       sync.Mutex
	user     string
	forge    func(claims map[string]any)
	otherKey bool
}

// opUser is a person at the provider.
type opUser struct {
	id, email string
	verified  bool
	groups    []string
	amr       []string
}

// opUsers is the provider's directory (storage.UserStore).
type opUsers struct {
	mu    sync.Mutex
	users map[string]*opUser
}

func (u *opUsers) get(id string) *opUser {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.users[id]
}

func (u *opUsers) GetUserByID(id string) *storage.User {
	p := u.get(id)
	if p == nil {
		return nil
	}
	return &storage.User{ID: p.id, Username: p.id, Password: "pw", Email: p.email, EmailVerified: p.verified}
}

func (u *opUsers) GetUserByUsername(name string) *storage.User { return u.GetUserByID(name) }
func (u *opUsers) ExampleClientID() string                     { return "service" }

// opStorage is the example storage with three changes: ID tokens carry
// the userinfo claims (e-mail, groups), and the amr the test gave the user.
type opStorage struct {
	*storage.Storage
	users   *opUsers
	clients map[string]*storage.Client
}

type claimsInIDToken struct{ op.Client }

func (claimsInIDToken) IDTokenUserinfoClaimsAssertion() bool { return true }

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return claimsInIDToken{c}, nil
}

type amrRequest struct {
	op.AuthRequest
	amr []string
}

func (r amrRequest) GetAMR() []string { return r.amr }

func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	if u := s.users.get(r.GetSubject()); u != nil && u.amr != nil {
		return amrRequest{r, u.amr}, nil
	}
	return r, nil
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, token op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, token, scopes); err != nil {
		return err
	}
	if u := s.users.get(token.GetSubject()); u != nil && u.groups != nil {
		ui.AppendClaims("groups", u.groups)
	}
	return nil
}

func newTestOP(t *testing.T) *testOP {
	t.Helper()
	o := &testOP{t: t}
	o.srv = httptest.NewUnstartedServer(nil)
	o.issuer = "http://" + o.srv.Listener.Addr().String()
	users := &opUsers{users: map[string]*opUser{}}
	clients := map[string]*storage.Client{}
	o.storage = &opStorage{Storage: storage.NewStorageWithClients(users, clients), users: users, clients: clients}
	p, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("test")), CodeMethodS256: true, AuthMethodPost: true},
		o.storage, op.StaticIssuer(o.issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("op: %v", err)
	}
	o.provider = p
	mux := http.NewServeMux()
	mux.Handle("/login/username", op.NewIssuerInterceptor(p.IssuerFromRequest).HandlerFunc(o.login))
	mux.Handle(p.TokenEndpoint().Relative(), o.tokens(p))
	mux.Handle("/", p)
	o.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
	o.srv.Start()
	t.Cleanup(o.srv.Close)
	return o
}

// addClient registers Keyward at the provider (client "keyward").
func (o *testOP) addClient(redirect string) {
	o.storage.clients["keyward"] = storage.WebClient("keyward", "keyward-secret", redirect)
}

func (o *testOP) addUser(u opUser) {
	o.storage.users.mu.Lock()
	defer o.storage.users.mu.Unlock()
	o.storage.users.users[u.id] = &u
}

// asUser makes the provider's login page sign in id.
func (o *testOP) asUser(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.user, o.forge, o.otherKey = id, nil, false
}

// forgeIDToken makes the token endpoint replace the ID token with one
// whose claims fn changed, signed with the provider's key (or another).
func (o *testOP) forgeIDToken(fn func(map[string]any), otherKey bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.forge, o.otherKey = fn, otherKey
}

// login is the provider's login page: it signs in the chosen user without
// a form and goes on with the authorization.
func (o *testOP) login(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	user := o.user
	o.mu.Unlock()
	id := r.URL.Query().Get("authRequestID")
	if err := o.storage.CheckUsernamePassword(user, "pw", id); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(o.provider)(r.Context(), id), http.StatusFound)
}

// tokens serves the token endpoint, forging the ID token when asked.
func (o *testOP) tokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		forge, otherKey := o.forge, o.otherKey
		o.mu.Unlock()
		if forge == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["id_token"] == nil {
			o.t.Errorf("op token endpoint: %d %s", rec.Code, rec.Body.String())
			return
		}
		body["id_token"] = o.resign(body["id_token"].(string), forge, otherKey)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
}

// resign returns the JWT raw with its claims changed by fn, signed again.
func (o *testOP) resign(raw string, fn func(map[string]any), otherKey bool) string {
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		o.t.Fatalf("id token: %v", err)
	}
	claims := map[string]any{}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&claims); err != nil {
		o.t.Fatalf("id token claims: %v", err)
	}
	fn(claims)
	sk, err := o.storage.SigningKey(context.Background())
	if err != nil {
		o.t.Fatal(err)
	}
	key := sk.Key()
	if otherKey {
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			o.t.Fatal(err)
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: sk.ID()}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		o.t.Fatal(err)
	}
	out, _ := json.Marshal(claims)
	jws, err := signer.Sign(out)
	if err != nil {
		o.t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		o.t.Fatal(err)
	}
	return s
}
