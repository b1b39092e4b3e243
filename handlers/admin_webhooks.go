package handlers

import (
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// deliveryPageSize is how many deliveries an endpoint's log shows a page.
const deliveryPageSize = 25

// AdminWebhooks is GET /admin/webhooks: the endpoints, each with its state
// and latest delivery.
func (h *Handler) AdminWebhooks(c echo.Context) error {
	eps, err := h.Store.ListWebhookEndpoints(ctx(c))
	if err != nil {
		return err
	}
	allow, err := h.Store.WebhooksAllowPrivate(ctx(c))
	if err != nil {
		return err
	}
	m := views.AdminWebhooksPage{Layout: h.layout(c, "Webhooks", "admin"), AllowPrivate: allow}
	for _, ep := range eps {
		row := webhookRow(ep)
		last, err := h.Store.ListDeliveries(ctx(c), db.DeliveryFilter{Channel: db.ChannelWebhook, EndpointID: ep.ID, Limit: 1})
		if err != nil {
			return err
		}
		if len(last) == 1 {
			d := webhookDeliveryRow(last[0])
			row.Last = &d
		}
		m.Endpoints = append(m.Endpoints, row)
	}
	return render(c, http.StatusOK, views.AdminWebhooksView(m))
}

func webhookRow(ep db.WebhookEndpoint) views.WebhookRow {
	return views.WebhookRow{ID: ep.ID, URL: ep.URL, Description: ep.Description, EventTypes: ep.EventTypes,
		CreatedBy: ep.CreatedByEmail, CreatedAt: ep.CreatedAt, DisabledAt: ep.DisabledAt,
		DisabledReason: ep.DisabledReason, FailingSince: ep.FailingSince}
}

// webhookDeliveryRow is one delivery of an endpoint as its log shows it.
func webhookDeliveryRow(l db.DeliveryLog) views.WebhookDeliveryRow {
	r := views.WebhookDeliveryRow{ID: l.ID, EventID: l.EventID, EventType: l.EventType, Status: l.Status,
		Attempts: l.Attempts, CreatedAt: l.CreatedAt, NextAttemptAt: l.NextAttemptAt, Error: l.LastError}
	if a := l.Last; a != nil {
		at := a.At
		r.LastAt, r.StatusCode, r.Latency = &at, a.StatusCode, a.Latency
		if r.Error == "" {
			r.Error = a.Error
		}
	}
	return r
}

// webhookForm reads the add and edit forms.
func webhookForm(c echo.Context) views.WebhookForm {
	f := views.WebhookForm{URL: strings.TrimSpace(c.FormValue("url")), Description: c.FormValue("description")}
	if params, err := c.FormParams(); err == nil {
		f.EventTypes = params["event_types"]
	}
	return f
}

// checkWebhookForm validates f as the store will, then, when the URL is
// well formed, resolves its host as the sender will at every send: a URL
// resolving to a refused address is a form error, not a delivery that
// fails later. It returns the input to save, or field errors.
func (h *Handler) checkWebhookForm(c echo.Context, f views.WebhookForm, allow bool) (db.WebhookInput, views.FieldErrors, error) {
	in := db.WebhookInput{URL: f.URL, Description: f.Description, EventTypes: f.EventTypes, AllowHTTP: allow}
	fe := views.FieldErrors(db.FieldErrors(db.ValidateWebhookInput(in)))
	if fe["url"] == "" && h.Notifier != nil {
		err := h.Notifier.CheckWebhookURL(ctx(c), f.URL, allow)
		if msg := db.FieldErrors(err)["url"]; msg != "" {
			if fe == nil {
				fe = views.FieldErrors{}
			}
			fe["url"] = msg
		} else if err != nil {
			return in, nil, err
		}
	}
	return in, fe, nil
}

// AdminWebhookNew is GET /admin/webhooks/new: the add form, "all events"
// ticked.
func (h *Handler) AdminWebhookNew(c echo.Context) error {
	return h.renderWebhookNew(c, http.StatusOK, views.WebhookForm{EventTypes: []string{"*"}, FormToken: rand.Text()})
}

func (h *Handler) renderWebhookNew(c echo.Context, status int, f views.WebhookForm) error {
	allow, err := h.Store.WebhooksAllowPrivate(ctx(c))
	if err != nil {
		return err
	}
	return render(c, status, views.AdminWebhookNewView(views.AdminWebhookNewPage{
		Layout: h.layout(c, "Add endpoint", "admin"), Form: f, EventTypes: db.WebhookEventTypes(), AllowPrivate: allow}))
}

// AdminWebhookCreate is POST /admin/webhooks: add an endpoint. The answer
// is the endpoint's page with its signing secret, shown this once.
//
// The form carries a one-time token: submitted again (a reload of that
// page, Back and resubmit) it adds nothing and leads to the endpoint it
// added, whose secret is not shown again.
func (h *Handler) AdminWebhookCreate(c echo.Context) error {
	f := webhookForm(c)
	f.FormToken = c.FormValue("form_token")
	allow, err := h.Store.WebhooksAllowPrivate(ctx(c))
	if err != nil {
		return err
	}
	in, fe, err := h.checkWebhookForm(c, f, allow)
	if err != nil {
		return err
	}
	if fe == nil {
		ep, secret, cerr := h.Store.CreateWebhookEndpointOnce(ctx(c), in, f.FormToken, actor(c))
		if cerr == nil {
			return h.renderWebhook(c, http.StatusCreated, ep, secret, nil)
		}
		if ac, ok := errors.AsType[*db.EndpointAlreadyCreatedError](cerr); ok {
			h.flash(c, "info", "This endpoint was already added and its signing secret shown once. If you did not copy it, roll a new secret.")
			return redirect(c, "/admin/webhooks/"+strconv.FormatInt(ac.EndpointID, 10))
		}
		if fe = views.FieldErrors(db.FieldErrors(cerr)); fe == nil {
			return cerr
		}
	}
	f.Errors = fe
	if fe["form_token"] != "" {
		f.FormToken = rand.Text() // nothing was added with it
	}
	return h.renderWebhookNew(c, http.StatusUnprocessableEntity, f)
}

// webhookID reads the :id of an endpoint route.
func webhookID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.ErrNotFound
	}
	return id, nil
}

