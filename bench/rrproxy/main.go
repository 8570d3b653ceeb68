// Command rrproxy is a round-robin HTTP reverse proxy for benchmarks: it
// listens on one address and forwards each request to the next of N backends
// in turn (per request, not per connection), over kept-alive connections.
// It lets a publisher with one address spread its calls over several hookd
// nodes, e.g. scripts/bench.sh pg-cluster:
//
//	rrproxy -listen 127.0.0.1:18080 -backends 127.0.0.1:18081,127.0.0.1:18082,127.0.0.1:18083
//
// Standard library only; no retries (a backend's error is the caller's 502).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "address to listen on")
	backends := flag.String("backends", "", "comma-separated backends (host:port or http://host:port)")
	conns := flag.Int("idle-conns", 256, "kept-alive connections per backend")
	flag.Parse()
	targets, err := parseBackends(*backends)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rrproxy:", err)
		os.Exit(2)
	}
	srv := &http.Server{Addr: *listen, Handler: New(targets, *conns), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("rrproxy: %s -> %s", *listen, *backends)
	log.Fatal(srv.ListenAndServe())
}

// parseBackends splits a comma-separated list of backends into base URLs.
func parseBackends(s string) ([]*url.URL, error) {
	var out []*url.URL
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if !strings.Contains(b, "://") {
			b = "http://" + b
		}
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("bad backend %q", b)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-backends: at least one backend is needed")
	}
	return out, nil
}

// New returns a handler forwarding request i to targets[i mod N].
func New(targets []*url.URL, idleConns int) http.Handler {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        idleConns * len(targets),
		MaxIdleConnsPerHost: idleConns,
		IdleConnTimeout:     90 * time.Second,
	}
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			t := targets[(next.Add(1)-1)%uint64(len(targets))]
			r.SetURL(t)
			r.Out.Host = r.In.Host
		},
		Transport: tr,
		ErrorLog:  log.New(os.Stderr, "rrproxy: ", log.LstdFlags),
	}
}
