package web

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// testCatalog is the scope catalog of the tests' installations: every
// scope their keys carry, grantable by members, with no approval. The
// catalog's own rules are tested with catalogs made for the purpose
// (scopes_test.go).
var testCatalog = []string{
	"read", "write", "read:orders", "write:orders", "read:invoices", "write:invoices",
	"admin:reconciliation", "webhooks",
}

// checkedScopes lists the checked scope boxes of a form, space-separated.
func checkedScopes(d *goquery.Document) string {
	var out []string
	d.Find(`input[name="scopes"]:checked`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("value", ""))
	})
	return strings.Join(out, " ")
}

// catalogScopes is what a form posting values must show checked again:
// those of testCatalog (others cannot be boxes).
func catalogScopes(values []string) string {
	var out []string
	for _, v := range values {
		if slices.Contains(testCatalog, v) {
			out = append(out, v)
		}
	}
	return strings.Join(out, " ")
}

// approvalScope needs approval in the catalogs pendingKeys makes.
const approvalScope = "payments:write"

// pendingKeys publishes approvalScope and makes two keys of owner that
// wait for approval, as owner's own request.
func pendingKeys(t *testing.T, a *testApp, owner db.User) (db.Key, db.Key) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.store.CreateScope(ctx, db.ScopeInput{Name: approvalScope, NeedsApproval: true}, db.CLIActor()); err != nil && db.FieldErrors(err)["name"] == "" {
		t.Fatal(err)
	}
	var keys [2]db.Key
	for i := range keys {
		k, _, err := a.store.CreateKey(ctx, owner.ID, db.KeyInput{Name: "waiting " + itoa(int64(i)), Scopes: []string{"read", approvalScope}},
			db.Actor{UserID: owner.ID, Label: owner.Email})
		if err != nil || !k.PendingKey {
			t.Fatalf("pending key: %+v, %v", k, err)
		}
		keys[i] = k
	}
	return keys[0], keys[1]
}
