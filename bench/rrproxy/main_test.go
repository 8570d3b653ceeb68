package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestRoundRobin(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	var targets []*url.URL
	for _, name := range []string{"a", "b", "c"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			hits[name]++
			mu.Unlock()
			w.Header().Set("X-Backend", name)
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization") + " " + string(body)))
		}))
		defer srv.Close()
		u, _ := url.Parse(srv.URL)
		targets = append(targets, u)
	}
	proxy := httptest.NewServer(New(targets, 8))
	defer proxy.Close()

	var order []string
	for i := range 9 {
		req, _ := http.NewRequest("POST", proxy.URL+"/v1/events", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || string(body) != "POST /v1/events Bearer k x" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		order = append(order, resp.Header.Get("X-Backend"))
	}
	// Per request, in turn, even on one kept-alive client connection.
	if got := strings.Join(order, ""); got != "abcabcabc" {
		t.Fatalf("backends in order %q, want abcabcabc", got)
	}
	if hits["a"] != 3 || hits["b"] != 3 || hits["c"] != 3 {
		t.Fatalf("hits %v", hits)
	}
}

func TestParseBackends(t *testing.T) {
	got, err := parseBackends("127.0.0.1:1, http://127.0.0.1:2,")
	if err != nil || len(got) != 2 || got[0].String() != "http://127.0.0.1:1" || got[1].Host != "127.0.0.1:2" {
		t.Fatalf("parseBackends = %v, %v", got, err)
	}
	if _, err := parseBackends(" , "); err == nil {
		t.Fatal("no backends: want an error")
	}
}
