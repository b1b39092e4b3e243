package views

import "time"

// MailSection is the settings page's E-mail card: how mail goes out (or
// that it does not), the test message, and the e-mail delivery log.
type MailSection struct {
	// Server is nil when e-mail is not configured: nothing is sent.
	Server *MailServerInfo
	// Configured is true when e-mail is sent, even if Server is unknown.
	Configured bool
	// Test is the test form, with the outcome of the last send.
	Test MailTestForm
	// Log is the latest e-mail deliveries, newest first.
	Log []DeliveryRow
}

// MailServerInfo is the SMTP configuration as shown: never the password.
type MailServerInfo struct {
	Host string
	Port int
	TLS  string // starttls, tls or none
	User string // "" when there is no login
	From string
}

// MailTestForm is the "Send test e-mail" form and its outcome.
type MailTestForm struct {
	To     string
	Errors FieldErrors
	// Sent is set after a send was tried: Answer is the server's answer,
	// or Error why it failed.
	Sent   bool
	Answer string
	Error  string
}

// DeliveryRow is one row of a delivery log.
type DeliveryRow struct {
	ID        int64
	At        time.Time // the latest attempt, or when the delivery was made
	Recipient string
	EventType string
	Status    string // pending, delivered or failed
	Attempts  int
	// Answer is the receiver's last answer: its code and why it failed.
	Answer string
	// NextAttemptAt is when a pending delivery is tried again.
	NextAttemptAt *time.Time
}
