package notify

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// composeEvent writes the e-mail for ev as its recipient reads it (every
// recipient of an event reads the same words). The
// words come from ev.Data (ids and names) and, for an invite or reset,
// the link's token from ev.Private. Every message about a key links to
// the key's page.
func composeEvent(ev db.OutboxEvent, base string) (views.MailMessage, error) {
	c := eventData{ev: ev, base: base}
	switch ev.Type {
	case db.EventFactorsReset:
		return c.factorsReset(), nil
	case db.EventUserInvited:
		return c.invite()
	case db.EventPasswordReset:
		return c.reset()
	case db.EventDigest:
		return c.digest(), nil
	case db.EventEndpointDisabled:
		return c.endpointDisabled(), nil
	case db.EventAlertOpened:
		return c.alert(), nil
	case db.EventRecoveryUsed:
		return c.recoveryUsed(), nil
	case db.EventKeyExpiring, db.EventKeyExpired, db.EventKeyDisabled, db.EventKeyRevoked,
		db.EventKeyApproved, db.EventKeyDenied, db.EventKeyNewAddress:
		return c.key(), nil
	}
	return views.MailMessage{}, fmt.Errorf("no e-mail is written for %s events", ev.Type)
}

// eventData reads an event's data for its message.
type eventData struct {
	ev   db.OutboxEvent
	base string
}

// str is the string at path in the data ("" when absent).
func (c eventData) str(path ...string) string {
	v := c.value(path...)
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatInt(int64(v), 10)
	}
	return fmt.Sprint(v)
}

