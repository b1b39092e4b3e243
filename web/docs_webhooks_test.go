package web

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// optionalPayloadKeys are data keys an event carries only when its change
// had them (a revocation's reason, a bulk action's marker, a roll's grace,
// a new address's user agent, an approval's scopes…). docs/webhooks.md
// shows them in its examples and says they may be absent; every other
// documented key must be in the real payload.
var optionalPayloadKeys = []string{"reason", "cause", "bulk", "grace", "rolled_to", "rolled_from",
	"scopes", "whole_key", "outcome", "user_agent"}

// realWebhookPayloads makes every webhook event type happen through the
// changes that cause it, and returns each type's data as an endpoint
// subscribed to everything receives it.
func realWebhookPayloads(t *testing.T) map[string]map[string]any {
	t.Helper()
	a := newTestApp(t)
	ctx := context.Background()
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	adminActor := db.Actor{UserID: admin.ID, Label: admin.Email, IP: "192.0.2.10"}
	annActor := db.Actor{UserID: ann.ID, Label: ann.Email}
	if _, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: "https://93.184.216.34/in",
		EventTypes: []string{"*"}}, adminActor); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	key, plain, err := a.store.CreateKey(ctx, ann.ID, db.KeyInput{Name: "deploy"}, annActor)
	must(err)
	_, _, err = a.store.CreateKey(ctx, ann.ID, db.KeyInput{Name: "nightly", ExpiresAt: ptr(a.clock.Now().Add(10 * 24 * time.Hour))}, annActor)
	must(err)
	_, err = a.store.SetKeyDisabled(ctx, db.AnyOwner(), key.ID, true, "rotating the CI secret", adminActor)
	must(err)
	_, err = a.store.SetKeyDisabled(ctx, db.AnyOwner(), key.ID, false, "", adminActor)
	must(err)
	a.verifyFrom("", plain, "")
	a.flush() // the first use from an address: key.new_address
	rolled, _, _, err := a.store.RollKey(ctx, ann.ID, key.ID, time.Hour, annActor)
	must(err)
	_, err = a.store.RevokeKey(ctx, db.AnyOwner(), rolled.ID, "left the company", adminActor)
	must(err)
	approved, denied := pendingKeys(t, a, ann)
	_, err = a.store.ApproveKey(ctx, approved.ID, adminActor)
	must(err)
	_, err = a.store.DenyKey(ctx, denied.ID, "not for production", adminActor)
	must(err)
	_, _, err = a.store.CreateInvite(ctx, "new@example.com", db.RoleMember, adminActor)
	must(err)
	_, _, err = a.store.CreatePasswordReset(ctx, ann.ID, "", adminActor)
	must(err)
	// An alert, as the anomaly job raises one (evidence differs by rule).
	_, _, err = a.store.RaiseAlert(ctx, db.AlertFinding{Rule: db.RuleDeadKey, KeyID: rolled.ID,
		Summary:  "A revoked key is still being used — 1,204 attempts from 3 addresses",
		Evidence: map[string]any{"attempts": 1204, "addresses": []string{"203.0.113.7", "198.51.100.23", "2001:db8::1"}}})
	must(err)
	// The hourly jobs: the reminder of "nightly" 6 days before its
	// expiry, then, a week on, its expiry.
	a.clock.Advance(4 * 24 * time.Hour)
	a.server.runJobsOnce(ctx)
	a.clock.Advance(7 * 24 * time.Hour)
	a.server.runJobsOnce(ctx)

	for {
		n, err := a.store.FanOut(ctx, db.FanOutOptions{})
		must(err)
		if n == 0 {
			break
		}
	}
	ds, err := a.store.ClaimDeliveries(ctx, "docs", 500, time.Minute)
	must(err)
	out := map[string]map[string]any{}
	for _, d := range ds {
		if _, seen := out[d.Event.Type]; !seen {
			body, err := d.Event.WebhookBody()
			must(err)
			var p struct {
				Data map[string]any `json:"data"`
			}
			must(json.Unmarshal(body, &p))
			out[d.Event.Type] = p.Data
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// keyPaths flattens a JSON object's keys into dotted paths ("key.id"); an
// array contributes its first element's keys under "name[]".
func keyPaths(prefix string, v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			into[p] = true
			keyPaths(p, sub, into)
		}
	case []any:
		if len(x) > 0 {
			keyPaths(prefix+"[]", x[0], into)
		}
	}
}

