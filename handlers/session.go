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

const (
	sessionName = "keyward"
	// touchEvery bounds how often a session's last_seen_at is written: the
	// idle timeout is 30 minutes by default, so minute precision is plenty and
	// saves a write on nearly every page view (see touchInterval).
	touchEvery = time.Minute
)

// touchInterval is how stale last_seen_at may grow before a request writes
// it again: touchEvery, but at most a quarter of the idle timeout. With a
// fixed minute, an idle timeout under a minute would end sessions in use,
// since activity in between would never be recorded.
func touchInterval(idle time.Duration) time.Duration { return min(touchEvery, idle/4) }

// Keys of a gorilla session's Values. Only this file reads or writes them:
// everyone else goes through Session's typed accessors. Only flashes are
// persisted in the row's data column; the rest is filled from the row's
// columns on load.
const (
	valUserID   = "uid"
	valRowID    = "sid"
	valAuthAt   = "auth"
	valLastSeen = "seen"
	valIP       = "ip"
	valUA       = "ua"
	valFlashes  = "flashes"
)

// Session is the browser session of a request, read through typed
// accessors instead of type assertions on gorilla's Values map.
type Session struct{ g *sessions.Session }

// SignedIn reports whether the session belongs to a signed-in user.
func (s Session) SignedIn() bool { return s.g != nil && !s.g.IsNew && s.UserID() != 0 }

// UserID is the signed-in user's id, or 0.
func (s Session) UserID() int64 { return s.int64(valUserID) }

// ID is the session's row id (what the Account page lists), or 0.
func (s Session) ID() int64 { return s.int64(valRowID) }

// AuthTime is when the person signed in to this session.
func (s Session) AuthTime() time.Time { return s.time(valAuthAt) }

// LastSeen is when the session last showed activity (to within
// touchInterval).
func (s Session) LastSeen() time.Time { return s.time(valLastSeen) }

// Flashes are the one-time messages queued for the next page.
func (s Session) Flashes() []views.Flash {
	if s.g == nil {
		return nil
	}
	fs, _ := s.g.Values[valFlashes].([]views.Flash)
	return fs
}

func (s Session) int64(key string) int64 {
	if s.g == nil {
		return 0
	}
	v, _ := s.g.Values[key].(int64)
	return v
}

func (s Session) time(key string) time.Time {
	if s.g == nil {
		return time.Time{}
	}
	v, _ := s.g.Values[key].(time.Time)
	return v
}

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
		}
		if err := ss.store.CreateSession(ctx, &row); err != nil {
			return fmt.Errorf("handlers: create session: %w", err)
		}
		sess.ID = tok
		sess.IsNew = false
		sess.Values[valRowID] = row.ID
		sess.Values[valAuthAt] = now
		sess.Values[valLastSeen] = now
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

// signedIn is the request's signed-in state, kept in the Echo context by
// LoadSession (and replaced at sign-in and sign-out).
type signedIn struct {
	user    db.User
	session Session
}

const signedInKey = "keyward.signed-in"

// currentUser returns the signed-in user, or nil for a visitor.
func currentUser(c echo.Context) *db.User {
	if s, ok := c.Get(signedInKey).(*signedIn); ok && s != nil {
		return &s.user
	}
	return nil
}

// currentSession returns the request's session (empty for a visitor).
func currentSession(c echo.Context) Session {
	if s, ok := c.Get(signedInKey).(*signedIn); ok && s != nil {
		return s.session
	}
	return Session{}
}

// setSignedIn records the signed-in state for the handlers (Echo context)
// and for everything below them, such as the request log (the request's
// context.Context through db.NewContextWithUser).
func setSignedIn(c echo.Context, s *signedIn) {
	c.Set(signedInKey, s)
	r := c.Request()
	if s == nil {
		c.SetRequest(r.WithContext(db.NewContextWithUser(r.Context(), nil)))
		return
	}
	c.SetRequest(r.WithContext(db.NewContextWithUser(r.Context(), &s.user)))
}

