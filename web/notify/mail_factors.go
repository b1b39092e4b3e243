package notify

import (
	"github.com/keyward/keyward/views"
)

// factorsReset tells a person that an admin removed their second factors
// and ended their sessions. It is a security notice: if they did not ask
// for it, someone with admin rights acted on their account, and they
// should know before they next sign in with only a password.
func (c eventData) factorsReset() views.MailMessage {
	by := orSomeone(c.str("actor"))
	return views.MailMessage{
		Subject: "Your Keyward second factors were reset",
		Heading: "Your second factors were reset",
		Paragraphs: []string{
			by + " removed the authenticator app, passkeys and recovery codes of your account at " + hostOf(c.base) + ", and signed you out everywhere.",
			"Next time you sign in, you use your password alone; if your organisation requires a second factor, you are asked to set up a new one straight away.",
			"If you did not ask an admin for this, tell your security team.",
		},
		Facts:  []views.MailFact{{Label: "Account", Value: c.str("user", "email")}},
		Action: &views.MailLink{Label: "Set up a second factor", URL: c.link("/account/security")},
		Footer: securityFooter,
	}
}
