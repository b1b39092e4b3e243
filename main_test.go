package main

import (
	"os"
	"testing"

	"github.com/keyward/keyward/db/pgtest"
)

// TestMain runs the package's tests through pgtest.Main, which drops the
// PostgreSQL database the multi-instance tests made (when
// KEYWARD_TEST_POSTGRES names a server; otherwise they skip).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
