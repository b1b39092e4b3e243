package db_test

import (
	"testing"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// TestArgon2MatchesDBTest: package db's own tests cannot import dbtest, so
// they keep a copy of its cheap parameters; this holds the copy equal.
func TestArgon2MatchesDBTest(t *testing.T) {
	if got, want := *db.TestArgon2Params, *dbtest.Argon2; got != want {
		t.Errorf("db tests use argon2id %+v, dbtest uses %+v", got, want)
	}
}