// value is the raw value at path in the data.
func (c eventData) value(path ...string) any {
	var cur any = c.ev.Data
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// when formats an RFC 3339 time of the data for people, in UTC.
func when(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return formatTime(t)
}

func formatTime(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006 15:04 UTC") }

func (c eventData) link(path string) string { return c.base + path }

// footers: why the person gets a message and whether they can stop it.
func (c eventData) optionalFooter(what string) (string, *views.MailLink) {
	return "You get this because e-mail about " + what + " is on for your account.",
		&views.MailLink{Label: "Change what Keyward e-mails you", URL: c.link("/account#notifications")}
}

const securityFooter = "This is a security notice about your account. It cannot be turned off."

func (c eventData) invite() (views.MailMessage, error) {
	tok := c.ev.Private["token"]
	if tok == "" {
		return views.MailMessage{}, fmt.Errorf("the invite's link is no longer stored")
	}
	host := hostOf(c.base)
	by := c.str("actor")
	intro := "You have been invited to Keyward at " + host + ", where you create and manage API keys."
	if by != "" && by != "cli" && by != "system" {
		intro = by + " invited you to Keyward at " + host + ", where you create and manage API keys."
	}
	return views.MailMessage{
		Subject: "You're invited to Keyward at " + host,
		Heading: "You're invited to Keyward",
		Paragraphs: []string{intro,
			"Open the link to choose a password and sign in. It works once, until " + when(c.str("invite", "expires_at")) + "."},
		Facts:  []views.MailFact{{Label: "Account", Value: c.str("invite", "email")}, {Label: "Role", Value: c.str("invite", "role")}},
		Action: &views.MailLink{Label: "Accept the invitation", URL: c.link("/invite/" + url.PathEscape(tok))},
		Footer: "If you did not expect this invitation, ignore this e-mail: no account exists until the link is used.",
	}, nil
}

func (c eventData) reset() (views.MailMessage, error) {
	tok := c.ev.Private["token"]
	if tok == "" {
		return views.MailMessage{}, fmt.Errorf("the reset link is no longer stored")
	}
	return views.MailMessage{
		Subject: "Reset your Keyward password",
		Heading: "Reset your password",
		Paragraphs: []string{"An admin of Keyward at " + hostOf(c.base) + " made a password-reset link for your account.",
			"Open it to choose a new password. It works once, until " + when(c.str("expires_at")) + ", and signs you out everywhere."},
		Facts:  []views.MailFact{{Label: "Account", Value: c.str("user", "email")}},
		Action: &views.MailLink{Label: "Choose a new password", URL: c.link("/reset/" + url.PathEscape(tok))},
		Footer: "If you did not ask for this, ignore this e-mail: your password stays as it is. " + securityFooter,
	}, nil
}

// key writes the messages about one key.
func (c eventData) key() views.MailMessage {
	name := c.str("key", "name")
	whose := "Your key “" + name + "”"
	if c.str("key", "owner_type") == "team" {
		whose = "The key “" + name + "” of " + c.str("key", "owner")
	}
	m := views.MailMessage{
		Facts:  []views.MailFact{{Label: "Key", Value: name + " (kw_…" + c.str("key", "hint") + ")"}},
		Action: &views.MailLink{Label: "Open the key", URL: c.link("/keys/" + c.str("key", "id"))},
	}
	reason, actor := c.str("reason"), c.str("actor")
	switch c.ev.Type {
	case db.EventKeyExpiring:
		days, _ := strconv.Atoi(c.str("days"))
		in := "in " + strconv.Itoa(days) + " days"
		if days == 1 {
			in = "in 1 day"
		}
		m.Subject = whose + " expires " + in
		m.Paragraphs = []string{whose + " stops working " + in + ". Roll it to get a new key with the same name and scopes, and replace it where it is used."}
		if at := c.expiresAt(); at != "" {
			m.Facts = append(m.Facts, views.MailFact{Label: "Expires", Value: at})
		}
		m.Footer, m.FooterLink = c.optionalFooter("expiring keys")
	case db.EventKeyExpired:
		m.Subject = whose + " has expired"
		m.Paragraphs = []string{whose + " has expired: requests with it are refused. Create a new key if it is still needed."}
		if at := c.expiresAt(); at != "" {
			m.Facts = append(m.Facts, views.MailFact{Label: "Expired", Value: at})
		}
		m.Footer, m.FooterLink = c.optionalFooter("expiring keys")
	case db.EventKeyDisabled:
		if c.ev.ActorID == 0 && (actor == "" || actor == "system") {
			m.Subject = whose + " was disabled for being unused"
			m.Paragraphs = []string{whose + " was not used for a long time, so Keyward disabled it. Requests with it are refused. Enable it on its page if it is still needed."}
			m.Footer, m.FooterLink = c.optionalFooter("unused keys")
		} else {
			m.Subject = whose + " was disabled by an admin"
			m.Paragraphs = []string{whose + " was disabled by " + orSomeone(actor) + ". Requests with it are refused until it is enabled again."}
			m.Footer = securityFooter
		}
	case db.EventKeyRevoked:
		m.Subject = whose + " was revoked"
		m.Paragraphs = []string{whose + " was revoked by " + orSomeone(actor) + ". Requests with it are refused, for good."}
		m.Footer = securityFooter
	case db.EventKeyApproved:
		m.Subject = whose + " was approved"
		m.Paragraphs = []string{whose + " was approved by " + orSomeone(actor) + ". It works now."}
		m.Footer, m.FooterLink = c.optionalFooter("approvals")
	case db.EventKeyDenied:
		m.Subject = whose + " was denied"
		m.Paragraphs = []string{"The approval " + lowerFirst(whose) + " needed was denied by " + orSomeone(actor) + ". The key does not work."}
		m.Footer, m.FooterLink = c.optionalFooter("approvals")
	case db.EventKeyNewAddress:
		m.Subject = whose + " was used from a new address"
		m.Paragraphs = []string{whose + " was used from an address it had not been used from before. If that was not you or your service, revoke it on its page."}
		m.Facts = append(m.Facts, views.MailFact{Label: "Address", Value: c.str("ip")})
		if ua := c.str("user_agent"); ua != "" {
			m.Facts = append(m.Facts, views.MailFact{Label: "User agent", Value: ua})
		}
		m.Facts = append(m.Facts, views.MailFact{Label: "When", Value: formatTime(c.ev.At)})
		m.Footer, m.FooterLink = c.optionalFooter("keys used from new addresses")
	}
	if reason != "" {
		m.Facts = append(m.Facts, views.MailFact{Label: "Reason", Value: reason})
	}
	m.Heading = m.Subject
	return m
}

// expiresAt is the key's expiry as the event gives it, for people.
func (c eventData) expiresAt() string {
	for _, p := range [][]string{{"expires_at"}, {"key", "expires_at"}} {
		if s := c.str(p...); s != "" {
			return when(s)
		}
	}
	return ""
}

// digest writes the weekly summary for admins.
func (c eventData) digest() views.MailMessage {
	list := func(field, title, empty string, detail func(item map[string]any) string) views.MailList {
		l := views.MailList{Title: title, Empty: empty}
		items, _ := c.value(field).([]any)
		for _, it := range items {
			item, ok := it.(map[string]any)
			if !ok {
				continue
			}
			d := eventData{ev: db.OutboxEvent{Data: item}}
			entry := views.MailItem{Label: d.str("name"), URL: c.link("/keys/" + d.str("id")), Detail: detail(item)}
			l.Items = append(l.Items, entry)
		}
		return l
	}
	owner := func(item map[string]any) string {
		return eventData{ev: db.OutboxEvent{Data: item}}.str("owner")
	}
	stale := list("stale", "Stale keys", "No stale keys.", func(item map[string]any) string {
		last := eventData{ev: db.OutboxEvent{Data: item}}.str("last_used_at")
		return owner(item) + ", last used " + when(last)
	})
	never := list("never_used", "Never used", "No key waits unused.", func(item map[string]any) string {
		return owner(item)
	})
	expiring := list("expiring", "Expiring next week", "No key expires next week.", func(item map[string]any) string {
		return owner(item) + ", expires " + when(eventData{ev: db.OutboxEvent{Data: item}}.str("expires_at"))
	})
	week := c.str("week")
	return views.MailMessage{
		Subject: fmt.Sprintf("Keyward weekly digest %s: %d stale, %d never used, %d expiring",
			week, len(stale.Items), len(never.Items), len(expiring.Items)),
		Heading:    "Weekly digest " + week,
		Paragraphs: []string{"The keys that need an admin's look this week on Keyward at " + hostOf(c.base) + "."},
		Lists:      []views.MailList{stale, never, expiring},
		Action:     &views.MailLink{Label: "Review stale keys", URL: c.link("/admin/keys?stale=1")},
		Footer:     "You get this because you are an admin and the weekly digest is on for your account.",
		FooterLink: &views.MailLink{Label: "Change what Keyward e-mails you", URL: c.link("/account#notifications")},
	}
}

// endpointDisabled tells an admin a webhook endpoint stopped receiving.
func (c eventData) endpointDisabled() views.MailMessage {
	u := c.str("endpoint", "url")
	return views.MailMessage{
		Subject: "Webhook endpoint disabled: " + hostOf(u),
		Heading: "A webhook endpoint was disabled",
		Paragraphs: []string{"Every delivery to this endpoint failed for 24 hours, so Keyward disabled it and stopped sending to it.",
			"Fix the receiver, then enable the endpoint again; its delivery log shows what it answered."},
		Facts:  []views.MailFact{{Label: "Endpoint", Value: u}, {Label: "Reason", Value: c.str("reason")}},
		Action: &views.MailLink{Label: "Open the endpoint", URL: c.link("/admin/webhooks/" + c.str("endpoint", "id"))},
		Footer: "You get this because you added this endpoint or are an admin. " + securityFooter,
	}
}

// testMessage is the settings page's test e-mail.
func testMessage(cfg MailConfig, base string) views.MailMessage {
	return views.MailMessage{
		Subject: "Keyward test e-mail",
		Heading: "E-mail from Keyward works",
		Paragraphs: []string{"An admin sent this test from the settings page of Keyward at " + hostOf(base) + ".",
			"Invites, reset links and key notifications will arrive the same way."},
		Facts: []views.MailFact{{Label: "SMTP server", Value: fmt.Sprintf("%s:%d (%s)", cfg.Host, cfg.Port, cfg.TLS)}},
	}
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return rawURL
	}
	return u.Host
}

// orSomeone names who acted, as the audit log labels them.
func orSomeone(actor string) string {
	switch actor {
	case "":
		return "an admin"
	case "cli":
		return "an admin on the command line"
	case "system":
		return "Keyward"
	}
	return actor
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]|0x20) + s[1:]
}
