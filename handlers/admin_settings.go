package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

const day = 24 * time.Hour

// AdminSettings is GET /admin/settings: the policies.
func (h *Handler) AdminSettings(c echo.Context) error {
	p, err := h.Store.Policy(ctx(c))
	if err != nil {
		return err
	}
	page, err := h.withMail(c, h.settingsPage(c, policyForm(p)), views.MailTestForm{})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminSettingsView(page))
}

// AdminSettingsSave is POST /admin/settings. Each changed value is audited.
func (h *Handler) AdminSettingsSave(c echo.Context) error {
	f := views.SettingsForm{
		MaxKeyLifetimeDays:   strings.TrimSpace(c.FormValue("max_key_lifetime_days")),
		StaleDays:            strings.TrimSpace(c.FormValue("stale_days")),
		NeverUsedDays:        strings.TrimSpace(c.FormValue("never_used_days")),
		AutoDisableDays:      strings.TrimSpace(c.FormValue("auto_disable_days")),
		SessionIdleMinutes:   strings.TrimSpace(c.FormValue("session_idle_minutes")),
		SessionAbsoluteHours: strings.TrimSpace(c.FormValue("session_absolute_hours")),
	}
	ve := &db.ValidationError{}
	num := func(field, v string, unit time.Duration) time.Duration {
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			ve.Add(field, "Enter a whole number, or leave it empty.")
			return 0
		}
		return time.Duration(n) * unit
	}
	p := db.Policy{
		MaxKeyLifetime:   num("max_key_lifetime_days", f.MaxKeyLifetimeDays, day),
		StaleAfter:       num("stale_days", f.StaleDays, day),
		NeverUsedAfter:   num("never_used_days", f.NeverUsedDays, day),
		AutoDisableAfter: num("auto_disable_days", f.AutoDisableDays, day),
		SessionIdle:      num("session_idle_minutes", f.SessionIdleMinutes, time.Minute),
		SessionAbsolute:  num("session_absolute_hours", f.SessionAbsoluteHours, time.Hour),
	}
	if f.StaleDays == "" {
		ve.Add("stale_days", "Enter the number of days.")
	}
	if f.NeverUsedDays == "" {
		ve.Add("never_used_days", "Enter the number of days.")
	}
	err := ve.Err()
	if err == nil {
		err = h.Store.SetPolicy(ctx(c), p, actor(c))
	}
	if fe := db.FieldErrors(err); fe != nil {
		f.Errors = fe
		page, err := h.withMail(c, h.settingsPage(c, f), views.MailTestForm{})
		if err != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.AdminSettingsView(page))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Settings saved.")
	return redirect(c, "/admin/settings")
}

// settingsPage is the settings page around f, with the session timeouts
// that an empty field stands for.
func (h *Handler) settingsPage(c echo.Context, f views.SettingsForm) views.AdminSettingsPage {
	return views.AdminSettingsPage{
		Layout: h.layout(c, "Settings", "admin"), Form: f,
		DefaultSessionIdle: h.SessionIdle, DefaultSessionAbsolute: h.SessionAbsolute,
	}
}

func policyForm(p db.Policy) views.SettingsForm {
	n := func(d, unit time.Duration) string {
		if d == 0 {
			return ""
		}
		return strconv.FormatInt(int64(d/unit), 10)
	}
	return views.SettingsForm{
		MaxKeyLifetimeDays:   n(p.MaxKeyLifetime, day),
		StaleDays:            n(p.StaleAfter, day),
		NeverUsedDays:        n(p.NeverUsedAfter, day),
		AutoDisableDays:      n(p.AutoDisableAfter, day),
		SessionIdleMinutes:   n(p.SessionIdle, time.Minute),
		SessionAbsoluteHours: n(p.SessionAbsolute, time.Hour),
	}
}
