// Package netguard owns the safety of hookd's outbound connections (webhook
// deliveries and http jobs): a Guard that refuses loopback, private, link-local,
// CGNAT, multicast, cloud-metadata and other non-public destinations at connect
// time, after DNS, so that DNS rebinding cannot slip through; an http.Transport
// and http.Client built on it; and the validators of the user-supplied URLs and
// headers those requests carry.
//
// The deny list is code.dny.dev/ssrf's (the IANA special-purpose registries, and
// everything outside IPv6 global unicast); this package adds the operator's
// allow list, IPv4-mapped, NAT64 and 6to4 handling, and client-safe error text.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// ErrForbidden is wrapped by every error that refuses a destination address.
// Test for it with errors.Is.
var ErrForbidden = errors.New("netguard: destination not allowed")

// ForbiddenError is the error of a refused destination. Its message, such as
// "netguard: destination 127.0.0.1 is not allowed (loopback)", is safe to show
// to the user who configured the URL. It unwraps to ErrForbidden.
type ForbiddenError struct {
	Addr   netip.Addr // the refused address, as resolved or given
	Reason string     // why, e.g. "loopback", "private", "cloud metadata"
}

// Error returns the client-safe message, naming the address and the reason.
func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("netguard: destination %s is not allowed (%s)", e.Addr, e.Reason)
}

// Unwrap returns ErrForbidden.
func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// Resolver resolves a host name to addresses; *net.Resolver implements it.
// network is "ip", "ip4" or "ip6".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard decides which IP addresses outbound connections may reach, and dials
// only those. Build it with New; set Resolver, if at all, before first use.
// A Guard is safe for concurrent use.
type Guard struct {
	// Resolver resolves host names in DialContext; nil means net.DefaultResolver.
	Resolver Resolver

	allow  []netip.Prefix
	ssrf   *ssrf.Guardian
	dialer net.Dialer

	clientOnce sync.Once
	transport  *http.Transport // shared by every Client
}

// extraDeniedV6 lists what code.dny.dev/ssrf v0.3.0 misses inside IPv6 global
// unicast: the SRv6 SID space (RFC 9602), not globally reachable.
var extraDeniedV6 = []netip.Prefix{netip.MustParsePrefix("5f00::/16")}

// New returns a Guard that additionally allows the operator's allowCIDRs (the
// --allow-private-cidr list). Each entry is a CIDR ("10.0.0.0/8", "fd00::/8")
// or a bare address, taken as a single host; host bits are ignored. An entry
// that does not parse is an error naming it.
func New(allowCIDRs []string) (*Guard, error) {
	g := &Guard{
		// Ports and networks are not the guard's business: webhooks may use any
		// port, and only SafeAddr is called.
		ssrf: ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork(), ssrf.WithDeniedV6Prefixes(extraDeniedV6...)),
	}
	for _, raw := range allowCIDRs {
		s := strings.TrimSpace(raw)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				if a.Zone() != "" {
					err = errors.New("zones are not allowed")
				} else {
					p = netip.PrefixFrom(a, a.BitLen())
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("netguard: invalid allowed CIDR %q: %w", raw, err)
		}
		g.allow = append(g.allow, p.Masked())
	}
	g.dialer = net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.Control}
	return g, nil
}

// Special prefixes this package needs by name. The deny decisions come from
// code.dny.dev/ssrf; these serve NAT64/6to4 unwrapping and error reasons.
var (
	nat64WellKnown = ssrf.IPv6NAT64Prefix                    // 64:ff9b::/96, RFC 6052
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056
	teredo         = netip.MustParsePrefix("2001::/32")      // RFC 4380
	cgnat          = netip.MustParsePrefix("100.64.0.0/10")  // RFC 6598
	thisNetwork    = netip.MustParsePrefix("0.0.0.0/8")
	siteLocal      = netip.MustParsePrefix("fec0::/10")
	metadataV4     = netip.MustParseAddr("169.254.169.254")
	metadataV6     = netip.MustParseAddr("fd00:ec2::254") // AWS IMDS over IPv6
	broadcast      = netip.MustParseAddr("255.255.255.255")
	documentation  = []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("3fff::/20"),
	}
)

// Allowed returns nil if outbound connections may reach ip, or a
// *ForbiddenError (wrapping ErrForbidden) saying why not.
//
// Refused: loopback, unspecified, private (RFC 1918, fc00::/7), link-local
// (169.254.0.0/16 with the 169.254.169.254 metadata service, fe80::/10), CGNAT
// 100.64.0.0/10, multicast, broadcast, documentation, benchmarking and reserved
// ranges, Teredo, 6to4, everything outside IPv6 global unicast, and the
// IPv4-mapped form (::ffff:a.b.c.d) of any refused IPv4 address. A NAT64
// address (64:ff9b::/96, 64:ff9b:1::/48) is judged by the IPv4 address it
// embeds. An address inside an allowed CIDR is allowed whatever it is, and so is
// one whose embedded (mapped, NAT64 or 6to4) IPv4 address is inside one.
func (g *Guard) Allowed(ip netip.Addr) error {
	if !ip.IsValid() {
		return &ForbiddenError{Addr: ip, Reason: "invalid address"}
	}
	ip = ip.WithZone("") // netip.Prefix.Contains never matches a zoned address
	if ip.Is4In6() {
		v4 := ip.Unmap()
		if g.listed(ip) || g.listed(v4) {
			return nil
		}
		if r := g.deny4(v4); r != "" {
			return &ForbiddenError{Addr: ip, Reason: r}
		}
		return nil
	}
	if g.listed(ip) {
		return nil
	}
	if ip.Is4() {
		if r := g.deny4(ip); r != "" {
			return &ForbiddenError{Addr: ip, Reason: r}
		}
		return nil
	}
	if v4, kind := embeddedIPv4(ip); kind != "" {
		if g.listed(v4) {
			return nil
		}
		r4 := g.deny4(v4)
		if r4 != "" {
			return &ForbiddenError{Addr: ip, Reason: fmt.Sprintf("%s of %s: %s", kind, v4, r4)}
		}
		if kind == "6to4" { // deprecated (RFC 7526) and refused by ssrf's list
			return &ForbiddenError{Addr: ip, Reason: kind}
		}
		return nil // NAT64 of a public IPv4 address
	}
	if err := g.ssrf.SafeAddr(ip); err != nil {
		return &ForbiddenError{Addr: ip, Reason: reason6(ip)}
	}
	return nil
}

