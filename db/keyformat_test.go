package db

import (
	"crypto/sha256"
	"hash/crc32"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// scannerPattern is what DESIGN.md promises secret scanners.
var scannerPattern = regexp.MustCompile(`^kw_[0-9A-Za-z]{49}$`)

// decodeKeyBody turns the 43 body characters back into the 32 random bytes,
// independently of encodeBase62 (math/big), or reports that it cannot.
func decodeKeyBody(body string) ([32]byte, bool) {
	var out [32]byte
	n := new(big.Int)
	for i := 0; i < len(body); i++ {
		d := strings.IndexByte(base62Alphabet, body[i])
		if d < 0 {
			return out, false
		}
		n.Mul(n, big.NewInt(62))
		n.Add(n, big.NewInt(int64(d)))
	}
	if n.BitLen() > 256 {
		return out, false
	}
	n.FillBytes(out[:])
	return out, true
}

// withChecksum returns prefix+body followed by its correct checksum.
func withChecksum(body string) string {
	var sum [keyCRCLen]byte
	encodeChecksum(sum[:], crc32.ChecksumIEEE([]byte(KeyPrefix+body)))
	return KeyPrefix + body + string(sum[:])
}

func TestGenerateKeyRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatalf("GenerateKey: %v", err)
		}
		if len(k) != 52 {
			t.Fatalf("len(%q) = %d, want 52", k, len(k))
		}
		if !scannerPattern.MatchString(k) {
			t.Fatalf("key %q does not match %s", k, scannerPattern)
		}
		if err := ParseKey(k); err != nil {
			t.Fatalf("ParseKey(%q) = %v, want nil", k, err)
		}
		raw, ok := decodeKeyBody(k[3:46])
		if !ok {
			t.Fatalf("body of %q does not decode to 32 bytes", k)
		}
		var again [43]byte
		encodeBase62(again[:], raw)
		if got := string(again[:]); got != k[3:46] {
			t.Fatalf("re-encoded body = %q, want %q", got, k[3:46])
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
}

func TestParseKeyRejectsEverySubstitution(t *testing.T) {
	for range 5 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		b := []byte(k)
		for pos := range b {
			orig := b[pos]
			for c := range 256 {
				if byte(c) == orig {
					continue
				}
				b[pos] = byte(c)
				if err := ParseKey(string(b)); err == nil {
					t.Fatalf("ParseKey accepted %q (position %d: %q -> %q)", b, pos, orig, byte(c))
				}
			}
			b[pos] = orig
		}
	}
}

func TestParseKeyRejects(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key string
	}{
		{"empty", ""},
		{"prefix only", "kw_"},
		{"one short", k[:KeyLength-1]},
		{"one long", k + "0"},
		{"twice", k + k},
		{"uppercase prefix", "KW_" + k[3:]},
		{"other prefix", "sk_" + k[3:]},
		{"space inside", k[:20] + " " + k[21:]},
		{"leading space", " " + k[:KeyLength-1]},
		{"trailing newline", k[:KeyLength-1] + "\n"},
		{"non-ASCII", k[:KeyLength-2] + "é"},
		{"body above 2^256 with valid checksum", withChecksum(strings.Repeat("z", keyBodyLen))},
		{"body just above the maximum", withChecksum(maxKeyBody[:keyBodyLen-1] + string(maxKeyBody[keyBodyLen-1]+1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ParseKey(tt.key); err != ErrMalformedKey {
				t.Errorf("ParseKey(%q) = %v, want ErrMalformedKey", tt.key, err)
			}
		})
	}
}

func TestParseKeyAcceptsEdges(t *testing.T) {
	tests := []struct {
		name, body string
	}{
		{"all zero bytes", strings.Repeat("0", keyBodyLen)},
		{"all 0xff bytes", maxKeyBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := withChecksum(tt.body)
			if err := ParseKey(k); err != nil {
				t.Errorf("ParseKey(%q) = %v, want nil", k, err)
			}
		})
	}
}

func TestKeyChecksumIsCRC32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		b := make([]byte, r.IntN(100))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		if got, want := keyChecksum(string(b)), crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("keyChecksum(%x) = %08x, want %08x", b, got, want)
		}
	}
}

func TestHashKey(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{k, "", "short", k + "x"} {
		if got, want := HashKey(s), sha256.Sum256([]byte(s)); got != want {
			t.Errorf("HashKey(%q) = %x, want %x", s, got, want)
		}
	}
}

func TestKeyHint(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := KeyHint(k), "kw_…"+k[48:]; got != want {
		t.Errorf("KeyHint = %q, want %q", got, want)
	}
	if strings.Contains(KeyHint(k), k[3:46]) {
		t.Errorf("KeyHint %q reveals the random part", KeyHint(k))
	}
}

// The verification hot path must not allocate for parsing and hashing.
func TestParseAndHashDoNotAllocate(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	bad := k[:KeyLength-1] + "!"
	var sink [32]byte
	tests := []struct {
		name string
		fn   func()
	}{
		{"ParseKey valid", func() { _ = ParseKey(k) }},
		{"ParseKey malformed", func() { _ = ParseKey(bad) }},
		{"HashKey", func() { sink = HashKey(k) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
				t.Errorf("allocations = %v, want 0", got)
			}
		})
	}
	_ = sink
}

// FuzzParseKey: whatever ParseKey accepts is exactly the form GenerateKey
// produces (prefix, canonical 32-byte body, correct CRC32), and it never
// panics.
func FuzzParseKey(f *testing.F) {
	for range 4 {
		k, err := GenerateKey()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(k)
	}
	f.Add("")
	f.Add("kw_")
	f.Add(withChecksum(maxKeyBody))
	f.Fuzz(func(t *testing.T, s string) {
		err := ParseKey(s)
		if got, want := HashKey(s), sha256.Sum256([]byte(s)); got != want {
			t.Fatalf("HashKey(%q) = %x, want %x", s, got, want)
		}
		if err != nil {
			if err != ErrMalformedKey {
				t.Fatalf("ParseKey(%q) = %v, want ErrMalformedKey or nil", s, err)
			}
			return
		}
		if !scannerPattern.MatchString(s) {
			t.Fatalf("accepted %q, which does not match %s", s, scannerPattern)
		}
		raw, ok := decodeKeyBody(s[3:46])
		if !ok {
			t.Fatalf("accepted %q, whose body is not 32 bytes", s)
		}
		var body [43]byte
		encodeBase62(body[:], raw)
		if want := withChecksum(string(body[:])); s != want {
			t.Fatalf("accepted %q, want only %q", s, want)
		}
	})
}
