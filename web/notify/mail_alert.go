package notify

import (
	"net/url"

	"github.com/keyward/keyward/views"
)

// alert writes the alert.opened e-mail: what was noticed (the alert's own
// summary), the key, the evidence as on the Alerts page, and a link to
// the key's alerts. It is a security notice: nobody turns it off.
func (c eventData) alert() views.MailMessage {
	name := c.str("key", "name")
	whose := "your key “" + name + "”"
	if c.str("key", "owner_type") == "team" {
		whose = "the key “" + name + "” of " + c.str("key", "owner")
	}
	rule := views.AlertRuleLabel(c.str("alert", "rule"))
	summary := c.str("alert", "summary")
	if summary == "" {
		summary = rule
	}
	m := views.MailMessage{
		Subject: "Alert on " + whose + ": " + lowerFirst(rule),
		Heading: summary,
		Paragraphs: []string{"Keyward noticed unusual use of " + whose + ". Review the alert; if the key may be in the wrong hands, revoke or roll it on its page.",
			"The alert stays open, and further findings update it, until someone resolves it."},
		Facts: []views.MailFact{
			{Label: "Key", Value: name + " (kw_…" + c.str("key", "hint") + ")"},
			{Label: "Owner", Value: c.str("key", "owner")},
			{Label: "Alert", Value: rule},
		},
		Action: &views.MailLink{Label: "Review the alert", URL: c.link("/alerts?key=" + url.QueryEscape(c.str("key", "id")))},
		Footer: "You get this as the key's owner, or as an admin for the alerts that concern every admin. " + securityFooter,
	}
	if at := c.str("alert", "first_seen_at"); at != "" {
		m.Facts = append(m.Facts, views.MailFact{Label: "Seen", Value: when(at)})
	}
	evidence, _ := c.value("alert", "evidence").(map[string]any)
	for _, e := range views.AlertEvidence(evidence) {
		if e.List == nil {
			m.Facts = append(m.Facts, views.MailFact{Label: e.Label, Value: e.Value})
			continue
		}
		l := views.MailList{Title: e.Label}
		for _, v := range e.List {
			l.Items = append(l.Items, views.MailItem{Label: v})
		}
		m.Lists = append(m.Lists, l)
	}
	return m
}
