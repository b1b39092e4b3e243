package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// activityForm is the card's form with every rule on at the defaults;
// overrides replace fields, and a value of "" drops a checkbox.
func activityForm(overrides map[string]string) url.Values {
	f := url.Values{
		"alert_spike": {"1"}, "alert_spike_factor": {"5"}, "alert_spike_min_uses": {"100"},
		"alert_new_network": {"1"}, "alert_new_agent": {"1"},
		"alert_dormant": {"1"}, "alert_dormant_days": {"30"},
		"alert_dead_key": {"1"}, "alert_dead_key_min_refusals": {"10"},
		"alert_many_addresses": {"1"}, "alert_many_addresses_count": {"20"},
	}
	for k, v := range overrides {
		if v == "" {
			f.Del(k)
			continue
		}
		f.Set(k, v)
	}
	return f
}

func TestAdminActivitySettings(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	// The leak control belongs to another card: this form keeps it.
	leak := db.DefaultActivityRules()
	leak.LeakDisable = true
	if err := a.store.SetActivityRules(ctx, leak, db.CLIActor()); err != nil {
		t.Fatal(err)
	}

	doc := admin.get("/admin/settings").doc(t)
	card := doc.Find(`[data-testid="settings-activity"]`)
	if card.Find(`form[action="/admin/activity-settings"]`).Length() != 1 {
		t.Fatalf("got no activity form on the settings page")
	}
	for _, name := range []string{"alert_spike", "alert_new_network", "alert_new_agent", "alert_dormant", "alert_dead_key", "alert_many_addresses"} {
		if _, checked := card.Find(`input[name="` + name + `"]`).Attr("checked"); !checked {
			t.Errorf("%s: got unchecked, want on by default", name)
		}
	}
	if got := card.Find(`input[name="alert_spike_factor"]`).AttrOr("value", ""); got != "5" {
		t.Errorf("spike factor: got %q, want 5", got)
	}

	t.Run("save", func(t *testing.T) {
		r := admin.post("/admin/activity-settings", activityForm(map[string]string{
			"alert_new_agent": "", "alert_spike_factor": "8", "alert_dormant_days": " 60 ", "alert_many_addresses_count": "50"}))
		wantRedirect(t, r, "/admin/settings#activity")
		got, err := a.store.ActivityRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := db.DefaultActivityRules()
		want.NewAgentOn, want.SpikeFactor, want.DormantDays, want.ManyAddresses, want.LeakDisable = false, 8, 60, 50, true
		if got != want {
			t.Errorf("rules: got %+v, want %+v", got, want)
		}
		evs, err := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionSettingChange, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		changed := map[string]string{}
		for _, e := range evs {
			changed[e.Detail["setting"]] = e.Detail["new"]
		}
		for name, v := range map[string]string{"alert_new_agent": "0", "alert_spike_factor": "8", "alert_dormant_days": "60", "alert_many_addresses_count": "50"} {
			if changed[name] != v {
				t.Errorf("audit of %s: got %q, want new value %q", name, changed[name], v)
			}
		}
		if _, checked := admin.get("/admin/settings").doc(t).Find(`input[name="alert_new_agent"]`).Attr("checked"); checked {
			t.Errorf("new client rule: got checked after turning it off")
		}
	})

	bad := []struct {
		field, value, want string
	}{
		{"alert_spike_factor", "lots", "Enter a whole number."},
		{"alert_spike_factor", "1", "from 2 to 1000"},
		{"alert_dormant_days", "0", "from 1 to 3650"},
		{"alert_dead_key_min_refusals", "", "Enter a whole number."},
		{"alert_many_addresses_count", "1", "from 2 to 100000"},
		{"alert_spike_min_uses", "-3", "from 1 to"},
	}
	for _, tt := range bad {
		t.Run("refused "+tt.field+"="+tt.value, func(t *testing.T) {
			before, _ := a.store.ActivityRules(ctx)
			r := admin.post("/admin/activity-settings", activityForm(map[string]string{tt.field: tt.value, "alert_dormant": ""}))
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422; body %.300s", r.StatusCode, r.body)
			}
			doc := r.doc(t)
			if got := doc.Find(`[data-testid="` + tt.field + `-error"]`).Text(); !strings.Contains(got, tt.want) {
				t.Errorf("error next to %s: got %q, want %q", tt.field, got, tt.want)
			}
			if got := doc.Find(`input[name="`+tt.field+`"]`).AttrOr("value", "?"); got != tt.value {
				t.Errorf("value: got %q, want %q as typed", got, tt.value)
			}
			if _, checked := doc.Find(`input[name="alert_dormant"]`).Attr("checked"); checked {
				t.Errorf("dormancy switch: got checked, want off as submitted")
			}
			if after, _ := a.store.ActivityRules(ctx); after != before {
				t.Errorf("rules changed by a refused form: %+v → %+v", before, after)
			}
		})
	}

	t.Run("auditor reads only", func(t *testing.T) {
		auditor, _ := a.userBrowser("auditor@example.com", db.RoleAuditor)
		card := auditor.get("/admin/settings").doc(t).Find(`[data-testid="settings-activity"]`)
		if card.Find("form").Length() != 0 || card.Find("button").Length() != 0 {
			t.Errorf("auditor: got a form or a button in the card, want none")
		}
		if card.Find(`fieldset[disabled] input[name="alert_spike_factor"]`).AttrOr("value", "") != "8" {
			t.Errorf("auditor: got no disabled spike factor showing 8")
		}
		wantErrorPage(t, auditor.post("/admin/activity-settings", activityForm(nil)), http.StatusForbidden)
	})
}
