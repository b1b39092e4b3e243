package web

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify/smtptest"
)

// notifyChoices reads the card's checkboxes: kind → ticked.
func notifyChoices(t *testing.T, r response) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	r.doc(t).Find("[data-testid=notifications-card] input[name=kinds]").Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("value")
		_, checked := s.Attr("checked")
		got[v] = checked
	})
	return got
}

// TestAccountNotificationsCard: the card offers every kind a person can turn
// off (the digest to admins only), lists what is always sent, says that
// nothing is mailed while the server has no e-mail settings, and shows the
// stored choices.
func TestAccountNotificationsCard(t *testing.T) {
	a := newTestApp(t)
	for _, tt := range []struct {
		email      string
		role       db.Role
		wantKinds  []string
		wantAlways int
	}{
		{"member@example.com", db.RoleMember, []string{db.NotifyExpiry, db.NotifyNewAddress, db.NotifyUnused, db.NotifyApproval}, 3},
		{"auditor@example.com", db.RoleAuditor, []string{db.NotifyExpiry, db.NotifyNewAddress, db.NotifyUnused, db.NotifyApproval}, 3},
		{"admin@example.com", db.RoleAdmin, db.NotifyKinds(), 4},
	} {
		t.Run(string(tt.role), func(t *testing.T) {
			b := a.signedIn(tt.email, tt.role)
			r := b.get("/account")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("GET /account: got %d, want 200", r.StatusCode)
			}
			want := map[string]bool{}
			for _, k := range tt.wantKinds {
				want[k] = true
			}
			if got := notifyChoices(t, r); !maps.Equal(got, want) {
				t.Errorf("checkboxes: got %v, want %v (every offered kind on by default)", got, want)
			}
			doc := r.doc(t)
			if got := doc.Find("[data-testid=notify-always] li").Length(); got != tt.wantAlways {
				t.Errorf("always-sent items: got %d, want %d", got, tt.wantAlways)
			}
			note := doc.Find("[data-testid=notify-mail-off]").Text()
			if !strings.Contains(note, "E-mail is not configured on this server — nothing will be sent until an admin sets it up") {
				t.Errorf("no-mail note: got %q, want the not-configured sentence", strings.TrimSpace(note))
			}
		})
	}
}

// TestAccountNotificationsSave: a plain form post saves the ticked kinds
// and turns the others off (redirect back with a flash), htmx gets the card
// with "Saved", a kind the card did not offer is a form error with nothing
// saved, and without the CSRF token nothing is saved either; a visitor is
// sent to sign in.
func TestAccountNotificationsSave(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("ann@example.com", db.RoleMember)
	ann, err := a.store.GetUserByEmail(context.Background(), "ann@example.com")
	if err != nil {
		t.Fatalf("GetUserByEmail: %v", err)
	}
	prefs := func() map[string]bool {
		t.Helper()
		p, err := a.store.GetNotifyPrefs(context.Background(), ann.ID)
		if err != nil {
			t.Fatalf("GetNotifyPrefs: %v", err)
		}
		return p
	}
	hx := http.Header{"HX-Request": {"true"}, "X-CSRF-Token": {b.csrf()}}
	t.Run("signed out", func(t *testing.T) {
		wantSignedOutRefused(t, a.browser(), http.MethodPost, "/account/notifications", url.Values{"kinds": {db.NotifyExpiry}})
	})

	steps := []struct {
		name       string
		do         func() response
		wantStatus int
		want       map[string]bool // stored afterwards
		check      func(t *testing.T, r response)
	}{
		{
			name: "form post",
			do: func() response {
				return b.post("/account/notifications", url.Values{"kinds": {db.NotifyExpiry, db.NotifyApproval}})
			},
			wantStatus: http.StatusSeeOther,
			want: map[string]bool{db.NotifyExpiry: true, db.NotifyNewAddress: false, db.NotifyUnused: false,
				db.NotifyApproval: true, db.NotifyDigest: true},
			check: func(t *testing.T, r response) {
				if loc := r.Header.Get("Location"); loc != "/account#notifications" {
					t.Errorf("Location: got %q, want /account#notifications", loc)
				}
				page := b.get("/account")
				if got := page.doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(got, "notification choices were saved") {
					t.Errorf("flash: got %q, want the saved message", strings.TrimSpace(got))
				}
				want := map[string]bool{db.NotifyExpiry: true, db.NotifyNewAddress: false, db.NotifyUnused: false, db.NotifyApproval: true}
				if got := notifyChoices(t, page); !maps.Equal(got, want) {
					t.Errorf("checkboxes after save: got %v, want %v", got, want)
				}
			},
		},
		{
			name: "htmx",
			do: func() response {
				return b.postWith("/account/notifications", url.Values{"kinds": {db.NotifyNewAddress}}, hx)
			},
			wantStatus: http.StatusOK,
			want: map[string]bool{db.NotifyExpiry: false, db.NotifyNewAddress: true, db.NotifyUnused: false,
				db.NotifyApproval: false, db.NotifyDigest: true},
			check: func(t *testing.T, r response) {
				doc := r.doc(t)
				if strings.Contains(r.body, "<html") || doc.Find("[data-testid=notifications-card]").Length() != 1 {
					t.Errorf("htmx answer is a whole page, want the card alone")
				}
				if got := strings.TrimSpace(doc.Find("[data-testid=notify-status]").Text()); got != "Saved" {
					t.Errorf("status: got %q, want Saved", got)
				}
			},
		},
		{
			name: "digest from a member",
			do: func() response {
				return b.post("/account/notifications", url.Values{"kinds": {db.NotifyExpiry, db.NotifyDigest}})
			},
			wantStatus: http.StatusUnprocessableEntity,
			want: map[string]bool{db.NotifyExpiry: false, db.NotifyNewAddress: true, db.NotifyUnused: false,
				db.NotifyApproval: false, db.NotifyDigest: true},
			check: func(t *testing.T, r response) {
				if got := r.doc(t).Find("[data-testid=kinds-error]").Text(); !strings.Contains(got, "Choose from the notifications listed") {
					t.Errorf("form error: got %q, want it beside the choices", got)
				}
			},
		},
		{
			name: "a security event",
			do: func() response {
				return b.postWith("/account/notifications", url.Values{"kinds": {"key.revoked"}}, hx)
			},
			wantStatus: http.StatusOK,
			want: map[string]bool{db.NotifyExpiry: false, db.NotifyNewAddress: true, db.NotifyUnused: false,
				db.NotifyApproval: false, db.NotifyDigest: true},
			check: func(t *testing.T, r response) {
				doc := r.doc(t)
				if doc.Find("[data-testid=kinds-error]").Length() != 1 {
					t.Errorf("htmx refusal: want the card with the error, got %s", r.body)
				}
				if got := strings.TrimSpace(doc.Find("[data-testid=notify-status]").Text()); got != "" {
					t.Errorf("status after a refusal: got %q, want none", got)
				}
			},
		},
		{
			name: "no CSRF token",
			do: func() response {
				return b.post("/account/notifications", url.Values{"_csrf": {"forged"}})
			},
			wantStatus: http.StatusForbidden,
			want: map[string]bool{db.NotifyExpiry: false, db.NotifyNewAddress: true, db.NotifyUnused: false,
				db.NotifyApproval: false, db.NotifyDigest: true},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := st.do()
			if r.StatusCode != st.wantStatus {
				t.Fatalf("got status %d, want %d; body: %.300s", r.StatusCode, st.wantStatus, r.body)
			}
			if got := prefs(); !maps.Equal(got, st.want) {
				t.Errorf("stored: got %v, want %v", got, st.want)
			}
			if st.check != nil {
				st.check(t, r)
			}
		})
	}
	if got := auditCount(t, a, db.ActionNotifyPrefs); got != 2 {
		t.Errorf("notify.prefs audit events: got %d, want 2 (one per accepted save)", got)
	}
}

