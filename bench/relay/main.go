// Command relay is hookd's shape without its database, for benchmarks: it
// answers each POST at once (202) and then forwards the body to a receiver
// from a pool of workers, as a node acknowledges a publish and delivers it
// later. Run one relay, or three behind bench/rrproxy, under the harness's
// loadgen (adapters/hookd.json with HOOKD_ADDR at the proxy) to see what
// splitting one load over several processes costs this machine by itself:
//
//	relay -listen 127.0.0.1:18181 -to http://127.0.0.1:9200/hook
//
// Standard library only; a forward that fails is counted, not retried.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18181", "address to listen on")
	to := flag.String("to", "", "URL every body is forwarded to")
	workers := flag.Int("workers", 64, "concurrent forwards")
	flag.Parse()
	if *to == "" {
		fmt.Fprintln(os.Stderr, "relay: -to is required")
		os.Exit(2)
	}
	r := New(*to, *workers)
	go r.Run(context.Background())
	srv := &http.Server{Addr: *listen, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("relay: %s -> %s", *listen, *to)
	log.Fatal(srv.ListenAndServe())
}

// Relay accepts bodies (ServeHTTP) and forwards them (Run).
type Relay struct {
	to      string
	workers int
	queue   chan []byte
	client  *http.Client
	// Forwarded and Failed count forwards that got a 2xx, and the others.
	Forwarded, Failed atomic.Int64
}

// New returns a relay forwarding to url with n concurrent workers.
func New(url string, n int) *Relay {
	return &Relay{to: url, workers: n, queue: make(chan []byte, 1<<16),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}}
}

func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	select {
	case r.queue <- body:
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "queue full", http.StatusServiceUnavailable)
	}
}

// Run forwards queued bodies until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	for range r.workers {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case b := <-r.queue:
					r.forward(ctx, b)
				}
			}
		}()
	}
	<-ctx.Done()
}

func (r *Relay) forward(ctx context.Context, b []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.to, bytes.NewReader(b))
	if err != nil {
		r.Failed.Add(1)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		r.Failed.Add(1)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		r.Forwarded.Add(1)
	} else {
		r.Failed.Add(1)
	}
}
