package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	versioned := regexp.MustCompile(`^/static/(.+)\?v=([0-9a-f]{10})$`)
	for _, path := range []string{"css/app.css", "js/htmx.min.js", "js/app.js", "img/favicon.svg"} {
		t.Run(path, func(t *testing.T) {
			got := URL(path)
			m := versioned.FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("URL(%q) = %q, want /static/%s?v=<10 hex>", path, got, path)
			}
			if m[1] != path {
				t.Errorf("URL(%q) path = %q, want %q", path, m[1], path)
			}
			b, err := fs.ReadFile(FS, path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if want := hex.EncodeToString(sum[:])[:10]; m[2] != want {
				t.Errorf("URL(%q) version = %q, want %q", path, m[2], want)
			}
			if again := URL(path); again != got {
				t.Errorf("URL(%q) second call = %q, want %q", path, again, got)
			}
		})
	}
}

func TestURLUnknownFile(t *testing.T) {
	if got, want := URL("css/missing.css"), "/static/css/missing.css"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestAssets guards the build outputs that are committed: a forgotten
// `npm run build:css` or `npm run vendor` shows up here.
func TestAssets(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"js/htmx.min.js", `version:"2.0.11"`},
		{"css/app.css", ".kw-btn-primary"},
		{"js/app.js", "data-confirm-leave"},
		{"img/favicon.svg", "<svg"},
		// npm run vendor copies the pinned swagger-ui-dist (package.json).
		{"vendor/swagger-ui/swagger-ui-bundle.js", `PACKAGE_VERSION:"5.35.0"`},
		{"vendor/swagger-ui/swagger-ui.css", ".swagger-ui"},
		{"js/api-docs.js", "validatorUrl: null"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			b, err := fs.ReadFile(FS, tt.path)
			if err != nil {
				t.Fatalf("got error %v, want the embedded file", err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("got %s without %q, want it present", tt.path, tt.want)
			}
		})
	}
}
