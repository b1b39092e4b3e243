package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// sessionStore implements gorilla/sessions' Store on the sessions table.
// The cookie carries only a random 256-bit id; the row is keyed by its
// SHA-256, so a copy of the database does not yield live cookies.
type sessionStore struct {
	store    *db.Store
	idle     time.Duration // defaults from Config; the admin policy overrides
	absolute time.Duration
	now      func() time.Time

	mu         sync.Mutex
	policyAt   time.Time
	policyIdle time.Duration
	policyAbs  time.Duration
}

// policyTTL bounds how long a policy change takes to reach session checks
// without querying settings on every request.
const policyTTL = 5 * time.Second

// timeouts returns the idle and absolute timeouts in force: the admin's
// policy when set, else the configured defaults.
func (ss *sessionStore) timeouts(ctx context.Context) (idle, absolute time.Duration) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	if ss.policyAt.IsZero() || now.Sub(ss.policyAt) >= policyTTL || now.Before(ss.policyAt) {
		if p, err := ss.store.Policy(ctx); err == nil {
			ss.policyIdle, ss.policyAbs, ss.policyAt = p.SessionIdle, p.SessionAbsolute, now
		}
	}
	idle, absolute = ss.idle, ss.absolute
	if ss.policyIdle > 0 {
		idle = ss.policyIdle
	}
	if ss.policyAbs > 0 {
		absolute = ss.policyAbs
	}
	return idle, absolute
}

var _ sessions.Store = (*sessionStore)(nil)

// sessionData is what the data column holds.
type sessionData struct {
	Flashes []views.Flash `json:"flashes,omitempty"`
}

func newGorillaSession(ss *sessionStore) *sessions.Session {
	sess := sessions.NewSession(ss, sessionName)
	sess.IsNew = true
	sess.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	return sess
}

// Get returns the request's session, cached per request by gorilla's registry.
func (ss *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(ss, name)
}

// New loads the session named by the cookie, or returns a new empty one when
// there is no cookie, no row, or the row has passed its idle or absolute
// timeout (such a row is deleted: timeouts are enforced here, on the server,
// whatever the cookie says).
func (ss *sessionStore) New(r *http.Request, _ string) (*sessions.Session, error) {
	sess := newGorillaSession(ss)
	ck, err := r.Cookie(cookieName(r, sessionName))
	if err != nil || ck.Value == "" {
		return sess, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(raw) != 32 {
		return sess, nil
	}
	hash := sha256.Sum256(raw)
	row, err := ss.store.SessionByTokenHash(r.Context(), hash[:])
	if errors.Is(err, db.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, fmt.Errorf("handlers: load session: %w", err)
	}
	now := ss.now().UTC()
	idle, absolute := ss.timeouts(r.Context())
	if row.Stage == db.StageMFA {
		// Half signed in: the second factor is due within minutes.
		absolute = min(absolute, pendingSignInTTL)
	}
	if !now.Before(row.ExpiresAt) || now.Sub(row.LastSeenAt) >= idle || now.Sub(row.CreatedAt) >= absolute {
		_ = ss.store.DeleteSession(r.Context(), row.ID)
		return sess, nil
	}
	sess.ID = ck.Value
	sess.IsNew = false
	sess.Values[valUserID] = row.UserID
	sess.Values[valRowID] = row.ID
	sess.Values[valAuthAt] = row.CreatedAt
	sess.Values[valLastSeen] = row.LastSeenAt
	sess.Values[valStage] = row.Stage
	sess.Values[valMethod] = row.AuthMethod
	sess.Values[valFactor] = row.SecondFactor
	sess.Values[valReauthAt] = row.ReauthAt
	var data sessionData
	if len(row.Data) > 0 && json.Unmarshal(row.Data, &data) == nil && len(data.Flashes) > 0 {
		sess.Values[valFlashes] = data.Flashes
	}
	return sess, nil
}

// Save persists the session: MaxAge < 0 deletes the row and the cookie; a
// session without an id gets a new random id and a new row; otherwise the
// row's data and last_seen_at are updated.
func (ss *sessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	name := cookieName(r, sessionName)
	typed := Session{sess}
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if id := typed.ID(); id != 0 {
			if err := ss.store.DeleteSession(ctx, id); err != nil {
				return fmt.Errorf("handlers: delete session: %w", err)
			}
		}
		http.SetCookie(w, sessionCookie(r, name, "", -1))
		return nil
	}
	data, err := json.Marshal(sessionData{Flashes: typed.Flashes()})
	if err != nil {
		return fmt.Errorf("handlers: encode session: %w", err)
	}
	now := ss.now().UTC()
	if sess.ID == "" {
		uid := typed.UserID()
		if uid == 0 {
			return errors.New("handlers: refusing to save a session without a user")
		}
		raw := make([]byte, 32)
		tok, err := randomBytes(raw)
		if err != nil {
			return err
		}
		hash := sha256.Sum256(raw)
		ip, _ := sess.Values[valIP].(string)
		ua, _ := sess.Values[valUA].(string)
		if len(ua) > 512 {
			ua = ua[:512]
		}
		_, absolute := ss.timeouts(ctx)
		row := db.Session{
			TokenHash: hash[:], UserID: uid, CreatedAt: now, LastSeenAt: now,
			ExpiresAt: now.Add(absolute), IP: ip, UserAgent: ua, Data: data,
			Stage: typed.Stage(), AuthMethod: typed.AuthMethod(), SecondFactor: typed.SecondFactor(),
		}
		if err := ss.store.CreateSession(ctx, &row); err != nil {
			return fmt.Errorf("handlers: create session: %w", err)
		}
		sess.ID = tok
		sess.IsNew = false
		sess.Values[valRowID] = row.ID
		sess.Values[valAuthAt] = now
		sess.Values[valLastSeen] = now
		sess.Values[valReauthAt] = now
		http.SetCookie(w, sessionCookie(r, name, tok, int(absolute/time.Second)))
		return nil
	}
	if err := ss.store.TouchSession(ctx, typed.ID(), now, data); err != nil {
		return fmt.Errorf("handlers: save session: %w", err)
	}
	sess.Values[valLastSeen] = now
	return nil
}

// sessionCookie is Secure wherever the browser keeps a Secure cookie
// (HTTPS, localhost); on plain HTTP elsewhere it would never be sent back.
func sessionCookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{ // #nosec G124 -- Secure is set whenever the connection allows it
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteLaxMode,
	}
}

func randomBytes(b []byte) (string, error) {
	if _, err := randRead(b); err != nil {
		return "", fmt.Errorf("handlers: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (ss *sessionStore) expire(c echo.Context, sess *sessions.Session) {
	sess.Options.MaxAge = -1
	_ = sess.Save(c.Request(), c.Response())
}