// listed reports whether ip is inside an allowed CIDR.
func (g *Guard) listed(ip netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// deny4 returns why the IPv4 address v4 is refused, or "" if it is not.
func (g *Guard) deny4(v4 netip.Addr) string {
	if g.ssrf.SafeAddr(v4) == nil {
		return ""
	}
	return reason4(v4)
}

// embeddedIPv4 returns the IPv4 address a NAT64 or 6to4 address carries, and
// "NAT64" or "6to4"; kind is "" for any other address.
func embeddedIPv4(ip netip.Addr) (v4 netip.Addr, kind string) {
	b := ip.As16()
	switch {
	case nat64WellKnown.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), "NAT64"
	case nat64Local.Contains(ip) && b[8] == 0: // RFC 6052 /48 layout: bits 64–71 are zero
		return netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]}), "NAT64"
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4"
	}
	return netip.Addr{}, ""
}

// reason4 names the kind of a refused IPv4 address, for error messages.
func reason4(a netip.Addr) string {
	switch {
	case a == metadataV4:
		return "cloud metadata"
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case thisNetwork.Contains(a):
		return "this network"
	case a == broadcast:
		return "broadcast"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case cgnat.Contains(a):
		return "CGNAT"
	case a.IsMulticast():
		return "multicast"
	case inAny(documentation, a):
		return "documentation"
	}
	return "reserved"
}

// reason6 names the kind of a refused IPv6 address, for error messages.
func reason6(a netip.Addr) string {
	switch {
	case a == metadataV6:
		return "cloud metadata"
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case siteLocal.Contains(a):
		return "site-local"
	case a.IsMulticast():
		return "multicast"
	case teredo.Contains(a):
		return "Teredo"
	case nat64WellKnown.Contains(a) || nat64Local.Contains(a):
		return "NAT64"
	case inAny(documentation, a):
		return "documentation"
	}
	return "reserved"
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Control checks the address actually being dialled; it suits
// net.Dialer.Control, which calls it after the socket is made and before it
// connects, so it holds even if a host name re-resolves to another address.
// address is "ip:port"; anything else is refused. It returns a
// *ForbiddenError for a refused address.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable %s address", ErrForbidden, network)
	}
	return g.Allowed(ap.Addr())
}

// DialContext connects to addr ("host:port") over network ("tcp", "tcp4" or
// "tcp6"), for http.Transport.DialContext. A literal IP is used as is; a host
// name is resolved with g.Resolver. Every forbidden address is skipped and the
// allowed ones are dialled in order until one connects; the dialer's Control
// checks each address again. When every address is forbidden, the error is the
// first *ForbiddenError (wrapping ErrForbidden).
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var lookupNet string
	switch network {
	case "tcp":
		lookupNet = "ip"
	case "tcp4":
		lookupNet = "ip4"
	case "tcp6":
		lookupNet = "ip6"
	default:
		return nil, fmt.Errorf("netguard: network %q is not supported", network)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netguard: dial: %w", err)
	}
	if host == "" {
		return nil, fmt.Errorf("%w: missing host", ErrForbidden)
	}
	var ips []netip.Addr
	if ip, perr := netip.ParseAddr(host); perr == nil {
		ips = []netip.Addr{ip}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ips, err = r.LookupNetIP(ctx, lookupNet, host)
		if err != nil {
			return nil, fmt.Errorf("netguard: resolve %s: %w", host, err)
		}
	}

	var forbidden, dialErr error
	tried := false
	for _, ip := range ips {
		if err := g.Allowed(ip); err != nil {
			if forbidden == nil {
				forbidden = err
			}
			continue
		}
		u := ip.Unmap()
		if (network == "tcp4" && !u.Is4()) || (network == "tcp6" && !u.Is6()) {
			continue
		}
		tried = true
		conn, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(u.String(), port))
		if err == nil {
			return conn, nil
		}
		dialErr = err
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case tried:
		return nil, dialErr
	case forbidden != nil:
		return nil, forbidden
	}
	return nil, fmt.Errorf("netguard: no %s address for %s", lookupNet, host)
}

// Transport returns a new transport for high-throughput outbound requests that
// dials through g.DialContext: keep-alives on, up to 1024 idle connections (256
// per host) kept 90 s, TLS handshakes limited to 10 s, HTTP/2 attempted, and no
// proxy (a proxy from the environment would bypass the guard). It sets no
// response-header timeout: callers bound each request as a whole.
func (g *Guard) Transport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns an http.Client whose requests each end after timeout (0 means
// none) and that never follows redirects: a 3xx response is returned as is.
// Every Client of one Guard shares one Transport and so its idle connections.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	g.clientOnce.Do(func() { g.transport = g.Transport() })
	return &http.Client{
		Transport: g.transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
