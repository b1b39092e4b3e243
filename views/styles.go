package views

import (
	"encoding/json"
	"strings"

	"github.com/a-h/templ"
)

// Class strings shared by every page so buttons, fields, cards and tables
// look the same everywhere. The kw-* classes are defined once in
// static/css/input.css (@layer components); append utilities when a page
// needs more, e.g. BtnPrimary + " w-full".
const (
	BtnPrimary     = "kw-btn kw-btn-primary"
	BtnSecondary   = "kw-btn kw-btn-secondary"
	BtnDanger      = "kw-btn kw-btn-danger"
	BtnGhost       = "kw-btn kw-btn-ghost"
	InputClass     = "kw-input"
	LabelClass     = "kw-label"
	HelpClass      = "kw-help"
	ErrorTextClass = "kw-error-text"
	CardClass      = "kw-card"
	TableClass     = "kw-table"
	// StackTableClass is a TableClass whose rows become cards of "label:
	// value" lines below 1280 px; each cell names its column in data-label.
	StackTableClass = "kw-table kw-stack"
	ThClass         = "kw-th"
	TdClass         = "kw-td"
)

// Invalid reports whether field has an error message, for aria-invalid.
func Invalid(errs FieldErrors, field string) bool {
	return errs[field] != ""
}

// FieldAttrs returns the attributes that tie an input to its FieldError:
// aria-invalid and aria-describedby="{field}-error" when the field has an
// error. describedBy names other elements that describe the input (a help
// text's id); they are always referenced, the error id after them.
// Spread it into an input: <input { FieldAttrs(errs, "name", "name-help")... }>.
func FieldAttrs(errs FieldErrors, field string, describedBy ...string) templ.Attributes {
	ids := append([]string(nil), describedBy...)
	a := templ.Attributes{}
	if Invalid(errs, field) {
		a["aria-invalid"] = "true"
		ids = append(ids, field+"-error")
	}
	if len(ids) > 0 {
		a["aria-describedby"] = strings.Join(ids, " ")
	}
	return a
}

// hxHeaders is the JSON of <body hx-headers>, which makes htmx send the CSRF
// token with every request. It is marshalled, never concatenated, so no token
// value can break out of the JSON.
func hxHeaders(csrfToken string) string {
	b, err := json.Marshal(map[string]string{"X-CSRF-Token": csrfToken})
	if err != nil {
		return "{}"
	}
	return string(b)
}

// badge is how a key status is shown: its words and its colours.
type badge struct {
	Label string
	Class string
}

const badgeBase = "inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset whitespace-nowrap "

// badges lists every status a key (or a stale finding) can show. The class
// strings are written out in full so Tailwind finds them.
var badges = map[string]badge{
	"active":   {"Active", badgeBase + "bg-emerald-50 text-emerald-800 ring-emerald-600/20 dark:bg-emerald-400/10 dark:text-emerald-300 dark:ring-emerald-400/30"},
	"expiring": {"Expiring soon", badgeBase + "bg-amber-50 text-amber-800 ring-amber-600/30 dark:bg-amber-400/10 dark:text-amber-300 dark:ring-amber-400/30"},
	"expired":  {"Expired", badgeBase + "bg-slate-100 text-slate-700 ring-slate-500/20 dark:bg-slate-400/10 dark:text-slate-300 dark:ring-slate-400/30"},
	"disabled": {"Disabled", badgeBase + "bg-slate-200 text-slate-800 ring-slate-600/30 dark:bg-slate-500/20 dark:text-slate-200 dark:ring-slate-400/40"},
	"revoked":  {"Revoked", badgeBase + "bg-red-50 text-red-800 ring-red-600/20 dark:bg-red-400/10 dark:text-red-300 dark:ring-red-400/30"},
	"pending":  {"Waiting for approval", badgeBase + "bg-violet-50 text-violet-800 ring-violet-600/20 dark:bg-violet-400/10 dark:text-violet-300 dark:ring-violet-400/30"},
	"stale":    {"Stale", badgeBase + "bg-orange-50 text-orange-800 ring-orange-600/30 dark:bg-orange-400/10 dark:text-orange-300 dark:ring-orange-400/30"},
}

// KeyStatuses are the key statuses in the order people look for them, with
// the labels of their badges: the filters of every key list come from here.
// The values are db.KeyStatuses (views does not import db; a handlers test
// holds the two lists equal).
var KeyStatuses = func() []ActionOption {
	values := []string{"active", "expiring", "pending", "expired", "disabled", "revoked"}
	out := make([]ActionOption, len(values))
	for i, v := range values {
		out[i] = ActionOption{Value: v, Label: badges[v].Label}
	}
	return out
}()

// badgeFor returns the badge of status; an unknown status is shown as is, in
// neutral colours, rather than hidden.
func badgeFor(status string) badge {
	if b, ok := badges[status]; ok {
		return b
	}
	return badge{Label: status, Class: badges["expired"].Class}
}

// flashClass colours a flash message by its kind.
func flashClass(kind string) string {
	const base = "flex items-start gap-3 rounded-lg border px-4 py-3 text-sm "
	switch kind {
	case "success":
		return base + "border-emerald-200 bg-emerald-50 text-emerald-900 dark:border-emerald-400/30 dark:bg-emerald-400/10 dark:text-emerald-200"
	case "error":
		return base + "border-red-200 bg-red-50 text-red-900 dark:border-red-400/30 dark:bg-red-400/10 dark:text-red-200"
	default:
		return base + "border-indigo-200 bg-indigo-50 text-indigo-900 dark:border-indigo-400/30 dark:bg-indigo-400/10 dark:text-indigo-200"
	}
}

// navClass styles a header link, highlighting the current section.
func navClass(active bool) string {
	// Narrower on phones: five items (an admin's, with the Alerts count)
	// must fit 390 px.
	const base = "rounded-md px-2.5 py-2 text-sm font-medium focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-brand-500 sm:px-3 "
	if active {
		return base + "bg-slate-100 text-slate-900 dark:bg-slate-800 dark:text-white"
	}
	return base + "text-slate-600 hover:bg-slate-100 hover:text-slate-900 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white"
}

// ariaCurrent returns the aria-current attribute for the active nav item.
func ariaCurrent(active bool) templ.Attributes {
	if active {
		return templ.Attributes{"aria-current": "page"}
	}
	return templ.Attributes{}
}

// pageTitle is the <title>: the page first, so tabs stay tellable apart.
func pageTitle(title string) string {
	if title == "" {
		return "Keyward"
	}
	return title + " · Keyward"
}

// withTitle gives a page its default title when the handler set none.
func withTitle(l Layout, title string) Layout {
	if l.Title == "" {
		l.Title = title
	}
	return l
}