// LoadSession is the middleware of browser routes: it resolves the session
// cookie to a signed-in user (or none) and keeps last_seen_at fresh.
func (h *Handler) LoadSession(next echo.HandlerFunc) echo.HandlerFunc {
	ss := h.sessions
	return func(c echo.Context) error {
		r := c.Request()
		sess, err := ss.Get(r, sessionName)
		if err != nil {
			return err
		}
		typed := Session{sess}
		if !typed.SignedIn() {
			return next(c)
		}
		u, err := ss.store.GetUser(r.Context(), typed.UserID())
		switch {
		case errors.Is(err, db.ErrNotFound) || (err == nil && u.Disabled()):
			ss.expire(c, sess)
			return next(c)
		case err != nil:
			return err
		}
		if idle, _ := ss.timeouts(r.Context()); ss.now().Sub(typed.LastSeen()) >= touchInterval(idle) {
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
		setSignedIn(c, &signedIn{user: u, session: typed})
		return next(c)
	}
}

func (ss *sessionStore) expire(c echo.Context, sess *sessions.Session) {
	sess.Options.MaxAge = -1
	_ = sess.Save(c.Request(), c.Response())
}

// startSession signs u in: a sign-in always gets a new session id, and the
// old session (if any) is deleted, so a cookie planted before sign-in is
// worthless after it.
func (h *Handler) startSession(c echo.Context, u db.User) error {
	ss := h.sessions
	r := c.Request()
	if old, err := ss.Get(r, sessionName); err == nil && !old.IsNew {
		if id := (Session{old}).ID(); id != 0 {
			if err := ss.store.DeleteSession(r.Context(), id); err != nil {
				return fmt.Errorf("handlers: end old session: %w", err)
			}
		}
	}
	sess := newGorillaSession(ss)
	sess.Values[valUserID] = u.ID
	sess.Values[valIP] = c.RealIP()
	sess.Values[valUA] = r.UserAgent()
	if err := ss.Save(r, c.Response(), sess); err != nil {
		return err
	}
	// Replace the request-cached session so later calls in this request see it.
	old, _ := ss.Get(r, sessionName)
	*old = *sess
	setSignedIn(c, &signedIn{user: u, session: Session{old}})
	return rotateCSRF(c)
}

// endSession signs out: the session row goes (with its audit event, in
// one db call) and the cookie is cleared.
func (h *Handler) endSession(c echo.Context) error {
	sess, err := h.sessions.Get(c.Request(), sessionName)
	if err != nil {
		return err
	}
	if id := (Session{sess}).ID(); id != 0 {
		if err := h.Store.EndSession(ctx(c), id, actor(c)); err != nil {
			return err
		}
		delete(sess.Values, valRowID) // gone: Save only clears the cookie
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	setSignedIn(c, nil)
	return rotateCSRF(c)
}

// addFlash queues a one-time message for the next page. Visitors have no
// session, so their flashes are dropped; handlers use fixed query messages
// for them instead.
func (h *Handler) addFlash(c echo.Context, f views.Flash) error {
	sess, err := h.sessions.Get(c.Request(), sessionName)
	if err != nil || sess.IsNew {
		return err
	}
	fs := append(Session{sess}.Flashes(), f)
	if len(fs) > 5 {
		fs = fs[len(fs)-5:]
	}
	sess.Values[valFlashes] = fs
	return sess.Save(c.Request(), c.Response())
}

// popFlashes returns and clears the queued messages.
func (h *Handler) popFlashes(c echo.Context) []views.Flash {
	sess, err := h.sessions.Get(c.Request(), sessionName)
	if err != nil || sess.IsNew {
		return nil
	}
	fs := Session{sess}.Flashes()
	if len(fs) == 0 {
		return nil
	}
	delete(sess.Values, valFlashes)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return nil
	}
	return fs
}
