package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func mustNew(t testing.TB, allow ...string) *Guard {
	t.Helper()
	g, err := New(allow)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// stubResolver answers from a map and fails the test on any other name.
type stubResolver struct {
	t     testing.TB
	names map[string][]netip.Addr
	calls atomic.Int32
}

func (r *stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.calls.Add(1)
	ips, ok := r.names[host]
	if !ok {
		r.t.Errorf("unexpected lookup of %q", host)
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// recordDials makes g's dialer log every address it is about to connect to;
// when block is true it refuses every non-loopback address before connect(2),
// so that no test ever sends a packet off this machine.
func recordDials(g *Guard, block bool) func() []string {
	var mu sync.Mutex
	var seen []string
	g.dialer.Control = func(network, address string, c syscall.RawConn) error {
		mu.Lock()
		seen = append(seen, address)
		mu.Unlock()
		if err := g.Control(network, address, c); err != nil {
			return err
		}
		if ap, err := netip.ParseAddrPort(address); block && (err != nil || !ap.Addr().Unmap().IsLoopback()) {
			return errStoppedBeforeConnect
		}
		return nil
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

var errStoppedBeforeConnect = errors.New("test: stopped before connect")

func TestAllowedSSRF(t *testing.T) {
	t.Parallel()
	g := mustNew(t)
	tests := []struct {
		addr   string
		reason string // "" = allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.1.2.3", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"169.254.169.254", "cloud metadata"},
		{"169.254.1.1", "link-local"},
		{"100.64.0.1", "CGNAT"},
		{"100.100.100.200", "CGNAT"}, // Alibaba Cloud metadata
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this network"},
		{"::", "unspecified"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fc00::1", "private"},
		{"fd00:ec2::254", "cloud metadata"},
		{"fec0::1", "site-local"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"64:ff9b::7f00:1", "NAT64 of 127.0.0.1: loopback"},
		{"64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254: cloud metadata"},
		{"64:ff9b:1:7f00:0:100::", "NAT64 of 127.0.0.1: loopback"},
		{"2002:7f00:1::", "6to4 of 127.0.0.1: loopback"},
		{"2002:5db8:d822::", "6to4"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"198.18.0.1", "reserved"},
		{"5f00::1", "reserved"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"::127.0.0.1", "reserved"}, // deprecated IPv4-compatible form
		{"93.184.216.34", ""},
		{"2606:4700::1", ""},
		{"::ffff:93.184.216.34", ""},
		{"64:ff9b::5db8:d822", ""}, // NAT64 of a public address
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			err := g.Allowed(netip.MustParseAddr(tt.addr))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Allowed(%s) = %v, want nil", tt.addr, err)
				}
				return
			}
			if !errors.Is(err, ErrForbidden) {
				t.Fatalf("Allowed(%s) = %v, want ErrForbidden", tt.addr, err)
			}
			var fe *ForbiddenError
			if !errors.As(err, &fe) || fe.Reason != tt.reason {
				t.Fatalf("Allowed(%s) = %v, want reason %q", tt.addr, err, tt.reason)
			}
		})
	}
	if err := g.Allowed(netip.Addr{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("Allowed(zero Addr) = %v, want ErrForbidden", err)
	}
}

func TestAllowedErrorText(t *testing.T) {
	t.Parallel()
	err := mustNew(t).Allowed(netip.MustParseAddr("127.0.0.1"))
	if got, want := err.Error(), "netguard: destination 127.0.0.1 is not allowed (loopback)"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
}

func TestAllowedAllowList(t *testing.T) {
	t.Parallel()
	g := mustNew(t, "127.0.0.0/8", "10.1.0.0/16", "fd00::/8", " 192.168.1.5 ")
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.9.9.9", true},
		{"::ffff:127.0.0.1", true},
		{"64:ff9b::7f00:1", true}, // embedded IPv4 is allow-listed
		{"2002:7f00:1::", true},
		{"10.1.2.3", true},
		{"10.2.0.1", false},
		{"fd12::1", true},
		{"fc00::1", false},
		{"192.168.1.5", true},
		{"192.168.1.6", false},
		{"::1", false},
		{"169.254.169.254", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			err := g.Allowed(netip.MustParseAddr(tt.addr))
			if (err == nil) != tt.allowed {
				t.Fatalf("Allowed(%s) = %v, want allowed=%v", tt.addr, err, tt.allowed)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cidrs []string
		bad   string // "" = OK
	}{
		{"OK", []string{"10.0.0.0/8", "fd00::/8", "192.168.1.1", "::1", "10.0.0.1/8"}, ""},
		{"OKEmpty", nil, ""},
		{"ErrGarbage", []string{"10.0.0.0/8", "not-a-cidr"}, "not-a-cidr"},
		{"ErrBits", []string{"10.0.0.0/33"}, "10.0.0.0/33"},
		{"ErrEmpty", []string{""}, `""`},
		{"ErrZone", []string{"fe80::1%eth0"}, "fe80::1%eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cidrs)
			if tt.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Fatalf("New(%q) = %v, want an error naming %s", tt.cidrs, err, tt.bad)
			}
		})
	}
}

func TestControl(t *testing.T) {
	t.Parallel()
	g := mustNew(t, "127.0.0.2/32")
	tests := []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "127.0.0.1:80", false},
		{"tcp6", "[::1]:443", false},
		{"tcp6", "[::ffff:127.0.0.1]:443", false},
		{"tcp6", "[fe80::1%eth0]:443", false},
		{"tcp4", "127.0.0.2:8080", true},
		{"tcp4", "93.184.216.34:443", true},
		{"tcp4", "localhost:80", false},
		{"tcp4", "garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			t.Parallel()
			err := g.Control(tt.network, tt.address, nil)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrForbidden)) {
				t.Fatalf("Control(%s, %s) = %v, want ok=%v", tt.network, tt.address, err, tt.ok)
			}
		})
	}
}

func TestDialContextRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, addr string
		names      map[string][]netip.Addr
		reason     string
	}{
		{"Localhost", "localhost:80", map[string][]netip.Addr{"localhost": addrs("127.0.0.1", "::1")}, "loopback"},
		{"Rebind", "rebind.example:443", map[string][]netip.Addr{"rebind.example": addrs("::ffff:127.0.0.1")}, "loopback"},
		{"DecimalIP", "2130706433:80", map[string][]netip.Addr{"2130706433": addrs("127.0.0.1")}, "loopback"},
		{"Metadata", "metadata.google.internal:80", map[string][]netip.Addr{"metadata.google.internal": addrs("169.254.169.254")}, "cloud metadata"},
		{"AllPrivate", "intranet:443", map[string][]netip.Addr{"intranet": addrs("10.0.0.1", "192.168.0.1", "fd00::1")}, "private"},
		{"LiteralIPv4", "127.0.0.1:80", nil, "loopback"},
		{"LiteralIPv6", "[::1]:80", nil, "loopback"},
		{"LiteralMapped", "[::ffff:7f00:1]:80", nil, "loopback"},
		{"LiteralNAT64", "[64:ff9b::7f00:1]:80", nil, "NAT64 of 127.0.0.1: loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := mustNew(t)
			r := &stubResolver{t: t, names: tt.names}
			g.Resolver = r
			dials := recordDials(g, true)
			conn, err := g.DialContext(t.Context(), "tcp", tt.addr)
			if err == nil {
				conn.Close()
				t.Fatal("DialContext succeeded, want ErrForbidden")
			}
			var fe *ForbiddenError
			if !errors.Is(err, ErrForbidden) || !errors.As(err, &fe) || fe.Reason != tt.reason {
				t.Fatalf("DialContext = %v, want ErrForbidden with reason %q", err, tt.reason)
			}
			if d := dials(); len(d) != 0 {
				t.Errorf("dialled %v, want no dial attempt", d)
			}
			if tt.names == nil && r.calls.Load() != 0 {
				t.Errorf("literal IP was resolved")
			}
		})
	}
}

func TestDialContextSkipsForbidden(t *testing.T) {
	t.Parallel()
	t.Run("PublicAndLoopback", func(t *testing.T) {
		t.Parallel()
		// The public address is stopped in Control, before connect(2).
		g := mustNew(t)
		g.Resolver = &stubResolver{t: t, names: map[string][]netip.Addr{
			"mixed.example": addrs("127.0.0.1", "93.184.216.34", "::1"),
		}}
		dials := recordDials(g, true)
		_, err := g.DialContext(t.Context(), "tcp", "mixed.example:443")
		if !errors.Is(err, errStoppedBeforeConnect) {
			t.Fatalf("DialContext = %v, want the test's stop", err)
		}
		if d := dials(); len(d) != 1 || d[0] != "93.184.216.34:443" {
			t.Fatalf("dialled %v, want only 93.184.216.34:443", d)
		}
	})
	t.Run("AllowListedLoopbackServer", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}))
		defer srv.Close()
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		g := mustNew(t, "127.0.0.1/32")
		g.Resolver = &stubResolver{t: t, names: map[string][]netip.Addr{
			"hooks.example": addrs("169.254.169.254", "10.0.0.1", "127.0.0.2", "127.0.0.1"),
		}}
		dials := recordDials(g, true)
		conn, err := g.DialContext(t.Context(), "tcp", net.JoinHostPort("hooks.example", port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got, want := conn.RemoteAddr().String(), srv.Listener.Addr().String(); got != want {
			t.Errorf("connected to %s, want %s", got, want)
		}
		if d := dials(); len(d) != 1 || d[0] != "127.0.0.1:"+port {
			t.Fatalf("dialled %v, want only 127.0.0.1:%s", d, port)
		}
	})
}

