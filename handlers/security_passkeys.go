package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// passkeysCard builds the passkeys card of the security page.
func (h *Handler) passkeysCard(c echo.Context, _ db.SecondFactors) (views.PasskeysCard, error) {
	keys, err := h.Store.Passkeys(ctx(c), currentUser(c).ID)
	if err != nil {
		return views.PasskeysCard{}, err
	}
	m := views.PasskeysCard{Now: h.now()}
	for _, k := range keys {
		m.Passkeys = append(m.Passkeys, views.PasskeyRow{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt})
	}
	return m, nil
}

// passkeyID reads the :id of a passkey route; a malformed one is a
// passkey that does not exist.
func passkeyID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, db.Errorf(db.ErrNotFound, "That passkey does not exist.")
	}
	return id, nil
}

// PasskeyRename is POST /account/security/passkeys/:id/rename (field
// name): a bad name is shown beside the field of that passkey.
func (h *Handler) PasskeyRename(c echo.Context) error {
	id, err := passkeyID(c)
	if err != nil {
		return err
	}
	u := currentUser(c)
	name := truncate(c.FormValue("name"), 4*db.MaxPasskeyNameLength)
	err = h.Store.RenamePasskey(ctx(c), u.ID, id, name, actor(c))
	if ve, ok := errors.AsType[*db.ValidationError](err); ok {
		return h.securityWithPasskeys(c, http.StatusUnprocessableEntity, func(m *views.PasskeysCard) {
			m.RenameID, m.RenameValue, m.RenameErrors = id, name, views.FieldErrors(ve.Fields)
		})
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Passkey renamed.")
	return redirect(c, EnrolmentPath+"#passkeys")
}

// PasskeyRemove is POST /account/security/passkeys/:id/remove. The last
// second factor of someone policy requires one of stays (the card says
// why).
func (h *Handler) PasskeyRemove(c echo.Context) error {
	id, err := passkeyID(c)
	if err != nil {
		return err
	}
	u := currentUser(c)
	err = h.Store.RemovePasskey(ctx(c), u.ID, id, actor(c))
	if errors.Is(err, db.ErrLastSecondFactor) {
		return h.securityWithPasskeys(c, http.StatusConflict, func(m *views.PasskeysCard) { m.Error = err.Error() })
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Passkey removed.")
	return redirect(c, EnrolmentPath+"#passkeys")
}

// securityWithPasskeys renders the security page with status after edit
// has marked the passkeys card.
func (h *Handler) securityWithPasskeys(c echo.Context, status int, edit func(*views.PasskeysCard)) error {
	m, err := h.securityPage(c)
	if err != nil {
		return fmt.Errorf("handlers: security page: %w", err)
	}
	edit(&m.Passkeys)
	return render(c, status, views.Security(m))
}
