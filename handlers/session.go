package web

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
	"github.com/keyward/keyward/handlers"
	"github.com/keyward/keyward/views"
)

const (
	sessionName = "keyward"
	// touchEvery bounds how often a session's last_seen_at is written: the
	// idle timeout is 30 minutes by default, so minute precision is plenty and
	// saves a write on nearly every page view.
	touchEvery = time.Minute
)

// Values keys of a gorilla session. Only flashes are persisted in the
// row's data column; the others are filled from the row's columns on load.
const (
	valUserID   = "uid"
	valRowID    = "sid"
	valLastSeen = "seen"
	valIP       = "ip"
	valUA       = "ua"
	valFlashes  = "flashes"
)

// sessionStore implements gorilla/sessions' Store on the sessions table.
// The cookie carries only a random 256-bit id; the row is keyed by its
// SHA-256, so a copy of the database does not yield live cookies.
type sessionStore struct {
	store    *db.Store
	idle     time.Duration // defaults from Config; the admin policy overrides
	absolute time.Duration
	now      func() time.Time
	secure   bool // the base URL is HTTPS: cookies are Secure even behind a TLS proxy

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

func newSessionStore(store *db.Store, cfg Config, secure bool) *sessionStore {
	return &sessionStore{store: store, idle: cfg.SessionIdle, absolute: cfg.SessionAbsolute, now: cfg.Now, secure: secure}
}

// sessionData is what the data column holds.
type sessionData struct {
	Flashes []views.Flash `json:"flashes,omitempty"`
}

// Get returns the request's session, cached per request by gorilla's registry.
func (ss *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(ss, name)
}

// New loads the session named by the cookie, or returns a new empty one when
// there is no cookie, no row, or the row has passed its idle or absolute
// timeout (such a row is deleted: timeouts are enforced here, on the server,
// whatever the cookie says).
func (ss *sessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(ss, name)
	sess.IsNew = true
	sess.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
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
		return sess, fmt.Errorf("web: load session: %w", err)
	}
	now := ss.now().UTC()
	idle, absolute := ss.timeouts(r.Context())
	if !now.Before(row.ExpiresAt) || now.Sub(row.LastSeenAt) >= idle || now.Sub(row.CreatedAt) >= absolute {
		_ = ss.store.DeleteSession(r.Context(), row.ID)
		return sess, nil
	}
	sess.ID = ck.Value
	sess.IsNew = false
	sess.Values[valUserID] = row.UserID
	sess.Values[valRowID] = row.ID
	sess.Values[valLastSeen] = row.LastSeenAt
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
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if id, ok := sess.Values[valRowID].(int64); ok {
			if err := ss.store.DeleteSession(ctx, id); err != nil {
				return fmt.Errorf("web: delete session: %w", err)
			}
		}
		http.SetCookie(w, sessionCookie(r, name, "", -1))
		return nil
	}
	data, err := json.Marshal(sessionData{Flashes: flashesOf(sess)})
	if err != nil {
		return fmt.Errorf("web: encode session: %w", err)
	}
	now := ss.now().UTC()
	if sess.ID == "" {
		uid, ok := sess.Values[valUserID].(int64)
		if !ok || uid == 0 {
			return errors.New("web: refusing to save a session without a user")
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
		}
		if err := ss.store.CreateSession(ctx, &row); err != nil {
			return fmt.Errorf("web: create session: %w", err)
		}
		sess.ID = tok
		sess.IsNew = false
		sess.Values[valRowID] = row.ID
		sess.Values[valLastSeen] = now
		http.SetCookie(w, sessionCookie(r, name, tok, int(absolute/time.Second)))
		return nil
	}
	id, _ := sess.Values[valRowID].(int64)
	if err := ss.store.TouchSession(ctx, id, now, data); err != nil {
		return fmt.Errorf("web: save session: %w", err)
	}
	sess.Values[valLastSeen] = now
	return nil
}