func TestDialContextErrors(t *testing.T) {
	t.Parallel()
	g := mustNew(t, "127.0.0.0/8")
	g.Resolver = &stubResolver{t: t, names: map[string][]netip.Addr{
		"v6only.example": addrs("::1"),
		"empty.example":  nil,
	}}
	tests := []struct{ name, network, addr string }{
		{"UDP", "udp", "127.0.0.1:53"},
		{"NoPort", "tcp", "127.0.0.1"},
		{"EmptyHost", "tcp", ":80"},
		{"NoIPv4", "tcp4", "v6only.example:80"},
		{"NoAddresses", "tcp", "empty.example:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := g.DialContext(t.Context(), tt.network, tt.addr)
			if err == nil {
				conn.Close()
				t.Fatalf("DialContext(%s, %s) succeeded", tt.network, tt.addr)
			}
		})
	}
}

type failResolver struct{}

func (failResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}
}

func TestDialContextResolverError(t *testing.T) {
	t.Parallel()
	g := mustNew(t)
	g.Resolver = failResolver{}
	_, err := g.DialContext(t.Context(), "tcp", "nx.example:443")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || errors.Is(err, ErrForbidden) {
		t.Fatalf("DialContext = %v, want the resolver's DNSError", err)
	}
}

func TestClient(t *testing.T) {
	t.Parallel()
	var targetHits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			targetHits.Add(1)
		}
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/target", http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close) // the subtests run in parallel, after this function returns
	host := strings.Replace(srv.URL, "127.0.0.1", "hooks.example", 1)
	resolver := &stubResolver{t: t, names: map[string][]netip.Addr{"hooks.example": addrs("127.0.0.1")}}

	t.Run("OKAllowListed", func(t *testing.T) {
		t.Parallel()
		g := mustNew(t, "127.0.0.0/8")
		g.Resolver = resolver
		for _, u := range []string{srv.URL + "/", host + "/"} {
			resp, err := g.Client(5 * time.Second).Get(u)
			if err != nil {
				t.Fatalf("GET %s: %v", u, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("GET %s = %d %q", u, resp.StatusCode, body)
			}
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		t.Parallel()
		g := mustNew(t)
		g.Resolver = resolver
		for _, u := range []string{srv.URL + "/", host + "/"} {
			resp, err := g.Client(5 * time.Second).Get(u)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s succeeded, want ErrForbidden", u)
			}
			if !errors.Is(err, ErrForbidden) {
				t.Fatalf("GET %s = %v, want ErrForbidden", u, err)
			}
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Fatalf("GET %s = %T, want *url.Error", u, err)
			}
		}
	})
	t.Run("RedirectNotFollowed", func(t *testing.T) {
		t.Parallel()
		g := mustNew(t, "127.0.0.1/32")
		resp, err := g.Client(5 * time.Second).Get(srv.URL + "/redirect")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/target" {
			t.Fatalf("got %d Location=%q, want 302 /target", resp.StatusCode, resp.Header.Get("Location"))
		}
		if n := targetHits.Load(); n != 0 {
			t.Fatalf("redirect was followed: /target requested %d times", n)
		}
	})
}

func TestTransportSettings(t *testing.T) {
	t.Parallel()
	tr := mustNew(t).Transport()
	if tr.Proxy != nil || tr.DialContext == nil || !tr.ForceAttemptHTTP2 || tr.DisableKeepAlives ||
		tr.MaxIdleConns != 1024 || tr.MaxIdleConnsPerHost != 256 ||
		tr.IdleConnTimeout != 90*time.Second || tr.TLSHandshakeTimeout != 10*time.Second ||
		tr.ResponseHeaderTimeout != 0 {
		t.Fatalf("unexpected transport settings: %+v", tr)
	}
	g := mustNew(t)
	c1, c2 := g.Client(time.Second), g.Client(15*time.Second)
	if c1.Transport != c2.Transport || c2.Timeout != 15*time.Second || c1.CheckRedirect == nil {
		t.Fatal("clients of one guard must share one transport and never follow redirects")
	}
}

func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "64:ff9b:1:7f00:0:100::", "2606:4700::1", "fe80::1", "::"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	g := mustNew(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var a16 [16]byte
		copy(a16[:], b)
		for _, ip := range []netip.Addr{netip.AddrFrom16(a16), netip.AddrFrom4([4]byte(a16[:4]))} {
			err := g.Allowed(ip)
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Fatalf("Allowed(%s) = %v, not ErrForbidden", ip, err)
			}
			u := ip.Unmap()
			if err == nil && (u.IsLoopback() || u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsMulticast() || u.IsUnspecified()) {
				t.Fatalf("Allowed(%s) = nil for a non-public address", ip)
			}
			if v4, kind := embeddedIPv4(ip); kind != "" && v4.IsLoopback() && err == nil {
				t.Fatalf("Allowed(%s) = nil for %s of loopback", ip, kind)
			}
		}
	})
}

func FuzzNew(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "fd00::/8", "1.2.3.4/33", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := New([]string{s})
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("error %q does not name %q", err, s)
			}
			return
		}
		if len(g.allow) != 1 || !g.allow[0].IsValid() {
			t.Fatalf("New(%q) allow list = %v", s, g.allow)
		}
	})
}
