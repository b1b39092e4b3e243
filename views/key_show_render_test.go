package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

const testKey = "kw_4Qx8ZrT1mB7nW2cKdP9sLfH3vJ6gY0aE5uRiOoNtXyb1c2D3e"

func sampleReveal() KeyReveal {
	return KeyReveal{
		ID:        42,
		Name:      "Billing",
		Key:       testKey,
		VerifyURL: "https://keys.example.com/api/v1/keys/verify",
		Curl:      `curl -X POST https://keys.example.com/api/v1/keys/verify -d '{"key": "` + testKey + `"}'`,
	}
}

func TestKeyRevealPanel(t *testing.T) {
	r := sampleReveal()
	doc, html := renderKeysView(t, KeyRevealPanel(r))

	root := doc.Find("[data-testid=key-reveal]")
	if id, _ := root.Attr("id"); id != "create-key" {
		t.Errorf("got root id %q, want create-key", id)
	}
	if _, ok := root.Attr("data-confirm-leave"); !ok {
		t.Errorf("got no data-confirm-leave, want it on the panel")
	}
	if got, _ := doc.Find("input[data-testid=new-key]").Attr("value"); got != testKey {
		t.Errorf("got key field %q, want %q", got, testKey)
	}
	if got := doc.Find("#curl-example").Text(); got != r.Curl {
		t.Errorf("got curl %q, want %q", got, r.Curl)
	}
	// The key appears in the field and in the curl command, nowhere else.
	if got := strings.Count(html, testKey); got != 2 {
		t.Errorf("got the key %d times in the HTML, want 2 (field + curl)", got)
	}
	for sel, want := range map[string]string{"[data-testid=copy-button]": "#new-key", "[data-testid=copy-curl]": "#curl-example"} {
		if got, _ := doc.Find(sel).Attr("data-copy"); got != want {
			t.Errorf("got %s data-copy %q, want %q", sel, got, want)
		}
		// Shown by app.js, which does the copying: without it, no button.
		if _, hidden := doc.Find(sel).Attr("hidden"); !hidden {
			t.Errorf("got %s without the hidden attribute, want it hidden until app.js shows it", sel)
		}
	}
	if got := doc.Find("[data-copy-hint]").Length(); got != 2 {
		t.Errorf("got %d copy-by-hand hints, want 2 (key and curl)", got)
	}
	done := doc.Find("[data-leave-ok] a[data-testid=reveal-done]")
	if got, _ := done.Attr("href"); got != "/keys/42" {
		t.Errorf("got done link %q inside data-leave-ok, want /keys/42", got)
	}
	if got := doc.Find("[data-testid=reveal-warning]").Text(); !strings.Contains(got, "Copy this key now. You won't be able to see it again.") {
		t.Errorf("got warning %q, want the show-once warning", got)
	}
}

// TestKeyRevealFacts: the show-once panel states the exact expiry (with the
// relative time, rounded) and the scopes, so whoever stores the key knows
// until when and for what it works.
func TestKeyRevealFacts(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	in90 := now.AddDate(0, 0, 90)
	tests := []struct {
		name        string
		expires     *time.Time
		scopes      []string
		wantExpires string
		wantScopes  string
	}{
		{"90 days, two scopes", &in90, []string{"read:orders", "write:orders"},
			"2027-02-23 14:00:00 UTC (in 3 months)", "read:orders write:orders"},
		{"never, no scopes", nil, nil,
			"Never", "None — checks that ask for a scope refuse this key."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReveal()
			r.Now, r.ExpiresAt, r.Scopes = now, tt.expires, tt.scopes
			doc, _ := renderKeysView(t, KeyRevealPanel(r))
			if got := squash(doc.Find("[data-testid=reveal-expires]").Text()); got != tt.wantExpires {
				t.Errorf("expires: got %q, want %q", got, tt.wantExpires)
			}
			if tt.expires != nil {
				if got, _ := doc.Find("[data-testid=reveal-expires] time").Attr("datetime"); got != "2027-02-23T14:00:00Z" {
					t.Errorf("expires datetime: got %q, want 2027-02-23T14:00:00Z", got)
				}
			}
			scopes := doc.Find("[data-testid=reveal-scopes]")
			got := squash(scopes.Text())
			if chips := scopes.Find("[data-testid=scope-chip]"); chips.Length() > 0 {
				got = strings.Join(chips.Map(func(_ int, c *goquery.Selection) string { return c.Text() }), " ")
			}
			if got != tt.wantScopes {
				t.Errorf("scopes: got %q, want %q", got, tt.wantScopes)
			}
		})
	}
}