func flashesOf(sess *sessions.Session) []views.Flash {
	fs, _ := sess.Values[valFlashes].([]views.Flash)
	return fs
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
		return "", fmt.Errorf("web: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// loadSession is the middleware of browser routes: it resolves the session
// cookie to a signed-in user (or none) and keeps last_seen_at fresh.
func (ss *sessionStore) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		sess, err := ss.Get(r, sessionName)
		if err != nil {
			return err
		}
		if !sess.IsNew {
			uid, _ := sess.Values[valUserID].(int64)
			sid, _ := sess.Values[valRowID].(int64)
			u, err := ss.store.GetUser(r.Context(), uid)
			switch {
			case errors.Is(err, db.ErrNotFound) || (err == nil && u.Disabled()):
				ss.expire(c, sess)
			case err != nil:
				return err
			default:
				seen, _ := sess.Values[valLastSeen].(time.Time)
				if ss.now().Sub(seen) >= touchEvery {
					err := sess.Save(r, c.Response())
					if errors.Is(err, db.ErrNotFound) {
						// Ended by another request (sign-out elsewhere) meanwhile.
						ss.expire(c, sess)
						return next(c)
					}
					if err != nil {
						return err
					}
				}
				handlers.SetAuth(c, &handlers.Auth{User: u, SessionID: sid})
			}
		}
		return next(c)
	}
}

func (ss *sessionStore) expire(c echo.Context, sess *sessions.Session) {
	sess.Options.MaxAge = -1
	_ = sess.Save(c.Request(), c.Response())
}

// Start implements handlers.Sessions: a sign-in always gets a new session
// id, and the old session (if any) is deleted, so a cookie planted before
// sign-in is worthless after it.
func (ss *sessionStore) Start(c echo.Context, u db.User) error {
	r := c.Request()
	if old, err := ss.Get(r, sessionName); err == nil && !old.IsNew {
		if id, ok := old.Values[valRowID].(int64); ok {
			if err := ss.store.DeleteSession(r.Context(), id); err != nil {
				return fmt.Errorf("web: end old session: %w", err)
			}
		}
	}
	sess := sessions.NewSession(ss, sessionName)
	sess.IsNew = true
	sess.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	sess.Values[valUserID] = u.ID
	sess.Values[valIP] = c.RealIP()
	sess.Values[valUA] = r.UserAgent()
	if err := ss.Save(r, c.Response(), sess); err != nil {
		return err
	}
	// Replace the request-cached session so later calls in this request see it.
	old, _ := ss.Get(r, sessionName)
	*old = *sess
	sid, _ := sess.Values[valRowID].(int64)
	handlers.SetAuth(c, &handlers.Auth{User: u, SessionID: sid})
	return rotateCSRF(c)
}

// End implements handlers.Sessions.
func (ss *sessionStore) End(c echo.Context) error {
	sess, err := ss.Get(c.Request(), sessionName)
	if err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	handlers.SetAuth(c, nil)
	return rotateCSRF(c)
}

// AddFlash implements handlers.Sessions. Visitors have no session, so their
// flashes are dropped; handlers use fixed query messages for them instead.
func (ss *sessionStore) AddFlash(c echo.Context, f views.Flash) error {
	sess, err := ss.Get(c.Request(), sessionName)
	if err != nil || sess.IsNew {
		return err
	}
	fs := append(flashesOf(sess), f)
	if len(fs) > 5 {
		fs = fs[len(fs)-5:]
	}
	sess.Values[valFlashes] = fs
	return sess.Save(c.Request(), c.Response())
}

// PopFlashes implements handlers.Sessions.
func (ss *sessionStore) PopFlashes(c echo.Context) []views.Flash {
	sess, err := ss.Get(c.Request(), sessionName)
	if err != nil || sess.IsNew {
		return nil
	}
	fs := flashesOf(sess)
	if len(fs) == 0 {
		return nil
	}
	delete(sess.Values, valFlashes)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return nil
	}
	return fs
}
