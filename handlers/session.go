package handlers

import (
	"errors"
	"fmt"
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

// Keys of a gorilla session's Values. Only this file and session_store.go
// read or write them: everyone else goes through Session's typed accessors. Only flashes are
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
	valStage    = "stage"
	valMethod   = "method"
	valFactor   = "factor"
	valReauthAt = "reauth"
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

// Stage is the session's sign-in stage (db.StageDone, db.StageMFA,
// db.StageEnrol).
func (s Session) Stage() string { return s.str(valStage) }

// AuthMethod is the first factor the session signed in with (db.AuthPassword,
// db.AuthPasskey, db.AuthSSO).
func (s Session) AuthMethod() string { return s.str(valMethod) }

// SecondFactor is what completed the sign-in (db.FactorTOTP, …) or "".
func (s Session) SecondFactor() string { return s.str(valFactor) }

// ReauthAt is when the person last proved who they are in this session:
// the sign-in, or the latest re-authentication.
func (s Session) ReauthAt() time.Time { return s.time(valReauthAt) }

func (s Session) str(key string) string {
	if s.g == nil {
		return ""
	}
	v, _ := s.g.Values[key].(string)
	return v
}

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
		// A session waiting for its second factor is no sign-in: only the
		// second-factor handlers see it (pendingSignIn), everything else a
		// visitor.
		if typed.Stage() == db.StageMFA {
			u, err := ss.store.GetUser(r.Context(), typed.UserID())
			switch {
			case errors.Is(err, db.ErrNotFound) || (err == nil && u.Disabled()):
				ss.expire(c, sess)
			case err != nil:
				return err
			default:
				c.Set(pendingKey, &signedIn{user: u, session: typed})
			}
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
		if typed.Stage() == db.StageEnrol && !enrolmentPath(c.Request().URL.Path) {
			return h.toEnrolment(c)
		}
		return next(c)
	}
}

// startSession signs u in (or, with stage db.StageMFA, half in): a sign-in
// always gets a new session id, and the old session (if any) is deleted,
// so a cookie planted before sign-in is worthless after it. Handlers sign
// people in through completeSignIn, which picks the stage.
func (h *Handler) startSession(c echo.Context, u db.User, a sessionAuth) error {
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
	sess.Values[valStage] = a.stage
	sess.Values[valMethod] = a.method
	sess.Values[valFactor] = a.factor
	if err := ss.Save(r, c.Response(), sess); err != nil {
		return err
	}
	// Replace the request-cached session so later calls in this request see it.
	old, _ := ss.Get(r, sessionName)
	*old = *sess
	if a.stage == db.StageMFA {
		setSignedIn(c, nil)
		c.Set(pendingKey, &signedIn{user: u, session: Session{old}})
	} else {
		c.Set(pendingKey, nil)
		setSignedIn(c, &signedIn{user: u, session: Session{old}})
	}
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
