package views

// NotificationsCard is the Account page's "Notifications" card: the kinds
// of e-mail a person may turn off, and those always sent.
type NotificationsCard struct {
	Choices []NotifyChoice
	// Always lists what is sent whatever the person chose: security
	// events, which the card shows so nobody looks for a switch.
	Always []string
	// MailConfigured is false when the server has no SMTP settings: the
	// card says nothing will be sent, and still saves the choices.
	MailConfigured bool
	// Saved shows the "Saved" status after an htmx save.
	Saved  bool
	Errors FieldErrors // "kinds"
}

// NotifyChoice is one kind of e-mail with its checkbox.
type NotifyChoice struct {
	Kind    string // the form value, a db notification kind
	Label   string
	Checked bool
}
