package views

// MailMessage is one notification e-mail as the person reads it. Package
// web/notify builds it from an outbox event and renders it twice: as HTML
// (MailHTML) and as plain text, so both parts always say the same. Every
// field is plain text; templ escapes it in the HTML part.
type MailMessage struct {
	Subject string
	// Heading is the first line of the body, often the subject in words.
	Heading    string
	Paragraphs []string
	// Facts are label/value lines: the key, the address, the reason.
	Facts []MailFact
	// Action is the one link the message is about (the key page, the
	// invite link); nil when there is none.
	Action *MailLink
	// Lists are the digest's sections.
	Lists []MailList
	// Footer says why the person gets this and where to change it.
	Footer string
	// FooterLink is where the footer points (the Account page), if any.
	FooterLink *MailLink
}

// MailFact is one label/value line of a message.
type MailFact struct {
	Label, Value string
}

// MailLink is a link with its words. URL is absolute (the base URL's).
type MailLink struct {
	Label, URL string
}

// MailList is a titled list of items (a digest section); Empty is said
// when it has none.
type MailList struct {
	Title string
	Empty string
	Items []MailItem
}

// MailItem is one entry of a list: a key with a link and a detail.
type MailItem struct {
	Label  string
	URL    string
	Detail string
}
