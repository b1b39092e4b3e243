package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// The Account page's notification choices: which e-mails a person
// receives. The kinds are db's (db.NotifyKinds); security events have
// none, so the card lists them as always sent instead of offering a switch.

// notifyLabels are the checkboxes' labels, by kind, in db.NotifyKinds order.
var notifyLabels = map[string]string{
	db.NotifyExpiry:     "A key of mine expires soon or has expired",
	db.NotifyNewAddress: "A key of mine is used from a new address",
	db.NotifyUnused:     "A key of mine is disabled for being unused",
	db.NotifyApproval:   "My key requests are approved or denied",
	db.NotifyDigest:     "Weekly digest of stale and expiring keys",
}

// notifyKindsFor lists the kinds role may choose: the digest goes to admins
// only, so nobody else is offered a switch that does nothing.
func notifyKindsFor(role db.Role) []string {
	var kinds []string
	for _, k := range db.NotifyKinds() {
		if k == db.NotifyDigest && role != db.RoleAdmin {
			continue
		}
		kinds = append(kinds, k)
	}
	return kinds
}

// notifyAlwaysFor lists what role is mailed whatever it chose. Only admins
// create webhook endpoints, so only they are told one of theirs failed.
func notifyAlwaysFor(role db.Role) []string {
	always := []string{"Your key is revoked or disabled by someone else", "Invite and password reset links"}
	if role == db.RoleAdmin {
		always = append(always, "A webhook endpoint you created is disabled")
	}
	always = append(always, "An admin resets your second factors")
	return always
}

// notificationsCard builds the card for the signed-in person from their
// stored choices.
func (h *Handler) notificationsCard(c echo.Context) (views.NotificationsCard, error) {
	u := currentUser(c)
	prefs, err := h.Store.GetNotifyPrefs(ctx(c), u.ID)
	if err != nil {
		return views.NotificationsCard{}, err
	}
	card := views.NotificationsCard{
		Always:         notifyAlwaysFor(u.Role),
		MailConfigured: h.mailConfigured(),
	}
	for _, k := range notifyKindsFor(u.Role) {
		card.Choices = append(card.Choices, views.NotifyChoice{Kind: k, Label: notifyLabels[k], Checked: prefs[k]})
	}
	return card, nil
}

// AccountNotifications is POST /account/notifications: the ticked kinds on,
// the other kinds offered off. A value the card did not offer is a form
// error and nothing is saved. Saved without e-mail settings too, for when
// an admin adds them. htmx gets the card with "Saved"; a plain form post
// gets the page back through a redirect with a flash.
func (h *Handler) AccountNotifications(c echo.Context) error {
	u := currentUser(c)
	offered := notifyKindsFor(u.Role)
	ticked := formValues(c, "kinds")
	for _, k := range ticked {
		if !slices.Contains(offered, k) {
			return h.renderNotifications(c, views.FieldErrors{"kinds": "Choose from the notifications listed."}, http.StatusUnprocessableEntity)
		}
	}
	prefs := make(map[string]bool, len(offered))
	for _, k := range offered {
		prefs[k] = slices.Contains(ticked, k)
	}
	err := h.Store.SetNotifyPrefs(ctx(c), u.ID, prefs, actor(c))
	if fe := db.FieldErrors(err); fe != nil {
		return h.renderNotifications(c, fe, http.StatusUnprocessableEntity)
	}
	if err != nil {
		return err
	}
	if isHTMX(c) {
		card, err := h.notificationsCard(c)
		if err != nil {
			return err
		}
		card.Saved = true
		return render(c, http.StatusOK, views.AccountNotifications(card, csrfToken(c)))
	}
	h.flash(c, "success", "Your notification choices were saved.")
	return redirect(c, "/account#notifications")
}

// renderNotifications answers a refused save: the card with the message
// for htmx (200, since htmx swaps only successes), else the whole page
// with status.
func (h *Handler) renderNotifications(c echo.Context, fe views.FieldErrors, status int) error {
	card, err := h.notificationsCard(c)
	if err != nil {
		return err
	}
	card.Errors = fe
	if isHTMX(c) {
		return render(c, http.StatusOK, views.AccountNotifications(card, csrfToken(c)))
	}
	m, err := h.accountPage(c)
	if err != nil {
		return err
	}
	m.Notifications = card
	return render(c, status, views.Account(m))
}
