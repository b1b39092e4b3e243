package views

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/a-h/templ"
)

func TestH4Scratch(t *testing.T) {
	now := time.Now().UTC()
	lay := func(title string) Layout {
		return Layout{Title: title, User: &CurrentUser{Email: "ada@example.com", IsAdmin: true}, CSRFToken: "tok", Version: "dev", Now: now}
	}
	var c UsageChart
	for i := 0; i < 30; i++ {
		d := UsageDay{Day: now.Truncate(24*time.Hour).AddDate(0, 0, i-29), Count: int64((i*37)%11) * 13}
		if i < 6 {
			d.Count = 0
		}
		c.Days = append(c.Days, d)
		c.Total += d.Count
		c.Max = max(c.Max, d.Count)
	}
	ago := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	in := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	choices := []ExpiryChoice{{"7", "7 days"}, {"30", "30 days"}, {"60", "60 days"}, {"90", "90 days"}, {"365", "1 year"}, {"custom", "Custom date"}, {"never", "No expiry"}}
	form := KeyForm{Expiry: "30", ExpiryChoices: choices, MinDate: "2026-11-27"}
	rows := []KeyRow{
		{ID: 12, Name: "Billing service (production)", Hint: "kw_…a1B2", Scopes: []string{"read:orders", "write:orders"}, CreatedAt: now.Add(-40 * 24 * time.Hour), LastUsedAt: ago(3 * time.Minute), ExpiresAt: in(50 * 24 * time.Hour), Status: "active"},
		{ID: 11, Name: "CI deploy", Hint: "kw_…x9Zq", CreatedAt: now.Add(-80 * 24 * time.Hour), ExpiresAt: in(3 * 24 * time.Hour), Status: "expiring"},
		{ID: 10, Name: "Old analytics", Hint: "kw_…0000", Scopes: []string{"read:stats"}, CreatedAt: now.Add(-400 * 24 * time.Hour), LastUsedAt: ago(200 * 24 * time.Hour), Status: "disabled"},
		{ID: 9, Name: "Leaked key", Hint: "kw_…dead", CreatedAt: now.Add(-20 * 24 * time.Hour), ExpiresAt: ago(24 * time.Hour), Status: "revoked"},
	}
	key := "kw_4Qx8ZrT1mB7nW2cKdP9sLfH3vJ6gY0aE5uRiOoNtXyb1c2D3e"
	pages := map[string]templ.Component{
		"keys":       Keys(KeysPage{Layout: lay(""), Keys: rows, Total: 14, AllKeys: 14, Page: 2, PerPage: 4, HasPrev: true, HasNext: true, Form: form}),
		"keys-empty": Keys(KeysPage{Layout: lay(""), Form: form, Page: 1, PerPage: 25}),
		"keys-none":  Keys(KeysPage{Layout: lay(""), Form: form, Status: "expiring", AllKeys: 3, Page: 1, PerPage: 25}),
		"keynew": KeyNew(NewKeyPage{Layout: lay(""), Form: KeyForm{Name: "", Description: "x", Expiry: "custom", ExpiryDate: "2026-01-01", Scopes: "Read:Orders", ExpiryChoices: choices, MinDate: "2026-11-27",
			Errors: FieldErrors{"name": "Enter a name.", "expiry_date": "Choose a date in the future.", "scopes": "Scopes use lowercase letters, digits and : . _ -"}}}),
		"keycreated": KeyCreated(KeyCreatedPage{Layout: lay(""), Reveal: KeyReveal{ID: 12, Name: "Billing service (production)", Key: key, VerifyURL: "http://localhost:8080/api/v1/keys/verify",
			Curl: "curl -sS -X POST http://localhost:8080/api/v1/keys/verify \\\n  -H 'Content-Type: application/json' \\\n  -d '{\"key\": \"" + key + "\"}'", Rolled: true, OldKeyID: 3, OldExpiresAt: in(24 * time.Hour)}}),
		"keyshow": KeyShow(KeyPage{Layout: lay(""), Key: KeyDetail{KeyRow: rows[0], Description: "Used by the billing worker to fetch orders.", LastUsedIP: "203.0.113.7", LastUsedUserAgent: "billing-worker/2.3 (+https://example.com)", RolledFromID: 4, IsOwner: true},
			Usage: c, EditName: "Billing service (production)", EditDesc: "Used by the billing worker to fetch orders.",
			Events: []EventRow{{At: now.Add(-3 * time.Minute), Actor: "system", Action: "Used from a new IP", IP: "203.0.113.7", Detail: "billing-worker/2.3"}, {At: now.Add(-40 * 24 * time.Hour), Actor: "ada@example.com", Action: "Key created", IP: "192.0.2.1"}},
			GraceChoices: []GraceChoice{{"0", "Stop now"}, {"1h", "1 hour"}, {"24h", "24 hours"}, {"168h", "7 days"}}}),
		"keyshow-revoked": KeyShow(KeyPage{Layout: lay(""), Key: KeyDetail{KeyRow: rows[3], RevokedAt: ago(2 * time.Hour), IsOwner: true}, Usage: UsageChart{Days: c.Days[:30:30]}}),
	}
	css := regexp.MustCompile(`href="/static/css/app.css[^"]*"`)
	for name, p := range pages {
		f, _ := os.Create("/tmp/h4/" + name + ".html")
		var b = &stringsBuilder{}
		p.Render(context.Background(), b)
		f.WriteString(css.ReplaceAllString(b.String(), `href="app.css"`))
		f.Close()
	}
}

type stringsBuilder struct{ b []byte }

func (s *stringsBuilder) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *stringsBuilder) String() string              { return string(s.b) }
