package handlers

import (
	"slices"
	"testing"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// TestKeyStatusListsAgree: the pages take their status filters from
// views.KeyStatuses, which cannot import db; the values must be exactly
// db.KeyStatuses, in the same order.
func TestKeyStatusListsAgree(t *testing.T) {
	var got []string
	for _, o := range views.KeyStatuses {
		got = append(got, o.Value)
		if o.Label == "" {
			t.Errorf("status %q has no label", o.Value)
		}
	}
	var want []string
	for _, s := range db.KeyStatuses {
		want = append(want, string(s))
	}
	if !slices.Equal(got, want) {
		t.Errorf("views.KeyStatuses = %q, want db.KeyStatuses %q", got, want)
	}
}
