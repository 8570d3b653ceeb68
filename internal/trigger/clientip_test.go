package trigger

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookd/hookd"
)

func mustTrusted(t testing.TB, cidrs ...string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrustedProxies(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := mustTrusted(t, "10.0.0.0/8", "192.168.1.1", "fd00::/8")
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string // "" = zero Addr
	}{
		{"OK/NoProxy", "203.0.113.9:5555", nil, trusted, "203.0.113.9"},
		{"OK/BareAddr", "203.0.113.9", nil, trusted, "203.0.113.9"},
		{"OK/IPv6Peer", "[2001:db8::1]:443", nil, trusted, "2001:db8::1"},
		{"OK/IPv6PeerZone", "[fe80::1%eth0]:443", nil, trusted, "fe80::1"},
		{"OK/MappedPeer", "[::ffff:203.0.113.9]:1", nil, trusted, "203.0.113.9"},
		{"Spoof/UntrustedPeerIgnoresXFF", "203.0.113.9:1", []string{"1.1.1.1"}, trusted, "203.0.113.9"},
		{"Spoof/NoTrustedProxiesIgnoresXFF", "10.0.0.1:1", []string{"1.1.1.1"}, nil, "10.0.0.1"},
		{"Spoof/ClientPrependsFake", "10.0.0.1:1", []string{"6.6.6.6, 198.51.100.7"}, trusted, "198.51.100.7"},
		{"OK/TrustedPeerNoXFF", "10.0.0.1:1", nil, trusted, "10.0.0.1"},
		{"OK/OneProxy", "10.0.0.1:1", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"OK/ProxyChain", "10.0.0.1:1", []string{"198.51.100.7, 10.2.3.4, 192.168.1.1"}, trusted, "198.51.100.7"},
		{"OK/ChainAcrossLines", "10.0.0.1:1", []string{"6.6.6.6, 198.51.100.7", "10.2.3.4", "192.168.1.1"}, trusted, "198.51.100.7"},
		{"OK/UntrustedHopInChain", "10.0.0.1:1", []string{"198.51.100.7, 203.0.113.50, 10.2.3.4"}, trusted, "203.0.113.50"},
		{"OK/AllTrustedTakesLeftmost", "10.0.0.1:1", []string{"10.9.9.9, 10.2.3.4"}, trusted, "10.9.9.9"},
		{"OK/IPv6Chain", "[fd00::1]:1", []string{"2001:db8:aa::5, fd12::9"}, trusted, "2001:db8:aa::5"},
		{"OK/MappedInXFF", "10.0.0.1:1", []string{"::ffff:198.51.100.7"}, trusted, "198.51.100.7"},
		{"OK/MappedTrustedHop", "10.0.0.1:1", []string{"198.51.100.7, ::ffff:10.1.1.1"}, trusted, "198.51.100.7"},
		{"OK/PortsInXFF", "10.0.0.1:1", []string{"[2001:db8::7]:4711, 10.1.1.1:80"}, trusted, "2001:db8::7"},
		{"OK/BracketsNoPort", "10.0.0.1:1", []string{"[2001:db8::7]"}, trusted, "2001:db8::7"},
		{"OK/EmptyEntriesSkipped", "10.0.0.1:1", []string{"198.51.100.7,, ", "", " ,10.1.1.1"}, trusted, "198.51.100.7"},
		{"Garbage/StopsAtLastValid", "10.0.0.1:1", []string{"198.51.100.7, garbage, 10.1.1.1"}, trusted, "10.1.1.1"},
		{"Garbage/Unknown", "10.0.0.1:1", []string{"unknown"}, trusted, "10.0.0.1"},
		{"Garbage/Obfuscated", "10.0.0.1:1", []string{"_hidden, 10.1.1.1"}, trusted, "10.1.1.1"},
		{"Garbage/BracketedV4", "10.0.0.1:1", []string{"[198.51.100.7]"}, trusted, "10.0.0.1"},
		{"Garbage/Remote", "not-an-ip", nil, trusted, ""},
		{"Garbage/RemoteEmpty", "", []string{"198.51.100.7"}, trusted, ""},
		{"Garbage/RemoteHostname", "example.com:80", nil, trusted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ClientIP(tt.remote, tt.xff, tt.trusted)
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Fatalf("ClientIP(%q, %q) = %v, want %v", tt.remote, tt.xff, got, want)
			}
		})
	}
}

