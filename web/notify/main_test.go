package notify_test

import (
	"os"
	"testing"

	"github.com/keyward/keyward/db/pgtest"
)

// TestMain runs the tests through pgtest.Main, which drops the PostgreSQL
// database they used (when KEYWARD_TEST_POSTGRES names a server).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
