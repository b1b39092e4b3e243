// Package static embeds Keyward's front-end assets (built CSS, vendored htmx,
// app.js, images) so the binary serves them without any files on disk.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

// FS holds css/, js/, img/ and vendor/ (third-party assets copied from
// npm by `npm run vendor`). web serves it under /static/.
//
//go:embed css js img vendor
var FS embed.FS

// versions maps each embedded file path to a short content hash. It is built
// once, on first use, because the files never change while the binary runs.
var versions = sync.OnceValue(func() map[string]string {
	m := make(map[string]string)
	_ = fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[path] = hex.EncodeToString(sum[:])[:10]
		return nil
	})
	return m
})

// URL returns the public URL of an embedded asset with a content-hash query,
// e.g. URL("css/app.css") = "/static/css/app.css?v=1a2b3c4d5e". Because the
// URL changes whenever the file does, responses can be cached for a long time.
// A path that is not embedded gets no version, so a typo shows up as a 404
// rather than a panic.
func URL(path string) string {
	if v, ok := versions()[path]; ok {
		return "/static/" + path + "?v=" + v
	}
	return "/static/" + path
}