func TestClientIPNoAlloc(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process.
	trusted := mustTrusted(t, "10.0.0.0/8")
	xff := []string{"6.6.6.6, 198.51.100.7", "10.2.3.4, 10.1.1.1"}
	if n := testing.AllocsPerRun(100, func() { ClientIP("10.0.0.1:1", xff, trusted) }); n != 0 {
		t.Fatalf("ClientIP allocates %v times", n)
	}
}

func TestRateKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ip   netip.Addr
		want string
	}{
		{"IPv4", netip.MustParseAddr("203.0.113.9"), "203.0.113.9"},
		{"IPv4Mapped", netip.MustParseAddr("::ffff:203.0.113.9"), "203.0.113.9"},
		{"IPv6", netip.MustParseAddr("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64"},
		{"IPv6SameSlash64", netip.MustParseAddr("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64"},
		{"IPv6OtherSlash64", netip.MustParseAddr("2001:db8:1:3::1"), "2001:db8:1:3::/64"},
		{"IPv6Zone", netip.MustParseAddr("fe80::1%eth0"), "fe80::/64"},
		{"Zero", netip.Addr{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := RateKey(tt.ip); got != tt.want {
				t.Fatalf("RateKey(%v) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []string // nil with error
	}{
		{"OK/Empty", nil, []string{}},
		{"OK/CIDRs", []string{"10.0.0.0/8", " 2001:db8::/32 "}, []string{"10.0.0.0/8", "2001:db8::/32"}},
		{"OK/BareAddrs", []string{"192.0.2.1", "::1"}, []string{"192.0.2.1/32", "::1/128"}},
		{"OK/HostBitsMasked", []string{"10.1.2.3/8"}, []string{"10.0.0.0/8"}},
		{"OK/MappedUnmapped", []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.1"}, []string{"10.0.0.0/8", "192.0.2.1/32"}},
		{"ErrGarbage", []string{"10.0.0.0/8", "proxy.local"}, nil},
		{"ErrBadBits", []string{"10.0.0.0/33"}, nil},
		{"ErrEmpty", []string{""}, nil},
		{"ErrZone", []string{"fe80::1%eth0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTrustedProxies(tt.in)
			if tt.want == nil {
				e := asError(t, err)
				if e.Code != hookd.EInvalid || e.Fields[0].Field != "trusted_proxy" {
					t.Fatalf("err = %+v, want EInvalid on trusted_proxy", e)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gs := make([]string, len(got))
			for i, p := range got {
				gs[i] = p.String()
			}
			if diff := cmp.Diff(tt.want, gs); diff != "" {
				t.Fatalf("ParseTrustedProxies (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "198.51.100.7, 10.1.1.1", "[2001:db8::7]:4711,garbage")
	f.Add("[fd00::1]:1", "", ",,")
	f.Add("203.0.113.9:1", "1.1.1.1", "::ffff:10.1.1.1")
	trusted := mustTrusted(f, "10.0.0.0/8", "fd00::/8")
	f.Fuzz(func(t *testing.T, remote, xff1, xff2 string) {
		got := ClientIP(remote, []string{xff1, xff2}, trusted)
		peer, ok := parseHostAddr(remote)
		switch {
		case !ok:
			if got.IsValid() {
				t.Fatalf("ClientIP(%q) = %v for an invalid peer", remote, got)
			}
			return
		case !isTrusted(peer, trusted):
			if got != peer {
				t.Fatalf("ClientIP = %v, want the untrusted peer %v", got, peer)
			}
		}
		if !got.IsValid() || got.Is4In6() || got.Zone() != "" {
			t.Fatalf("ClientIP = %#v: not a plain address", got)
		}
		if RateKey(got) == "" {
			t.Fatalf("RateKey(%v) is empty", got)
		}
	})
}
