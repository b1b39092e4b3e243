package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// activityFields ties each field of the Unusual activity card to its
// ActivityRules value. LeakDisable is not here: its control belongs to the
// leak reports' card, and this form keeps it as stored.
var activityFields = map[string]struct {
	flag func(*db.ActivityRules) *bool
	num  func(*db.ActivityRules) *int64
}{
	"alert_spike":                 {flag: func(r *db.ActivityRules) *bool { return &r.SpikeOn }},
	"alert_spike_factor":          {num: func(r *db.ActivityRules) *int64 { return &r.SpikeFactor }},
	"alert_spike_min_uses":        {num: func(r *db.ActivityRules) *int64 { return &r.SpikeMinUses }},
	"alert_new_network":           {flag: func(r *db.ActivityRules) *bool { return &r.NewNetworkOn }},
	"alert_new_agent":             {flag: func(r *db.ActivityRules) *bool { return &r.NewAgentOn }},
	"alert_dormant":               {flag: func(r *db.ActivityRules) *bool { return &r.DormantOn }},
	"alert_dormant_days":          {num: func(r *db.ActivityRules) *int64 { return &r.DormantDays }},
	"alert_dead_key":              {flag: func(r *db.ActivityRules) *bool { return &r.DeadKeyOn }},
	"alert_dead_key_min_refusals": {num: func(r *db.ActivityRules) *int64 { return &r.DeadKeyMinRefusals }},
	"alert_many_addresses":        {flag: func(r *db.ActivityRules) *bool { return &r.ManyAddressesOn }},
	"alert_many_addresses_count":  {num: func(r *db.ActivityRules) *int64 { return &r.ManyAddresses }},
}

// activitySection shows rules r on the card.
func activitySection(r db.ActivityRules) views.ActivitySection {
	s := views.ActivitySection{Loaded: true, On: map[string]bool{}, Values: map[string]string{}}
	for _, name := range views.ActivitySwitches() {
		s.On[name] = *activityFields[name].flag(&r)
	}
	for _, name := range views.ActivityThresholds() {
		s.Values[name] = strconv.FormatInt(*activityFields[name].num(&r), 10)
	}
	return s
}

// withActivity fills the settings page's Unusual activity card from the
// stored rules, unless it already holds a refused form.
func (h *Handler) withActivity(c echo.Context, page views.AdminSettingsPage) (views.AdminSettingsPage, error) {
	if page.Activity.Loaded {
		return page, nil
	}
	r, err := h.Store.ActivityRules(ctx(c))
	if err != nil {
		return page, err
	}
	page.Activity = activitySection(r)
	return page, nil
}

// AdminActivitySettings is POST /admin/activity-settings: the anomaly
// rules, saved through Store.SetActivityRules (which validates the ranges
// and audits each change). A refused form comes back as typed, with the
// errors next to their fields (422); nothing is saved.
func (h *Handler) AdminActivitySettings(c echo.Context) error {
	r, err := h.Store.ActivityRules(ctx(c))
	if err != nil {
		return err
	}
	form := views.ActivitySection{Loaded: true, On: map[string]bool{}, Values: map[string]string{}}
	ve := &db.ValidationError{}
	for _, name := range views.ActivitySwitches() {
		on := c.FormValue(name) != ""
		form.On[name] = on
		*activityFields[name].flag(&r) = on
	}
	for _, name := range views.ActivityThresholds() {
		v := strings.TrimSpace(c.FormValue(name))
		form.Values[name] = truncate(v, 20)
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil {
			ve.Add(name, "Enter a whole number.")
			continue
		}
		*activityFields[name].num(&r) = n
	}
	err = ve.Err()
	if err == nil {
		err = h.Store.SetActivityRules(ctx(c), r, actor(c))
	}
	if fe := db.FieldErrors(err); fe != nil {
		form.Errors = fe
		p, err := h.Store.Policy(ctx(c))
		if err != nil {
			return err
		}
		page := h.settingsPage(c, policyForm(p))
		page.Activity = form
		if page, err = h.withMail(c, page, views.MailTestForm{}); err != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.AdminSettingsView(page))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Unusual activity rules saved.")
	return redirect(c, "/admin/settings#activity")
}