// AdminWebhookShow is GET /admin/webhooks/{id}[?before=ID]: the endpoint
// and a page of its delivery log.
func (h *Handler) AdminWebhookShow(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	ep, err := h.Store.GetWebhookEndpoint(ctx(c), id)
	if err != nil {
		return err
	}
	return h.renderWebhook(c, http.StatusOK, ep, "", nil)
}

// renderWebhook renders an endpoint's page; secret is shown once when set,
// and form, when set, is the edit form as typed with its errors.
func (h *Handler) renderWebhook(c echo.Context, status int, ep db.WebhookEndpoint, secret string, form *views.WebhookForm) error {
	allow, err := h.Store.WebhooksAllowPrivate(ctx(c))
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	logs, err := h.Store.ListDeliveries(ctx(c), db.DeliveryFilter{Channel: db.ChannelWebhook, EndpointID: ep.ID,
		Limit: deliveryPageSize + 1, BeforeID: max(before, 0)})
	if err != nil {
		return err
	}
	m := views.AdminWebhookPage{Layout: h.layout(c, ep.URL, "admin"), Endpoint: webhookRow(ep),
		EventTypes: db.WebhookEventTypes(), AllowPrivate: allow, Secret: secret, Before: max(before, 0),
		Form: views.WebhookForm{URL: ep.URL, Description: ep.Description, EventTypes: ep.EventTypes}}
	if form != nil {
		m.Form = *form
	}
	if len(logs) > deliveryPageSize {
		logs = logs[:deliveryPageSize]
		m.NextBefore = logs[len(logs)-1].ID
	}
	for _, l := range logs {
		m.Deliveries = append(m.Deliveries, webhookDeliveryRow(l))
	}
	return render(c, status, views.AdminWebhookView(m))
}
