package db

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits that travel with a key: an IP allowlist (where the key may be
// presented from) and metadata (a JSON object returned to services in the
// verify answer, so they need no second lookup). Both live in the cached
// verification snapshot.
const (
	// MaxAllowedIPs bounds an allowlist: enough for any office or cluster,
	// small enough that a cached check stays a short loop.
	MaxAllowedIPs = 100
	// MaxMetaBytes bounds metadata (compacted): it rides in every verify
	// answer, so it must stay small.
	MaxMetaBytes = 4096
)

// ActionKeyLimits is the audit action of a change to a key's IP allowlist
// or metadata.
const ActionKeyLimits = "key.limits"

// Field names of the limits, as forms and validation errors name them.
const (
	FieldAllowedIPs = "allowed_ips"
	FieldMeta       = "meta"
)

// ParseAllowedIPs reads an allowlist as typed in a form or on the command
// line: CIDRs or bare addresses, one per line or separated by commas or
// white space. The result is canonical (see normalizePrefixes); an entry
// that does not parse is a *FieldError naming it.
func ParseAllowedIPs(s string) ([]netip.Prefix, error) {
	entries := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		p, err := parseAllowedEntry(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return normalizePrefixes(out)
}

// parseAllowedEntry reads one CIDR or bare address (a single host: /32 for
// IPv4, /128 for IPv6).
func parseAllowedEntry(e string) (netip.Prefix, error) {
	if strings.Contains(e, "%") {
		return netip.Prefix{}, invalidf("%q has a zone: use the address without %%zone.", shortEntry(e))
	}
	if strings.Contains(e, "/") {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return netip.Prefix{}, invalidf("%q is not a network: write it as 10.0.0.0/8, 2001:db8::/32 or a single address.", shortEntry(e))
		}
		return p, nil
	}
	a, err := netip.ParseAddr(e)
	if err != nil {
		return netip.Prefix{}, invalidf("%q is not an IP address or network: write it as 10.0.0.0/8, 2001:db8::/32 or a single address.", shortEntry(e))
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// shortEntry is a bad entry as a message quotes it: the longest network
// is 43 characters, so anything past 50 is junk not worth echoing.
func shortEntry(e string) string {
	if utf8.RuneCountInString(e) <= 50 {
		return e
	}
	return string([]rune(e)[:50]) + "…"
}

// normalizePrefixes makes an allowlist canonical: host bits cleared
// (10.1.2.3/8 is 10.0.0.0/8), IPv4 networks written in IPv6's mapped form
// turned into IPv4 (verification compares IPv4 clients as IPv4), duplicates
// dropped keeping the first, at most MaxAllowedIPs entries. None: nil.
func normalizePrefixes(in []netip.Prefix) ([]netip.Prefix, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(in))
	seen := make(map[netip.Prefix]bool, len(in))
	for _, p := range in {
		if !p.IsValid() {
			return nil, invalidf("%q is not a network.", p.String())
		}
		if p.Addr().Zone() != "" {
			return nil, invalidf("%q has a zone: use the address without %%zone.", p.String())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) > MaxAllowedIPs {
		return nil, invalidf("Use at most %d networks.", MaxAllowedIPs)
	}
	return out, nil
}

// CheckMeta validates metadata as given (a JSON object, at most
// MaxMetaBytes once compacted) and returns its stored form: compacted, but
// otherwise exactly as given (key order, number spelling and escapes are
// kept, so a service reads back what the owner wrote). Blank or {} is no
// metadata (""). Anything else is a *FieldError.
func CheckMeta(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if !utf8.ValidString(s) {
		return "", invalidf("Metadata must be UTF-8 text.")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return "", invalidf("Metadata is not valid JSON: %s.", jsonProblem(err))
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return "", invalidf(`Metadata must be a JSON object, like {"tenant": "acme"}.`)
	}
	if buf.Len() > MaxMetaBytes {
		return "", invalidf("Metadata is %d bytes; use at most %d.", buf.Len(), MaxMetaBytes)
	}
	if buf.String() == "{}" {
		return "", nil
	}
	return buf.String(), nil
}

// jsonProblem says what is wrong with JSON without echoing Go's error
// text, which quotes internal type names for some failures.
func jsonProblem(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%s at byte %d", strings.TrimPrefix(se.Error(), "invalid character "), se.Offset)
	}
	return "it ends too early"
}

// checkLimits validates and normalizes the limits of in, reporting into ve.
func checkLimits(in KeyInput, ve *ValidationError) KeyInput {
	allowed, err := normalizePrefixes(in.AllowedIPs)
	ve.AddErr(FieldAllowedIPs, err)
	in.AllowedIPs = allowed
	meta, err := CheckMeta(in.Meta)
	ve.AddErr(FieldMeta, err)
	in.Meta = meta
	return in
}

const setKeyLimitsSQL = `UPDATE api_keys SET allowed_ips = ?, meta = ? WHERE id = ?`

// SetKeyLimits replaces key id's IP allowlist and metadata (nil and "":
// none). The change is audited with the values before and after, and the
// verification cache forgets the key at once: a narrowed allowlist refuses
// the very next request. A revoked key is final and keeps its limits.
func (s *Store) SetKeyLimits(ctx context.Context, access KeyAccess, id int64, allowed []netip.Prefix, meta string, actor Actor) (Key, error) {
	var ve ValidationError
	fn := limitsChange(ctx, &allowed, &meta, actor, &ve)
	if err := ve.Err(); err != nil {
		return Key{}, err
	}
	return s.changeKey(ctx, access, id, fn)
}

// limitsChange checks the limits (into ve) and returns the change
// SetKeyLimits makes. A nil allowed or meta keeps the key's own.
func limitsChange(ctx context.Context, allowed *[]netip.Prefix, meta *string, actor Actor, ve *ValidationError) keyChange {
	in := KeyInput{}
	if allowed != nil {
		in.AllowedIPs = *allowed
	}
	if meta != nil {
		in.Meta = *meta
	}
	in = checkLimits(in, ve)
	return func(tx *Tx, k Key, now time.Time) (bool, error) {
		id := k.ID
		if k.RevokedAt != nil {
			return false, Errorf(ErrConflict, errRevokedUnchangeable)
		}
		in := in
		if allowed == nil {
			in.AllowedIPs = k.AllowedIPs
		}
		if meta == nil {
			in.Meta = k.Meta
		}
		after := formatPrefixes(in.AllowedIPs)
		before := formatPrefixes(k.AllowedIPs)
		if before == after && k.Meta == in.Meta {
			return false, nil
		}
		if _, err := tx.ExecContext(ctx, setKeyLimitsSQL, after, in.Meta, id); err != nil {
			return false, fmt.Errorf("db: set key %d limits: %w", id, err)
		}
		e := actor.event(ActionKeyLimits, "key", id, k.Name)
		e.Detail = map[string]string{}
		if before != after {
			e.Detail["allowed_ips_before"] = orAnywhere(before)
			e.Detail["allowed_ips_after"] = orAnywhere(after)
		}
		if k.Meta != in.Meta {
			e.Detail["meta_before"] = orNone(k.Meta)
			e.Detail["meta_after"] = orNone(in.Meta)
		}
		return true, insertAudit(ctx, tx, now, e)
	}
}

// orAnywhere names an empty allowlist in the audit log.
func orAnywhere(s string) string {
	if s == "" {
		return "anywhere"
	}
	return s
}

// orNone names empty metadata in the audit log.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
