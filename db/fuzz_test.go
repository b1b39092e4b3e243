package db

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Fuzz targets for the input rules of package db. FuzzParseKey, the key
// format, lives beside the format in keyformat_test.go.

var scopePattern = regexp.MustCompile(`^[a-z0-9:._-]{1,64}$`)

// FuzzParseScopes: whatever ParseScopes accepts is a short list of distinct
// scopes in the documented alphabet, and survives the stored form (joined by
// spaces, read back by splitScopes) unchanged.
func FuzzParseScopes(f *testing.F) {
	f.Add("read write")
	f.Add("read,write, read")
	f.Add("admin:all keys.read keys_write a-b")
	f.Add("UPPER")
	f.Add("a\u00a0b")
	f.Add(strings.Repeat("s,", 25))
	f.Add(strings.Repeat("x", 65))
	f.Fuzz(func(t *testing.T, s string) {
		scopes, err := ParseScopes(s)
		if err != nil {
			msg := fieldMessage(t, err)
			if scopes != nil {
				t.Fatalf("ParseScopes(%q) refused (%s) but returned %q", s, msg, scopes)
			}
			return
		}
		if len(scopes) > MaxScopes {
			t.Fatalf("ParseScopes(%q): got %d scopes, want at most %d", s, len(scopes), MaxScopes)
		}
		for i, sc := range scopes {
			if !scopePattern.MatchString(sc) {
				t.Fatalf("ParseScopes(%q): scope %q does not match %s", s, sc, scopePattern)
			}
			if slices.Contains(scopes[:i], sc) {
				t.Fatalf("ParseScopes(%q): %q twice", s, sc)
			}
		}
		if got := splitScopes(strings.Join(scopes, " ")); !slices.Equal(got, scopes) {
			t.Fatalf("ParseScopes(%q) = %q, read back from storage as %q", s, scopes, got)
		}
	})
}

// FuzzKeyInput: checkKeyInput only accepts names and descriptions within
// their limits and free of control characters, and what it returns is
// accepted again unchanged (normalizing twice changes nothing).
func FuzzKeyInput(f *testing.F) {
	f.Add("ci", "", "read", int64(30))
	f.Add("  spaced  ", "line\r\nline\ttab", "a,b", int64(1))
	f.Add("", "", "", int64(0))
	f.Add("nul\x00", "bell\a", "", int64(-1))
	f.Add(strings.Repeat("é", 101), strings.Repeat("d", 501), "", int64(5))
	f.Add("\u2028", "\xff", "x", int64(365))
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, name, description, scopes string, days int64) {
		in := KeyInput{Name: name, Description: description, Scopes: strings.Fields(scopes)}
		if days != 0 {
			exp := now.Add(time.Duration(days%100000) * 24 * time.Hour)
			in.ExpiresAt = &exp
		}
		out, err := checkKeyInput(in, now)
		if err != nil {
			if FieldErrors(err) == nil {
				t.Fatalf("checkKeyInput(%+v): got %v, want a *ValidationError", in, err)
			}
			return
		}
		if n := utf8.RuneCountInString(out.Name); n == 0 || n > MaxKeyNameLength {
			t.Fatalf("accepted name %q of %d characters", out.Name, n)
		}
		if !utf8.ValidString(out.Name) || strings.ContainsFunc(out.Name, unicode.IsControl) {
			t.Fatalf("accepted name %q with control characters or invalid UTF-8", out.Name)
		}
		if utf8.RuneCountInString(out.Description) > MaxKeyDescriptionLength || !utf8.ValidString(out.Description) {
			t.Fatalf("accepted description %q", out.Description)
		}
		if out.ExpiresAt != nil && !out.ExpiresAt.After(now) {
			t.Fatalf("accepted expiry %v, not after %v", out.ExpiresAt, now)
		}
		again, err := checkKeyInput(out, now)
		if err != nil {
			t.Fatalf("checkKeyInput refused its own output %+v: %v", out, err)
		}
		if again.Name != out.Name || again.Description != out.Description || !slices.Equal(again.Scopes, out.Scopes) {
			t.Fatalf("normalizing twice changed %+v into %+v", out, again)
		}
	})
}

// FuzzTruncateUTF8: what usage recording keeps of a caller's user agent or
// address is a prefix within the byte limit that, for valid UTF-8, splits
// no character and drops at most the one that did not fit. (Invalid input
// may lose its stray continuation bytes: it is garbage either way.)
func FuzzTruncateUTF8(f *testing.F) {
	f.Add("curl/8.5.0", 256)
	f.Add("日本語のユーザーエージェント", 10)
	f.Add("\xff\xfe\xfd", 2)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got := truncateUTF8(s, n)
		if len(got) > n || !strings.HasPrefix(s, got) {
			t.Fatalf("truncateUTF8(%q, %d) = %q: want a prefix of at most %d bytes", s, n, got, n)
		}
		if len(s) <= n && got != s {
			t.Fatalf("truncateUTF8(%q, %d) = %q: want it unchanged", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("truncateUTF8(%q, %d) = %q splits a character", s, n, got)
		}
		if len(got) < len(s) && len(got) > 0 && unsafe.StringData(got) == unsafe.StringData(s) {
			t.Fatalf("truncateUTF8(%q, %d) shares the input's memory, want a copy", s, n)
		}
		if utf8.ValidString(s) && len(got) < n-utf8.UTFMax && len(got) < len(s) {
			t.Fatalf("truncateUTF8(%q, %d) = %q cut more than one character", s, n, got)
		}
	})
}
