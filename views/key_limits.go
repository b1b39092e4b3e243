package views

// KeyLimits is the key page's "Limits" card: where the key may be presented
// from and the metadata services receive with it.
type KeyLimits struct {
	AllowedIPs []string // canonical CIDRs; none: anywhere
	Meta       string   // the stored JSON object, indented for reading; "" none
	// CanManage: the viewer may change them (the form is shown); read-only
	// viewers and revoked keys get the values only.
	CanManage bool
	// The form's values, as typed when it came back with Errors.
	EditAllowedIPs string
	EditMeta       string
	Errors         FieldErrors // "allowed_ips", "meta"
}
