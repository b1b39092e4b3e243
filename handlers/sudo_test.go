package handlers

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/keyward/keyward/views"
)

// TestKeepField: a kept form never holds the CSRF token or a secret.
func TestKeepField(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"grace", true}, {"name", true}, {"scopes", true}, {"form_token", true}, {"reason", true},
		{"_csrf", false}, {"password", false}, {"current_password", false}, {"New_Password", false},
		{"code", false}, {"recovery_code", false},
	} {
		if got := keepField(tt.name); got != tt.want {
			t.Errorf("keepField(%q): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestHiddenFields: every value of every field, names in order, each
// name's values in theirs.
func TestHiddenFields(t *testing.T) {
	got := hiddenFields(url.Values{"scopes": {"b", "a"}, "name": {"deploy"}, "empty": {""}})
	want := []views.HiddenField{{Name: "empty"}, {Name: "name", Value: "deploy"}, {Name: "scopes", Value: "b"}, {Name: "scopes", Value: "a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestQuoted: the Continue button names what it does, briefly.
func TestQuoted(t *testing.T) {
	long := "a very long key name that goes on and on and on, well past what a button should hold"
	for _, tt := range []struct{ verb, name, want string }{
		{"Roll key", "deploy", "Roll key “deploy”"},
		{"Create key", "  ", "Create key"},
		{"Create key", long, "Create key “" + long[:60] + "…”"},
	} {
		if got := quoted(tt.verb, tt.name); got != tt.want {
			t.Errorf("quoted(%q, %q): got %q, want %q", tt.verb, tt.name, got, tt.want)
		}
	}
}