func sortedPaths(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDocsWebhookEvents holds docs/webhooks.md to the code: every type an
// endpoint can subscribe to has a section ("### `type`") with a JSON
// example of the body that parses, names its type, and has exactly the
// data keys the real event has (optional ones may be absent from it).
func TestDocsWebhookEvents(t *testing.T) {
	b, err := os.ReadFile("../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	section := regexp.MustCompile("(?ms)^### `([a-z_.]+)`\n(.*?)```json\n(.*?)```")
	examples := map[string]string{}
	for _, m := range section.FindAllStringSubmatch(doc, -1) {
		examples[m[1]] = m[3]
	}
	if secret := regexp.MustCompile(`whsec_[A-Za-z0-9+/]{16,}`).FindString(doc); secret != "" {
		t.Errorf("docs/webhooks.md shows what looks like a signing secret: %s", secret)
	}
	real := realWebhookPayloads(t)
	types := append(db.WebhookEventTypes(), db.EventWebhookTest)
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			ex, ok := examples[typ]
			if !ok {
				t.Fatalf("docs/webhooks.md has no section ### `%s` with a JSON example", typ)
			}
			var body struct {
				Type      string         `json:"type"`
				Timestamp time.Time      `json:"timestamp"`
				Data      map[string]any `json:"data"`
			}
			if err := json.Unmarshal([]byte(ex), &body); err != nil {
				t.Fatalf("example does not parse: %v\n%s", err, ex)
			}
			if body.Type != typ || body.Timestamp.IsZero() {
				t.Errorf("example: type %q timestamp %v, want type %q and a timestamp", body.Type, body.Timestamp, typ)
			}
			data, ok := real[typ]
			if !ok && (typ == db.EventKeyExpiring || typ == db.EventKeyExpired || typ == db.EventWebhookTest) {
				// The test event goes to one endpoint by id; the reminders
				// come from the hourly job (see realWebhookPayloads).
				if typ != db.EventWebhookTest {
					t.Skipf("the hourly jobs sent no %s in this build", typ)
				}
				data = webhookTestPayload(t)
			} else if !ok {
				t.Fatalf("no real %s event was made", typ)
			}
			documented, got := map[string]bool{}, map[string]bool{}
			keyPaths("", body.Data, documented)
			keyPaths("", data, got)
			for k := range got {
				if !documented[k] {
					t.Errorf("real payload key %q is not in the example (real keys %v)", k, sortedPaths(got))
				}
			}
			for k := range documented {
				top := strings.SplitN(k, ".", 2)[0]
				// An alert's evidence has the keys of its rule: the
				// example shows one rule's.
				if !got[k] && !slices.Contains(optionalPayloadKeys, top) && !strings.HasPrefix(k, "alert.evidence.") {
					t.Errorf("example key %q is not in the real payload (real keys %v)", k, sortedPaths(got))
				}
			}
		})
	}
}

// webhookTestPayload is a real webhook.test event's data.
func webhookTestPayload(t *testing.T) map[string]any {
	t.Helper()
	a := newTestApp(t)
	ctx := context.Background()
	ep, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: "https://93.184.216.34/in",
		EventTypes: []string{db.EventKeyExpired}}, db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	ev, err := a.store.SendTestEvent(ctx, ep.ID, db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	body, err := ev.WebhookBody()
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p.Data
}

// TestDumpWebhookPayloads prints every real payload (go test -run
// TestDumpWebhookPayloads -v), to write docs/webhooks.md's examples from.
func TestDumpWebhookPayloads(t *testing.T) {
	if os.Getenv("KEYWARD_DUMP_PAYLOADS") == "" {
		t.Skip("set KEYWARD_DUMP_PAYLOADS=1 to print the payloads")
	}
	for typ, data := range realWebhookPayloads(t) {
		b, _ := json.MarshalIndent(data, "", "  ")
		t.Logf("%s:\n%s", typ, b)
	}
}
