package views

import (
	"strconv"
	"time"
)

// AdminWebhooksPage is GET /admin/webhooks: the endpoints and the setting
// that lets them be private receivers.
type AdminWebhooksPage struct {
	Layout
	Endpoints    []WebhookRow
	AllowPrivate bool
}

// WebhookRow is one endpoint as the list and its page show it.
type WebhookRow struct {
	ID             int64
	URL            string
	Description    string
	EventTypes     []string // "*" alone: every type
	CreatedBy      string
	CreatedAt      time.Time
	DisabledAt     *time.Time
	DisabledReason string
	FailingSince   *time.Time
	// Last is the newest delivery; nil before the first.
	Last *WebhookDeliveryRow
}

// WebhookForm is the add and edit form, as typed.
type WebhookForm struct {
	URL         string
	Description string
	EventTypes  []string
	// FormToken names one submission of the add form, so that reloading
	// the page showing the new secret cannot add a second endpoint.
	FormToken string
	Errors    FieldErrors // "url", "description", "event_types", "form_token"
}

// has reports whether the form picks event type t.
func (f WebhookForm) has(t string) bool {
	for _, x := range f.EventTypes {
		if x == t {
			return true
		}
	}
	return false
}

// AdminWebhookNewPage is GET /admin/webhooks/new and a refused add.
type AdminWebhookNewPage struct {
	Layout
	Form         WebhookForm
	EventTypes   []string // the choices, in order
	AllowPrivate bool
}

// AdminWebhookPage is GET /admin/webhooks/{id}: the endpoint, its form,
// its delivery log and its actions. Secret is set only in the answer that
// creates the endpoint or rolls its secret: shown once.
type AdminWebhookPage struct {
	Layout
	Endpoint     WebhookRow
	Form         WebhookForm
	EventTypes   []string
	AllowPrivate bool
	Secret       string
	Deliveries   []WebhookDeliveryRow
	// Before is the page's cursor (0: the newest); NextBefore the next
	// page's (0: no older rows).
	Before, NextBefore int64
}

// WebhookDeliveryRow is one row of an endpoint's delivery log.
type WebhookDeliveryRow struct {
	ID            int64
	EventID       string
	EventType     string
	Status        string // pending, delivered, failed
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// The latest attempt: when, the receiver's status code (0: none),
	// how long it took and why it failed.
	LastAt     *time.Time
	StatusCode int
	Latency    time.Duration
	Error      string
}

func webhookPath(id int64, suffix string) string {
	return "/admin/webhooks/" + strconv.FormatInt(id, 10) + suffix
}

// webhookStatus is an endpoint's state in words, with its badge colours.
func webhookStatus(r WebhookRow, now time.Time) (string, string) {
	switch {
	case r.DisabledAt != nil:
		return "Disabled", badges["revoked"].Class
	case r.FailingSince != nil:
		return "Failing since " + RelativeTime(*r.FailingSince, now), badges["expiring"].Class
	}
	return "Active", badges["active"].Class
}

// eventTypesText lists an endpoint's event types for a table cell.
func eventTypesText(types []string) string {
	if len(types) == 1 && types[0] == "*" {
		return "All events"
	}
	return joinComma(types)
}

// deliveryStatusClass colours a delivery's status.
func deliveryStatusClass(status string) string {
	switch status {
	case "delivered":
		return badges["active"].Class
	case "failed":
		return badges["revoked"].Class
	}
	return badges["expiring"].Class
}

// deliveryStatusLabel is a delivery's status as the e-mail log words it.
func deliveryStatusLabel(status string) string {
	switch status {
	case "delivered":
		return "Delivered"
	case "failed":
		return "Failed"
	case "pending":
		return "Pending"
	}
	return status
}

// latencyText is an attempt's duration for the log.
func latencyText(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}