// squash is s with runs of white space made one space, as a page reads.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestRevealHeading(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	later := now.Add(24 * time.Hour)
	earlier := now.Add(-time.Second)
	tests := []struct {
		name string
		r    KeyReveal
		want string
	}{
		{"created", KeyReveal{}, "Your new key"},
		{"rolled with grace", KeyReveal{Rolled: true, OldExpiresAt: &later}, "Your new key — the old one keeps working until 2026-11-26 14:00:00 UTC"},
		{"rolled now", KeyReveal{Rolled: true, OldExpiresAt: &earlier}, "Your new key — the old key stopped working now"},
		{"rolled, no expiry given", KeyReveal{Rolled: true}, "Your new key — the old key stopped working now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := revealHeading(tt.r, now); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyCreated(t *testing.T) {
	r := sampleReveal()
	r.Rolled = true
	r.OldExpiresAt = ptrTime(time.Now().Add(time.Hour))
	doc, _ := renderKeysView(t, KeyCreated(KeyCreatedPage{Layout: keysLayoutFixture(), Reveal: r}))
	if n := doc.Find("main [data-testid=key-reveal]").Length(); n != 1 {
		t.Fatalf("got %d reveal panels, want 1", n)
	}
	if got := doc.Find("#key-reveal-title").Text(); !strings.Contains(got, "keeps working until") {
		t.Errorf("got heading %q, want the grace period", got)
	}
	if got := doc.Find("title").Text(); !strings.Contains(got, "Key rolled") {
		t.Errorf("got title %q, want it to contain Key rolled", got)
	}
}

func sampleKeyPage() KeyPage {
	var usage UsageChart
	start := time.Date(2026, 10, 27, 0, 0, 0, 0, time.UTC)
	for i := range 30 {
		usage.Days = append(usage.Days, UsageDay{Day: start.AddDate(0, 0, i), Count: int64(i)})
		usage.Total += int64(i)
	}
	usage.Max = 29
	return KeyPage{
		Layout: keysLayoutFixture(),
		Key: KeyDetail{
			KeyRow:            sampleRows()[0],
			Description:       "Fetches orders.",
			LastUsedIP:        "203.0.113.7",
			LastUsedUserAgent: "worker/1.0",
			RolledFromID:      5,
			IsOwner:           true,
		},
		Usage:        usage,
		Events:       []EventRow{{At: keysTestNow.Add(-time.Hour), Actor: "ada@example.com", Action: "Key created", IP: "192.0.2.1"}},
		EditName:     "Billing",
		EditDesc:     "Fetches orders.",
		GraceChoices: []GraceChoice{{"0", "Stop now"}, {"1h", "1 hour"}, {"24h", "24 hours"}, {"168h", "7 days"}},
	}
}

func TestKeyShow(t *testing.T) {
	doc, _ := renderKeysView(t, KeyShow(sampleKeyPage()))

	if got := doc.Find("h1[data-testid=key-name]").Text(); got != "Billing" {
		t.Errorf("got heading %q, want Billing", got)
	}
	// The exact expiry beside the relative one: whether to roll now
	// depends on the date.
	if got := squash(doc.Find("[data-testid=key-expires]").Text()); got != "in 1 month (2026-12-25 14:00:00 UTC)" {
		t.Errorf("got expires %q, want in 1 month (2026-12-25 14:00:00 UTC)", got)
	}
	if got := doc.Find("[data-testid=last-used-ip]").Text(); got != "203.0.113.7" {
		t.Errorf("got last used IP %q, want 203.0.113.7", got)
	}
	if got, _ := doc.Find("[data-testid=rolled-from]").Attr("href"); got != "/keys/5" {
		t.Errorf("got rolled-from link %q, want /keys/5", got)
	}
	if got := doc.Find("[data-testid=usage-total]").Text(); !strings.Contains(got, "435 verifications") {
		t.Errorf("got usage total %q, want 435 verifications", got)
	}
	if got := doc.Find("[data-testid=usage-card] svg rect").Length(); got != 30 {
		t.Errorf("got %d bars, want 30", got)
	}
	if got := doc.Find("[data-testid=event-row]").Length(); got != 1 {
		t.Errorf("got %d events, want 1", got)
	}
	actions := map[string]string{
		"edit-form":    "/keys/12/edit",
		"disable-form": "/keys/12/disable",
		"roll-form":    "/keys/12/roll",
		"revoke-form":  "/keys/12/revoke",
	}
	for id, want := range actions {
		form := doc.Find("form[data-testid=" + id + "]")
		if got, _ := form.Attr("action"); got != want {
			t.Errorf("got %s action %q, want %q", id, got, want)
		}
		if got, _ := form.Find("input[name=_csrf]").Attr("value"); got != "csrf-token-1" {
			t.Errorf("got %s CSRF %q, want csrf-token-1", id, got)
		}
	}
	if got, _ := doc.Find("select[name=grace] option[selected]").Attr("value"); got != "24h" {
		t.Errorf("got default grace %q, want 24h", got)
	}
	if got, _ := doc.Find("form[data-testid=revoke-form]").Attr("hx-confirm"); !strings.Contains(got, "Billing") {
		t.Errorf("got hx-confirm %q, want it to name the key", got)
	}
	if got := doc.Find("details[data-testid=revoke] summary").Text(); got != "Revoke key…" {
		t.Errorf("got revoke summary %q, want Revoke key…", got)
	}
	if n := doc.Find("[data-testid=key-revoked]").Length(); n != 0 {
		t.Errorf("got %d revoked notices on an active key, want 0", n)
	}
}

func TestKeyShowStates(t *testing.T) {
	tests := []struct {
		name        string
		edit        func(*KeyPage)
		wantForms   []string
		wantNoForms []string
	}{
		{
			name: "key its owner disabled offers enable, not roll",
			edit: func(m *KeyPage) {
				m.Key.Status, m.Key.DisabledAt, m.Key.DisabledBy, m.Key.CanEnable = "disabled", ptrTime(keysTestNow.Add(-time.Hour)), "you", true
			},
			wantForms:   []string{"edit-form", "enable-form", "revoke-form"},
			wantNoForms: []string{"disable-form", "roll-form"},
		},
		{
			name: "key an admin disabled offers its owner no enable",
			edit: func(m *KeyPage) {
				m.Key.Status, m.Key.DisabledAt, m.Key.DisabledBy = "disabled", ptrTime(keysTestNow.Add(-time.Hour)), "admin@example.com"
			},
			wantForms:   []string{"edit-form", "revoke-form"},
			wantNoForms: []string{"disable-form", "enable-form", "roll-form"},
		},
		{
			name:        "admin viewing another person's key cannot roll it",
			edit:        func(m *KeyPage) { m.Key.IsOwner = false; m.Key.Owner = "bob@example.com" },
			wantForms:   []string{"edit-form", "disable-form", "revoke-form"},
			wantNoForms: []string{"roll-form"},
		},
		{
			name:        "revoked key has no actions",
			edit:        func(m *KeyPage) { m.Key.Status = "revoked"; m.Key.RevokedAt = ptrTime(keysTestNow.Add(-2 * time.Hour)) },
			wantNoForms: []string{"edit-form", "disable-form", "enable-form", "roll-form", "revoke-form"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleKeyPage()
			tt.edit(&m)
			doc, _ := renderKeysView(t, KeyShow(m))
			for _, id := range tt.wantForms {
				if n := doc.Find("form[data-testid=" + id + "]").Length(); n != 1 {
					t.Errorf("got %d %s, want 1", n, id)
				}
			}
			for _, id := range tt.wantNoForms {
				if n := doc.Find("[data-testid=" + id + "]").Length(); n != 0 {
					t.Errorf("got %d %s, want 0", n, id)
				}
			}
			if m.Key.RevokedAt != nil {
				if n := doc.Find("[data-testid=key-actions], main form").Length(); n != 0 {
					t.Errorf("got %d action elements on a revoked key, want 0", n)
				}
				got := strings.Join(strings.Fields(doc.Find("[data-testid=key-revoked]").Text()), " ")
				if !strings.Contains(got, "Revoked 2 hours ago") {
					t.Errorf("got revoked notice %q, want it to say Revoked 2 hours ago", got)
				}
			}
			if !m.Key.IsOwner {
				if got := doc.Find("[data-testid=key-owner]").Text(); got != "bob@example.com" {
					t.Errorf("got owner %q, want bob@example.com", got)
				}
			}
		})
	}
}

func TestKeyShowEditErrors(t *testing.T) {
	m := sampleKeyPage()
	m.EditName = ""
	m.EditErrors = FieldErrors{"name": "Enter a name."}
	doc, _ := renderKeysView(t, KeyShow(m))
	name := doc.Find("form[data-testid=edit-form] input[name=name]")
	if got, _ := name.Attr("value"); got != "" {
		t.Errorf("got name %q, want the submitted empty value kept", got)
	}
	if got, _ := name.Attr("aria-invalid"); got != "true" {
		t.Errorf("got aria-invalid %q, want true", got)
	}
	if got, _ := name.Attr("aria-describedby"); got != "name-error" {
		t.Errorf("got aria-describedby %q, want name-error", got)
	}
	if got := doc.Find("#name-error").Text(); got != "Enter a name." {
		t.Errorf("got error %q, want Enter a name.", got)
	}
}
