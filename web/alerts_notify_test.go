package web

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify/smtptest"
)

// TestAlertOpenedNotifies: a newly opened alert reaches people through the
// real worker: an e-mail to the key's owner (a team key: its members, as
// key.revoked does), and for a dead key or a leak to every admin as well,
// with the summary, the evidence and a link to the key's alerts; and the
// alert.opened webhook. An update of the open alert sends nothing more.
func TestAlertOpenedNotifies(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	a := newTestApp(t, withMail(t, mail))
	ctx := context.Background()
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	maint := a.createUser("maint@example.com", db.RoleMember)
	a.createUser("member@example.com", db.RoleMember)
	team, err := a.store.CreateTeam(ctx, "payments", "", db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	for email, role := range map[string]db.TeamRole{"maint@example.com": db.TeamMaintainer, "member@example.com": db.TeamMember} {
		if err := a.store.AddTeamMember(ctx, team.ID, email, role, db.CLIActor()); err != nil {
			t.Fatal(err)
		}
	}
	actor := db.Actor{UserID: admin.ID, Label: admin.Email}
	if err := a.store.SetWebhooksAllowPrivate(ctx, true, actor); err != nil {
		t.Fatal(err)
	}
	rcv := newHookReceiver(t)
	_, secret, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: rcv.URL, EventTypes: []string{db.EventAlertOpened},
		AllowHTTP: true}, actor)
	if err != nil {
		t.Fatal(err)
	}
	rcv.setSecret(secret)
	annKey, _ := a.storeKey(ann.ID, db.KeyInput{Name: "deploy"})
	teamKey, _ := a.storeKey(maint.ID, db.KeyInput{Name: "charges", TeamID: team.ID})
	runWorker(t, a)

	a.raiseAlert(db.RuleSpike, annKey, "Traffic spike: 5,000 uses in an hour, typically 40",
		map[string]any{"uses": 5000, "typical_hour": 40})
	a.raiseAlert(db.RuleDeadKey, teamKey, "A revoked key is still being used — 1,204 attempts from 3 addresses",
		map[string]any{"attempts": 1204, "addresses": []string{"203.0.113.7", "198.51.100.23", "2001:db8::1"}})
	// An update of an open alert is no new alert: nothing more is sent.
	a.raiseAlert(db.RuleSpike, annKey, "Traffic spike: 6,000 uses in an hour, typically 40", map[string]any{"uses": 6000})

	msgs := mail.Wait(t, 4, 10*time.Second)
	byTo := map[string][]string{}
	for _, m := range msgs {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range m.To {
			byTo[to] = append(byTo[to], p.Subject)
		}
		if strings.Contains(p.Subject, "charges") {
			for _, want := range []string{"A revoked key is still being used — 1,204 attempts from 3 addresses",
				"203.0.113.7", "2001:db8::1", "1,204", a.http.URL + "/alerts?key=" + itoa(teamKey.ID), "team:payments"} {
				if !strings.Contains(p.Text, want) || !strings.Contains(p.HTML, strings.ReplaceAll(want, "&", "&amp;")) {
					t.Errorf("dead-key mail to %v: text or HTML lacks %q\n%s", m.To, want, p.Text)
				}
			}
		}
	}
	spike := "Alert on your key “deploy”: traffic spike"
	dead := "Alert on the key “charges” of team:payments: dead key in use"
	want := map[string][]string{
		"ann@example.com":    {spike},
		"maint@example.com":  {dead},
		"member@example.com": {dead},
		"admin@example.com":  {dead},
	}
	for to, subjects := range want {
		if got := byTo[to]; !slices.Equal(got, subjects) {
			t.Errorf("mail to %s: got %q, want %q", to, got, subjects)
		}
	}
	if len(byTo) != len(want) {
		t.Errorf("mail went to %v, want only %v", byTo, want)
	}

	waitFor(t, "two alert.opened webhooks", func() bool { return len(rcv.requests()) >= 2 })
	var rules []string
	for _, r := range rcv.requests() {
		alert, _ := r.Data["alert"].(map[string]any)
		key, _ := r.Data["key"].(map[string]any)
		if r.Err != nil || r.Type != db.EventAlertOpened || alert["id"] == nil || alert["summary"] == "" || key["name"] == nil {
			t.Errorf("webhook: got %+v", r)
		}
		rule, _ := alert["rule"].(string)
		rules = append(rules, rule)
	}
	slices.Sort(rules)
	if want := []string{db.RuleDeadKey, db.RuleSpike}; !slices.Equal(rules, want) {
		t.Errorf("webhook alerts: got rules %v, want %v", rules, want)
	}
}
