package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// AdminWebhookUpdate is POST /admin/webhooks/{id}: URL, description and
// event types, checked like the add form.
func (h *Handler) AdminWebhookUpdate(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	ep, err := h.Store.GetWebhookEndpoint(ctx(c), id)
	if err != nil {
		return err
	}
	f := webhookForm(c)
	allow, err := h.Store.WebhooksAllowPrivate(ctx(c))
	if err != nil {
		return err
	}
	in, fe, err := h.checkWebhookForm(c, f, allow)
	if err != nil {
		return err
	}
	if fe == nil {
		_, uerr := h.Store.UpdateWebhookEndpoint(ctx(c), id, in, actor(c))
		if uerr == nil {
			h.flash(c, "success", "Endpoint saved.")
			return redirect(c, webhookURL(id))
		}
		if fe = views.FieldErrors(db.FieldErrors(uerr)); fe == nil {
			return uerr
		}
	}
	f.Errors = fe
	return h.renderWebhook(c, http.StatusUnprocessableEntity, ep, "", &f)
}

func webhookURL(id int64) string { return "/admin/webhooks/" + strconv.FormatInt(id, 10) }

// AdminWebhookDisable is POST /admin/webhooks/{id}/disable.
func (h *Handler) AdminWebhookDisable(c echo.Context) error { return h.setWebhookDisabled(c, true) }

// AdminWebhookEnable is POST /admin/webhooks/{id}/enable.
func (h *Handler) AdminWebhookEnable(c echo.Context) error { return h.setWebhookDisabled(c, false) }

func (h *Handler) setWebhookDisabled(c echo.Context, disabled bool) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	if _, err := h.Store.SetWebhookEndpointDisabled(ctx(c), id, disabled, actor(c)); err != nil {
		return err
	}
	msg := "Endpoint enabled: new events are sent to it again."
	if disabled {
		msg = "Endpoint disabled: nothing more is sent to it, except test events."
	}
	h.flash(c, "success", msg)
	return redirect(c, webhookURL(id))
}

// AdminWebhookDelete is POST /admin/webhooks/{id}/delete.
func (h *Handler) AdminWebhookDelete(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	if err := h.Store.DeleteWebhookEndpoint(ctx(c), id, actor(c)); err != nil {
		return err
	}
	h.flash(c, "success", "Endpoint deleted.")
	return redirect(c, "/admin/webhooks")
}

// AdminWebhookTest is POST /admin/webhooks/{id}/test: a webhook.test
// event for this endpoint alone, sent by the worker within seconds; the
// log shows how it went.
func (h *Handler) AdminWebhookTest(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	ev, err := h.Store.SendTestEvent(ctx(c), id, actor(c))
	if err != nil {
		return err
	}
	h.flash(c, "success", "Test event "+ev.EventID+" queued: it appears in the deliveries below within seconds.")
	return redirect(c, webhookURL(id))
}

// AdminWebhookResend is POST /admin/webhooks/{id}/deliveries/{delivery}/resend:
// the same event (same webhook-id) to the endpoint again, as a new delivery.
func (h *Handler) AdminWebhookResend(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	delivery, err := strconv.ParseInt(c.Param("delivery"), 10, 64)
	if err != nil || delivery <= 0 {
		return echo.ErrNotFound
	}
	if _, err := h.Store.ResendDelivery(ctx(c), id, delivery, actor(c)); err != nil {
		return err
	}
	h.flash(c, "success", "Delivery queued again: it appears at the top of the log.")
	return redirect(c, webhookURL(id))
}

// AdminWebhookRollSecret is POST /admin/webhooks/{id}/secret: a new
// signing secret, shown once in the answer.
func (h *Handler) AdminWebhookRollSecret(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	secret, err := h.Store.RollWebhookSecret(ctx(c), id, actor(c))
	if err != nil {
		return err
	}
	ep, err := h.Store.GetWebhookEndpoint(ctx(c), id)
	if err != nil {
		return err
	}
	return h.renderWebhook(c, http.StatusOK, ep, secret, nil)
}

// AdminWebhookSettings is POST /admin/webhook-settings (a path no endpoint
// id can take): whether endpoints may be private receivers.
func (h *Handler) AdminWebhookSettings(c echo.Context) error {
	on := c.FormValue("allow_private") == "1"
	if err := h.Store.SetWebhooksAllowPrivate(ctx(c), on, actor(c)); err != nil {
		return err
	}
	msg := "Webhooks go to https:// URLs on public addresses only."
	if on {
		msg = "Webhooks may now go to http:// URLs and private addresses."
	}
	h.flash(c, "success", msg)
	return redirect(c, "/admin/webhooks")
}
