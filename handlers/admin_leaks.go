package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// leakCard is the settings page's "Leaked keys" card as stored: the action
// a report takes (ActivityRules.LeakDisable) and GitHub's public keys.
func (h *Handler) leakCard(c echo.Context) (views.LeakSettingsCard, error) {
	rules, err := h.Store.ActivityRules(ctx(c))
	if err != nil {
		return views.LeakSettingsCard{}, err
	}
	doc, keys, err := h.Store.GitHubScanningKeys(ctx(c))
	if err != nil {
		return views.LeakSettingsCard{}, err
	}
	base := strings.TrimRight(h.BaseURL, "/")
	card := views.LeakSettingsCard{Action: views.LeakActionRevoke, Document: doc,
		ReportURL: base + "/api/v1/keys/report-leak", GitHubURL: base + "/api/v1/secret-scanning/github"}
	if rules.LeakDisable {
		card.Action = views.LeakActionDisable
	}
	for _, k := range keys {
		card.Keys = append(card.Keys, views.GitHubKeyRow{ID: k.ID, Current: k.Current})
	}
	return card, nil
}

// AdminSecretScanningSave is POST /admin/secret-scanning: the "Leaked keys"
// card. Both fields are checked before either is written, so a refused
// document leaves the action unchanged too. The action goes through
// SetActivityRules (read whole, LeakDisable changed), each change audited
// as setting.change; the document is audited by its key identifiers.
func (h *Handler) AdminSecretScanningSave(c echo.Context) error {
	action := strings.TrimSpace(c.FormValue("leak_action"))
	doc := strings.TrimSpace(c.FormValue(db.SettingGitHubScanningKeys))
	fe := views.FieldErrors{}
	if action != views.LeakActionRevoke && action != views.LeakActionDisable {
		fe["leak_disable"] = "Choose what a report does: revoke or disable."
	}
	if doc != "" {
		if _, err := db.ParseGitHubScanningKeys(doc); err != nil {
			for k, v := range db.FieldErrors(err) {
				fe[k] = v
			}
		}
	}
	if len(fe) > 0 {
		return h.leakCardRefused(c, action, doc, fe)
	}
	rules, err := h.Store.ActivityRules(ctx(c))
	if err != nil {
		return err
	}
	rules.LeakDisable = action == views.LeakActionDisable
	if err := h.Store.SetActivityRules(ctx(c), rules, actor(c)); err != nil {
		return err
	}
	if err := h.Store.SetGitHubScanningKeys(ctx(c), doc, actor(c)); err != nil {
		if errs := db.FieldErrors(err); errs != nil {
			return h.leakCardRefused(c, action, doc, errs)
		}
		return err
	}
	h.flash(c, "success", "Leak settings saved.")
	return redirect(c, "/admin/settings#leaked-keys")
}

// leakCardRefused renders the settings page with the card as typed and
// its errors next to the fields (422).
func (h *Handler) leakCardRefused(c echo.Context, action, doc string, fe map[string]string) error {
	p, err := h.Store.Policy(ctx(c))
	if err != nil {
		return err
	}
	page, err := h.withMail(c, h.settingsPage(c, policyForm(p)), views.MailTestForm{})
	if err != nil {
		return err
	}
	page.Leaks.Action, page.Leaks.Document, page.Leaks.Errors = action, doc, fe
	return render(c, http.StatusUnprocessableEntity, views.AdminSettingsView(page))
}
