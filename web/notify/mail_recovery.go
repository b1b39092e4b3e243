package notify

import (
	"strconv"

	"github.com/keyward/keyward/views"
)

// recoveryUsed tells a person that a recovery code signed in to their
// account: if it was not them, their password and a code are in someone
// else's hands, and this e-mail is how they find out.
func (c eventData) recoveryUsed() views.MailMessage {
	left := c.str("left")
	n, _ := strconv.Atoi(left)
	leftText := left + " recovery codes left"
	if n == 1 {
		leftText = "1 recovery code left"
	}
	facts := []views.MailFact{{Label: "Account", Value: c.str("user", "email")}, {Label: "When", Value: when(c.str("at"))}}
	if ip := c.str("ip"); ip != "" {
		facts = append(facts, views.MailFact{Label: "From address", Value: ip})
	}
	facts = append(facts, views.MailFact{Label: "Codes left", Value: left})
	paras := []string{
		"A recovery code was used to sign in to your Keyward account at " + hostOf(c.base) + ". You have " + leftText + ".",
		"If this wasn't you, someone knows your password and has one of your recovery codes: " +
			"change your password, generate new recovery codes, and tell your administrator.",
	}
	if n <= 3 {
		paras = append(paras, "Running low: generate a new set of codes on your security page (it voids the old ones).")
	}
	return views.MailMessage{
		Subject:    "A recovery code was used to sign in to Keyward",
		Heading:    "A recovery code was used",
		Paragraphs: paras,
		Facts:      facts,
		Action:     &views.MailLink{Label: "Review your sign-in methods", URL: c.link("/account/security")},
		Footer:     securityFooter,
	}
}
