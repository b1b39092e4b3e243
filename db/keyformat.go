package db

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
)

// API keys follow GitHub's token scheme: a fixed prefix so that secret
// scanners can find leaked keys (kw_[0-9A-Za-z]{49}), 256 random bits, and a
// CRC32 checksum so that a mistyped or made-up key is refused before any
// database work.
const (
	// KeyPrefix starts every key.
	KeyPrefix = "kw_"
	// KeyLength is the length of every key: prefix, 43 body characters, 6
	// checksum characters.
	KeyLength = len(KeyPrefix) + keyBodyLen + keyCRCLen

	keyRandomBytes = 32
	keyBodyLen     = 43 // ceil(256 / log2(62))
	keyCRCLen      = 6  // ceil(32 / log2(62))
)

// ErrMalformedKey is returned by ParseKey for anything that cannot be a key.
var ErrMalformedKey = errors.New("malformed key")

// base62Alphabet is in ASCII order, so comparing two encodings of the same
// length as strings compares the numbers they encode.
const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62Value maps a byte to its digit value, or -1 outside the alphabet.
var base62Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base62Alphabet); i++ {
		t[base62Alphabet[i]] = int8(i)
	}
	return t
}()

// maxKeyBody is the encoding of 2^256-1: a body above it cannot come from 32
// random bytes, so ParseKey accepts exactly one spelling per key.
var maxKeyBody = func() string {
	var ones [keyRandomBytes]byte
	for i := range ones {
		ones[i] = 0xff
	}
	var body [keyBodyLen]byte
	encodeBase62(body[:], ones)
	return string(body[:])
}()

// encodeBase62 writes n (big-endian) into dst as base62 digits, most
// significant first, left-padded with '0'. dst must be long enough.
func encodeBase62(dst []byte, n [keyRandomBytes]byte) {
	for i := len(dst) - 1; i >= 0; i-- {
		var rem uint
		for j := range n {
			acc := rem<<8 | uint(n[j])
			n[j] = byte(acc / 62) // #nosec G115 -- acc < 62<<8, so acc/62 fits a byte
			rem = acc % 62
		}
		dst[i] = base62Alphabet[rem]
	}
}

// encodeChecksum writes crc into dst as keyCRCLen base62 digits.
func encodeChecksum(dst []byte, crc uint32) {
	v := uint64(crc)
	for i := keyCRCLen - 1; i >= 0; i-- {
		dst[i] = base62Alphabet[v%62]
		v /= 62
	}
}

// keyChecksum is CRC32 (IEEE) over s. It runs the standard table over the
// string directly: crc32.ChecksumIEEE would need a []byte copy of every
// presented key on the verification hot path.
func keyChecksum(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8 // #nosec G115 -- the CRC's low byte indexes the table, by design
	}
	return ^crc
}

// GenerateKey returns a new random key. It is shown to its owner once and
// only its SHA-256 is stored.
func GenerateKey() (string, error) { return generateSecret(KeyPrefix) }

// generateSecret returns prefix, 43 base62 characters of 256 random bits
// and 6 of CRC32 over all that: the format of keys and management tokens.
func generateSecret(prefix string) (string, error) {
	var n [keyRandomBytes]byte
	if _, err := rand.Read(n[:]); err != nil {
		return "", fmt.Errorf("db: generate secret: %w", err)
	}
	checked := len(prefix) + keyBodyLen
	b := make([]byte, checked+keyCRCLen)
	copy(b, prefix)
	encodeBase62(b[len(prefix):checked], n)
	encodeChecksum(b[checked:], crc32.ChecksumIEEE(b[:checked]))
	return string(b), nil
}

// ParseKey checks that s is well formed: length, prefix, alphabet, a body
// that 32 bytes can produce, and the checksum. It touches no database and
// allocates nothing, so junk sent to the verify endpoint costs almost
// nothing. A management token (kwt_) is malformed here.
func ParseKey(s string) error { return parseSecret(s, KeyPrefix) }

// parseSecret is ParseKey for any prefix.
func parseSecret(s, prefix string) error {
	checked := len(prefix) + keyBodyLen
	if len(s) != checked+keyCRCLen || s[:len(prefix)] != prefix {
		return ErrMalformedKey
	}
	for i := len(prefix); i < len(s); i++ {
		if base62Value[s[i]] < 0 {
			return ErrMalformedKey
		}
	}
	if s[len(prefix):checked] > maxKeyBody {
		return ErrMalformedKey
	}
	var sum uint64
	for i := checked; i < len(s); i++ {
		sum = sum*62 + uint64(base62Value[s[i]]) // #nosec G115 -- the loop above rejected every negative (non-base62) value
	}
	if sum != uint64(keyChecksum(s[:checked])) {
		return ErrMalformedKey
	}
	return nil
}

// HashKey is the SHA-256 of the whole key, the only form in which a key is
// stored. A fast hash is right here: a key carries 256 random bits, so
// nothing can be guessed, and a slow hash such as argon2id would make every
// verification a denial-of-service lever (ASVS 5.0 6.5.2).
func HashKey(s string) [32]byte {
	var b [KeyLength]byte
	if len(s) == KeyLength {
		copy(b[:], s)
		return sha256.Sum256(b[:])
	}
	return sha256.Sum256([]byte(s))
}

// KeyHint is how a key is shown after creation: the prefix and its last four
// characters. Those are checksum characters, so they reveal nothing of the
// random part.
func KeyHint(s string) string {
	if len(s) < 4 {
		return KeyPrefix + "…"
	}
	return KeyPrefix + "…" + s[len(s)-4:]
}
