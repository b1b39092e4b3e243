package views

// LeakSettingsCard is the settings page's "Leaked keys" card: what a leak
// report does to a key, and the public keys GitHub's secret scanning signs
// with (the GitHub endpoint refuses everything until they are pasted).
type LeakSettingsCard struct {
	// Action is "revoke" (the default: a leaked key is burnt) or "disable".
	Action string
	// Document is GitHub's public key document, as stored or as typed.
	Document string
	// Keys are the configured keys (not the typed ones after a refusal).
	Keys []GitHubKeyRow
	// ReportURL and GitHubURL are the two endpoints on this server, from
	// its base URL: the one to publish, the one to register with GitHub.
	ReportURL, GitHubURL string
	Errors               FieldErrors
}

// GitHubKeyRow is one configured GitHub public key.
type GitHubKeyRow struct {
	ID      string
	Current bool
}

// Leak actions, the values of the card's radio buttons.
const (
	LeakActionRevoke  = "revoke"
	LeakActionDisable = "disable"
)
