package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/keyward/keyward/db"
)

// The SSRF guard. A webhook URL is typed by an admin, but the host it names
// can resolve to anything, and its DNS answer can change between the check
// on the form and the send (DNS rebinding). So the guard resolves the host
// itself at connect time, checks every address it gets, and dials only an
// address it checked: the receiver is never reached through a name lookup
// the guard did not see.

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// refusedPrefixes are the special-purpose ranges besides those netip.Addr
// names (loopback, private, link-local, multicast, unspecified).
var refusedPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a \"this network\" address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
}

// refusedReason says why a is not a public address, or "" when it is.
func refusedReason(a netip.Addr) string {
	a = a.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "a link-local address"
	case a.IsPrivate():
		return "a private address"
	case a.IsUnspecified():
		return "an unspecified address"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, p := range refusedPrefixes {
		if p.prefix.Contains(a) {
			return p.reason
		}
	}
	return ""
}

// RefusedError is a receiver the guard will not contact: its address is
// not public, or its URL is plain http, and private receivers are not
// allowed. Retrying cannot help, so a send refused this way is given up.
type RefusedError struct {
	Host, Addr, Reason string
}

func (e *RefusedError) Error() string {
	if e.Addr == "" {
		return e.Reason
	}
	return fmt.Sprintf("refused: %s resolves to %s, %s; private receivers are not allowed (admin setting)", e.Host, e.Addr, e.Reason)
}

// resolve returns host's addresses, all checked unless allowPrivate: one
// refused address refuses the host, so a name that answers with a public
// and a private address cannot be used to reach the private one.
func resolve(ctx context.Context, r Resolver, host string, allowPrivate bool) ([]netip.Addr, error) {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a.WithZone("")}
	} else {
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, fmt.Errorf("cannot resolve %s: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("cannot resolve %s: no address", host)
		}
	}
	if allowPrivate {
		return addrs, nil
	}
	for _, a := range addrs {
		if reason := refusedReason(a); reason != "" {
			return nil, &RefusedError{Host: host, Addr: a.Unmap().String(), Reason: reason}
		}
	}
	return addrs, nil
}

// guardedDial returns a DialContext that resolves the host itself, refuses
// it as resolve does, and dials the checked addresses in turn.
func guardedDial(r Resolver, d *net.Dialer, allowPrivate bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("notify: dial %s: %w", addr, err)
		}
		addrs, err := resolve(ctx, r, host, allowPrivate)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, a := range addrs {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

// checkURL is CheckURL's work: the URL's form, its scheme, and the
// addresses its host resolves to, reported as a form error on "url".
func checkURL(ctx context.Context, r Resolver, raw string, allowPrivate bool) error {
	fieldErr := func(msg string) error {
		var ve db.ValidationError
		ve.Add("url", msg)
		return ve.Err()
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Hostname() == "" {
		return fieldErr("Enter an absolute URL, such as https://hooks.example.com/keyward.")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && allowPrivate) {
		return fieldErr("Use https://. Plain http:// is allowed only when the admin setting for private receivers is on.")
	}
	_, err = resolve(ctx, r, u.Hostname(), allowPrivate)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		return fieldErr(fmt.Sprintf("%s resolves to %s, %s. Keyward does not send to such addresses unless the admin setting for private receivers is on.",
			refused.Host, refused.Addr, refused.Reason))
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("notify: check %s: %w", u.Hostname(), ctx.Err())
	case err != nil:
		return fieldErr(fmt.Sprintf("Keyward cannot resolve %s: check the host name.", u.Hostname()))
	}
	return nil
}
