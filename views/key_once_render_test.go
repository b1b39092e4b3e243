package views

import (
	"strings"
	"testing"
)

// TestKeyCreateFormToken: the create form carries its one-time token in a
// hidden field, inline and on its own page, and says so when the server
// refused the token.
func TestKeyCreateFormToken(t *testing.T) {
	for _, inline := range []bool{true, false} {
		f := KeyForm{ExpiryChoices: testExpiryChoices, FormToken: "JQ3ZK7WNRMPX4D2YHCAV6TBE5G"}
		doc, _ := renderKeysView(t, KeyCreateForm(f, "csrf", inline))
		if got := doc.Find(`form input[type=hidden][name=form_token]`).AttrOr("value", ""); got != f.FormToken {
			t.Errorf("inline=%t: got form_token %q, want %q", inline, got, f.FormToken)
		}
		if n := doc.Find("[data-testid=form_token-error]").Length(); n != 0 {
			t.Errorf("inline=%t: got %d token messages on a fresh form, want 0", inline, n)
		}
	}
	f := KeyForm{ExpiryChoices: testExpiryChoices, FormToken: "fresh", Errors: FieldErrors{"form_token": "This form has expired."}}
	doc, _ := renderKeysView(t, KeyCreateForm(f, "csrf", false))
	msg := doc.Find("[data-testid=form_token-error]")
	if msg.Text() != "This form has expired." || msg.AttrOr("role", "") != "alert" {
		t.Errorf("got message %q (role %q), want the error as an alert", msg.Text(), msg.AttrOr("role", ""))
	}
}

// TestKeyAlreadyCreated: the answer to a form sent again names the key and
// links to it, and carries nothing of a show-once panel.
func TestKeyAlreadyCreated(t *testing.T) {
	k := KeyAlreadyCreated{ID: 42, Name: "Billing <prod>"}
	doc, html := renderKeysView(t, KeyAlreadyCreatedView(KeyAlreadyCreatedPage{Layout: keysLayoutFixture(), Key: k}))
	panel := doc.Find("main #create-key[data-testid=key-already-created]")
	if panel.Length() != 1 {
		t.Fatalf("got %d panels with id create-key, want 1 (htmx swaps it for the form)", panel.Length())
	}
	if got := squash(panel.Find("h2").Text()); got != "This key was already created and shown once" {
		t.Errorf("got heading %q", got)
	}
	if got := panel.Find("[data-testid=already-created-name]").Text(); got != k.Name {
		t.Errorf("got name %q, want %q", got, k.Name)
	}
	if got := panel.Find("a[data-testid=already-created-link]").AttrOr("href", ""); got != "/keys/42" {
		t.Errorf("got link %q, want /keys/42", got)
	}
	if strings.Contains(html, "data-confirm-leave") || strings.Contains(html, "new-key") {
		t.Errorf("the page carries show-once markup; want none")
	}
	if got := doc.Find("title").Text(); !strings.Contains(got, "Key already created") {
		t.Errorf("got title %q, want Key already created", got)
	}
}
