package db

import (
	"context"
	"testing"
)

// testCatalog is the catalog the key tests' installations publish: the
// scopes their keys carry, grantable by members, with no approval.
var testCatalog = []string{"read", "write", "read:all", "a", "b", "admin", "read:orders", "write:orders"}

// mustCatalog adds member-grantable scopes to s's catalog or fails the test.
func mustCatalog(t testing.TB, s *Store, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := s.CreateScope(context.Background(), ScopeInput{Name: n}, CLIActor()); err != nil {
			t.Fatalf("CreateScope(%q): %v", n, err)
		}
	}
}
