package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// committedDocuments are the OpenAPI documents committed in docs/: the 3.1
// document people and tools read, and huma's 3.0 downgrade, which
// oapi-codegen (3.0 only) generates web/apiclient from. Both are what
// GET /api/v1/openapi.json and -3.0.json serve, with the server's address
// replaced by committedServerURL so that the files do not change with the
// test server's port.
var committedDocuments = map[string]string{
	"openapi.json":     OpenAPIPath + ".json",
	"openapi-3.0.json": OpenAPIPath + "-3.0.json",
}

const committedServerURL = "http://localhost:8080"

// TestOpenAPIDocumentCommitted fails when a committed document differs from
// what the server serves: the operations changed and `make openapi` (which
// also regenerates the client) was not run. KEYWARD_UPDATE_OPENAPI=1 makes
// it rewrite them instead (make openapi sets it).
func TestOpenAPIDocumentCommitted(t *testing.T) {
	a := newTestApp(t)
	update := os.Getenv("KEYWARD_UPDATE_OPENAPI") == "1"
	for file, path := range committedDocuments {
		t.Run(file, func(t *testing.T) {
			r := a.api(http.MethodGet, path, nil, nil)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: got %d, want 200", path, r.StatusCode)
			}
			served := bytes.ReplaceAll([]byte(r.body), []byte(a.http.URL), []byte(committedServerURL))
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, served, "", "  "); err != nil {
				t.Fatalf("GET %s: not JSON: %v", path, err)
			}
			pretty.WriteByte('\n')
			name := filepath.Join("..", "docs", file)
			if update {
				if err := os.WriteFile(name, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			committed, err := os.ReadFile(name)
			if err != nil {
				t.Fatalf("%v: run make openapi", err)
			}
			if !bytes.Equal(committed, pretty.Bytes()) {
				t.Errorf("docs/%s differs from what GET %s serves: run make openapi and commit docs/ and web/apiclient/", file, path)
			}
		})
	}
}
