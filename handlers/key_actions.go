package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// KeyDisable is POST /keys/{id}/disable (optional reason): verification
// fails until enabled. An admin's disable only an admin lifts.
func (h *Handler) KeyDisable(c echo.Context) error {
	return h.setDisabled(c, true)
}

// KeyEnable is POST /keys/{id}/enable.
func (h *Handler) KeyEnable(c echo.Context) error {
	return h.setDisabled(c, false)
}

func (h *Handler) setDisabled(c echo.Context, disabled bool) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	reason := ""
	if disabled {
		reason = c.FormValue("reason")
	}
	k, err := h.Store.SetKeyDisabled(ctx(c), keyAccess(c), id, disabled, reason, actor(c))
	if err != nil {
		return err
	}
	if disabled {
		h.flash(c, "success", "“"+k.Name+"” is disabled. Verifications fail until you enable it again.")
	} else {
		h.flash(c, "success", "“"+k.Name+"” is enabled again.")
	}
	return redirect(c, keyPath(id))
}

// graceDurations are the accepted roll grace periods.
var graceDurations = map[string]time.Duration{"0": 0, "1h": time.Hour, "24h": 24 * time.Hour, "168h": 168 * time.Hour}

// KeyRoll is POST /keys/{id}/roll: a new key with the same name and scopes;
// the old one keeps working for the chosen grace period. The response is the
// show-once panel of the new key. Only the owner rolls a key (db.RollKey).
func (h *Handler) KeyRoll(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	grace, ok := graceDurations[c.FormValue("grace")]
	if !ok {
		// Who may not roll the key gets the answer a valid form gets.
		if _, err := h.Store.GetKey(ctx(c), db.ManagedBy(currentUser(c).ID), id); err != nil {
			return h.rollRefused(c, id, err)
		}
		return BadRequest("INVALID_GRACE", "Choose how long the old key keeps working.")
	}
	nk, secret, old, err := h.Store.RollKey(ctx(c), currentUser(c).ID, id, grace, actor(c))
	if errors.Is(err, db.ErrNotFound) {
		return h.rollRefused(c, id, err)
	}
	if ac, ok := errors.AsType[*db.AlreadyCreatedError](err); ok {
		// The page that showed the new key was reloaded (or resubmitted):
		// name the successor, never roll again.
		return h.keyAlreadyCreated(c, ac)
	}
	if err != nil {
		return err
	}
	r := h.reveal(nk, secret)
	r.Rolled, r.OldKeyID, r.OldExpiresAt = true, old.ID, old.ExpiresAt
	return render(c, http.StatusOK, views.KeyCreated(views.KeyCreatedPage{
		Layout: h.layout(c, "Your new API key", "keys"), Reveal: r,
	}))
}

// rollRefused answers a roll of a key the viewer does not own (err is its
// not-found). An admin may see every key, so saying why is no leak; a
// member asking for someone else's key keeps getting "not found".
func (h *Handler) rollRefused(c echo.Context, id int64, err error) error {
	if currentUser(c).IsAdmin() {
		if _, gerr := h.Store.GetKey(ctx(c), db.AnyOwner(), id); gerr == nil {
			return Forbidden("Only the owner of a key can roll it: the new key would be theirs. Disable or revoke it instead.")
		}
	}
	return err
}

// KeyRevoke is POST /keys/{id}/revoke: final; the next verification fails.
func (h *Handler) KeyRevoke(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	k, err := h.Store.RevokeKey(ctx(c), keyAccess(c), id, c.FormValue("reason"), actor(c))
	if err != nil {
		return err
	}
	h.flash(c, "success", "“"+k.Name+"” was revoked. It can no longer be used.")
	return redirect(c, keyPath(id))
}

func keyPath(id int64) string { return "/keys/" + strconv.FormatInt(id, 10) }
