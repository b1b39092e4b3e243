package views

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AlertsPage is GET /alerts: the alerts on keys the person can see (all of
// them for admins and auditors), filtered by status, rule and key.
type AlertsPage struct {
	Layout
	Alerts []AlertRow
	Filter AlertsFilter
	// Rules are the rule filter's choices (value and label).
	Rules []ActionOption
	// NextURL is the next page's address, "" on the last page; FirstURL
	// goes back to the first when this is a later page.
	NextURL, FirstURL string
	// Back is this page's address, where a no-JS acknowledge or resolve
	// returns to.
	Back string
}

// AlertsFilter is what the list is narrowed to. Status is "" for open and
// acknowledged, "all", or one status; KeyName names KeyID when set.
type AlertsFilter struct {
	Status  string
	Rule    string
	KeyID   int64
	KeyName string
}

// Filtered reports whether anything but the default narrows the list.
func (f AlertsFilter) Filtered() bool { return f.Status != "" || f.Rule != "" || f.KeyID != 0 }

// AlertRow is one alert in the table (and the row an action swaps in).
type AlertRow struct {
	ID          int64
	Rule        string
	KeyID       int64
	KeyName     string
	KeyHint     string
	Owner       string
	Status      string
	Summary     string
	Evidence    []EvidenceItem
	FirstSeen   time.Time
	LastSeen    time.Time
	Occurrences int64

	AcknowledgedAt *time.Time
	AcknowledgedBy string
	ResolvedAt     *time.Time
	ResolvedBy     string
	// CanAct: the person may acknowledge and resolve it (they manage the
	// key, or are an admin). Readers see the row without the buttons.
	CanAct bool
}

// AlertRowView is the answer to an htmx acknowledge or resolve: the row,
// the navigation item with its new count, and words for screen readers.
type AlertRowView struct {
	Row       AlertRow
	Now       time.Time
	CSRFToken string
	Back      string
	Active    int
	Announce  string
}

// alertRuleLabels name the rules (db.AlertRules) for people: views does
// not import db, and a handlers test holds the two lists together.
var alertRuleLabels = map[string]string{
	"dead_key":       "Dead key in use",
	"leak_reported":  "Leak reported",
	"spike":          "Traffic spike",
	"many_addresses": "Many addresses",
	"new_network":    "New network",
	"new_agent":      "New client",
	"dormant_use":    "Used after dormancy",
}

// AlertRuleLabel is a rule's label; a rule from a newer version shows as
// its name rather than as nothing.
func AlertRuleLabel(rule string) string {
	if l, ok := alertRuleLabels[rule]; ok {
		return l
	}
	return rule
}

// AlertStatusLabel is a status in words.
func AlertStatusLabel(status string) string {
	switch status {
	case "open":
		return "Open"
	case "acknowledged":
		return "Acknowledged"
	case "resolved":
		return "Resolved"
	}
	return status
}

// alertStatusFilters are the status tabs: the unresolved ones first, the
// page's default.
var alertStatusFilters = []statusTab{{"", "Needs attention"}, {"open", "Open"},
	{"acknowledged", "Acknowledged"}, {"resolved", "Resolved"}, {"all", "All"}}

// AlertsURL is the Alerts page's address for a filter (empty parts left
// out, so the plain list stays /alerts).
func AlertsURL(status, rule string, keyID int64) string {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if rule != "" {
		q.Set("rule", rule)
	}
	if keyID != 0 {
		q.Set("key", strconv.FormatInt(keyID, 10))
	}
	if len(q) == 0 {
		return "/alerts"
	}
	return "/alerts?" + q.Encode()
}

// EvidenceItem is one line of an alert's evidence: a label with a value,
// or with a list (the addresses).
type EvidenceItem struct {
	Key   string
	Label string
	Value string
	List  []string
}

// evidenceOrder and evidenceLabels: the evidence keys the rules write
// (snake_case), in the order people read them. Keys not listed follow,
// sorted, with their name in words.
var (
	evidenceOrder  = []string{"attempts", "uses", "typical_hour", "hour", "addresses", "network", "agent", "dormant_days", "source", "url"}
	evidenceLabels = map[string]string{
		"attempts": "Attempts", "uses": "Uses", "typical_hour": "Typical hour", "hour": "Hour",
		"addresses": "Addresses", "network": "Network", "agent": "Client", "dormant_days": "Unused for (days)",
		"source": "Reported by", "url": "Found at",
	}
)

// maxEvidenceList bounds a listed value (a key used from thousands of
// addresses shows the first ones and how many more).
const maxEvidenceList = 20

// AlertEvidence turns an alert's evidence (a JSON object) into lines for
// the page and the e-mail: numbers with thousands separators, hours as
// times, lists of addresses as lists.
func AlertEvidence(ev map[string]any) []EvidenceItem {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		ia, ib := slices.Index(evidenceOrder, a), slices.Index(evidenceOrder, b)
		if ia < 0 {
			ia = len(evidenceOrder)
		}
		if ib < 0 {
			ib = len(evidenceOrder)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	out := make([]EvidenceItem, 0, len(keys))
	for _, k := range keys {
		it := EvidenceItem{Key: k, Label: evidenceLabel(k)}
		switch v := ev[k].(type) {
		case []any:
			for i, x := range v {
				if i == maxEvidenceList {
					it.List = append(it.List, fmt.Sprintf("and %s more", FormatCount(int64(len(v)-i))))
					break
				}
				it.List = append(it.List, evidenceValue(k, x))
			}
			if len(it.List) == 0 {
				it.Value = "none"
			}
		default:
			it.Value = evidenceValue(k, v)
		}
		out = append(out, it)
	}
	return out
}

func evidenceLabel(k string) string {
	if l, ok := evidenceLabels[k]; ok {
		return l
	}
	s := strings.ReplaceAll(k, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// evidenceValue is one value in words. An hour is stored as hours since
// the Unix epoch (key_usage_hourly's bucket) or as a time.
func evidenceValue(key string, v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		if key == "hour" {
			if t, err := time.Parse(time.RFC3339, x); err == nil {
				return hourText(t)
			}
		}
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		if key == "hour" && x > 100_000 && x == math.Trunc(x) {
			return hourText(time.Unix(int64(x)*3600, 0))
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return FormatCount(int64(x))
		}
		return strconv.FormatFloat(x, 'f', 1, 64)
	case int:
		return FormatCount(int64(x))
	case int64:
		return FormatCount(x)
	case map[string]any:
		// An address with its count: {"ip": "203.0.113.7", "count": 12}.
		for _, name := range []string{"ip", "address", "network", "value"} {
			if s, ok := x[name].(string); ok {
				for _, n := range []string{"count", "attempts", "uses", "refusals"} {
					if c, ok := x[n].(float64); ok {
						return s + " (" + FormatCount(int64(c)) + ")"
					}
				}
				return s
			}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func hourText(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006, 15:00 UTC") }

// FormatCount writes n with thousands separators: 1,204.
func FormatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// AlertsBadge is the navigation's count in digits ("" for none), capped
// as db.CountActiveAlerts is.
func AlertsBadge(n int) string {
	switch {
	case n <= 0:
		return ""
	case n >= 100:
		return "99+"
	}
	return strconv.Itoa(n)
}

// alertsNavText is what a screen reader says after "Alerts".
func alertsNavText(n int) string {
	switch {
	case n <= 0:
		return ""
	case n >= 100:
		return ", more than 99 open"
	}
	return ", " + strconv.Itoa(n) + " open"
}