// TestAccountNotificationsDecideMail: with a real mail server the card has
// no not-configured note, and what ann turns off on it is not mailed to
// her (a new address of her key) while bob, who left it on, gets his; a
// revocation of her key by an admin reaches her whatever she chose.
func TestAccountNotificationsDecideMail(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	a := newTestApp(t, withMail(t, mail))
	runWorker(t, a)
	ctx := context.Background()
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	b, ann := a.userBrowser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)

	page := b.get("/account")
	if n := page.doc(t).Find("[data-testid=notify-mail-off]").Length(); n != 0 {
		t.Errorf("with e-mail configured: got %d not-configured notes, want none", n)
	}
	wantRedirect(t, b.post("/account/notifications", url.Values{
		"kinds": {db.NotifyExpiry, db.NotifyUnused, db.NotifyApproval}}), "/account#notifications")

	annKey, _ := a.storeKey(ann.ID, db.KeyInput{Name: "ann deploy"})
	bobKey, _ := a.storeKey(bob.ID, db.KeyInput{Name: "bob deploy"})
	for _, k := range []db.Key{annKey, bobKey} {
		if err := a.store.Enqueue(ctx, &db.OutboxEvent{Type: db.EventKeyNewAddress, UserID: k.UserID, KeyID: k.ID,
			Data: map[string]any{"ip": "198.51.100.4"}}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), annKey.ID, "rotated", db.Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	mail.Wait(t, 2, 10*time.Second)
	// Every event was fanned out before the last one's mail went: the
	// e-mail deliveries are all there is.
	logs, err := a.store.ListDeliveries(ctx, db.DeliveryFilter{Channel: db.ChannelEmail})
	if err != nil {
		t.Fatalf("ListDeliveries: %v", err)
	}
	got := map[string]bool{}
	for _, l := range logs {
		got[l.Recipient+" "+l.EventType] = true
	}
	want := map[string]bool{"bob@example.com " + db.EventKeyNewAddress: true, "ann@example.com " + db.EventKeyRevoked: true}
	if !maps.Equal(got, want) {
		t.Errorf("e-mails: got %v, want %v", got, want)
	}
	var to []string
	for _, m := range mail.Messages() {
		to = append(to, m.To...)
	}
	if len(to) != 2 {
		t.Errorf("mail server got messages to %v, want one to bob and one to ann", to)
	}
}
