package trigger

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/hookd/hookd"
)

// ClientIP returns the address of the client behind a call.
//
// remoteAddr is the socket peer ("host:port" as in http.Request.RemoteAddr, or
// a bare address). Unless the peer is inside one of the trusted proxy ranges,
// the peer is the answer and xff is ignored: anybody can send an
// X-Forwarded-For header. From a trusted peer, xff (every X-Forwarded-For
// header line, each comma-separated) is walked from the right, skipping
// trusted addresses, and the first untrusted address is the answer. An entry
// that is not an address (garbage, "unknown", an obfuscated identifier) stops
// the walk and the last valid address seen is the answer; so is the leftmost
// address when every entry is trusted. Empty entries are skipped. Entries may
// carry a port ("1.2.3.4:5", "[::1]:5").
//
// IPv4-mapped IPv6 addresses are unmapped and IPv6 zones dropped, so one
// client has one answer. The zero Addr means remoteAddr was not an address.
// The walk allocates nothing.
func ClientIP(remoteAddr string, xff []string, trusted []netip.Prefix) netip.Addr {
	addr, ok := parseHostAddr(remoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !isTrusted(addr, trusted) {
		return addr
	}
	for li := len(xff) - 1; li >= 0; li-- {
		line := xff[li]
		for end := len(line); end >= 0; {
			start := strings.LastIndexByte(line[:end], ',') + 1
			entry := strings.TrimSpace(line[start:end])
			end = start - 1
			if entry == "" {
				continue
			}
			a, ok := parseHostAddr(entry)
			if !ok {
				return addr
			}
			addr = a
			if !isTrusted(addr, trusted) {
				return addr
			}
		}
	}
	return addr
}

// parseHostAddr parses "addr", "addr:port", "[addr]:port" or "[addr]",
// unmapped and without zone.
func parseHostAddr(s string) (netip.Addr, bool) {
	// Pick the parser by shape: a failed parse allocates its error, and the
	// common "1.2.3.4:port" must not.
	var (
		a   netip.Addr
		err error
	)
	switch {
	case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
		a, err = netip.ParseAddr(s[1 : len(s)-1])
		if err == nil && !a.Is6() {
			return netip.Addr{}, false
		}
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1:
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// isTrusted reports whether a is inside one of the trusted ranges.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// RateKey returns the key that rate limits and the flood guard count a client
// under: an IPv4 address as itself ("203.0.113.9"), an IPv6 address as its /64
// ("2001:db8:1:2::/64"), since one subscriber usually holds a whole /64. It
// returns "" for the zero Addr.
func RateKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64) // cannot fail: 64 ≤ 128 and no zone
	return p.String()
}

// ParseTrustedProxies parses the --trusted-proxy values: each a CIDR
// ("10.0.0.0/8", "2001:db8::/32") or a single address ("192.0.2.1" as /32,
// "::1" as /128). Host bits are masked off and IPv4-mapped prefixes
// ("::ffff:10.0.0.0/104") become IPv4 ones, matching ClientIP's unmapped
// addresses. The error is hookd.EInvalid on field "trusted_proxy".
func ParseTrustedProxies(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, s := range cidrs {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, hookd.FieldErrorf("trusted_proxy", "%q is not a CIDR range or an IP address", s)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zones are not allowed")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			// Wider than the mapped range: keep it as an IPv6 range; it cannot
			// match an unmapped IPv4 client, which is what such a range means.
			return p.Masked(), nil
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}
