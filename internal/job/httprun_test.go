package job

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookd/hookd"
)

// seen is what the test server received.
type seen struct {
	Method, ContentType, UserAgent, Auth, Body string
}

func TestRunHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string
		headers  map[string]string
		input    string
		status   int
		respType string
		respBody string
		want     string // result
		wantSeen seen
	}{
		{
			name: "OK/JSON", input: `{"view":"daily"}`, status: 200, respType: "application/json", respBody: `{"refreshed": 3}` + "\n",
			want:     `{"refreshed": 3}`,
			wantSeen: seen{Method: "POST", ContentType: "application/json", UserAgent: "hookd/" + hookd.Version, Body: `{"view":"daily"}`},
		},
		{
			name: "OK/TextBody", input: `{}`, status: 202, respType: "text/plain", respBody: "accepted\n",
			want:     `"accepted"`,
			wantSeen: seen{Method: "POST", ContentType: "application/json", UserAgent: "hookd/" + hookd.Version, Body: `{}`},
		},
		{
			name: "OK/EmptyBody", method: "PUT", headers: map[string]string{"Authorization": "Bearer s3cret"}, input: `[1,2]`, status: 204,
			want:     `null`,
			wantSeen: seen{Method: "PUT", ContentType: "application/json", UserAgent: "hookd/" + hookd.Version, Auth: "Bearer s3cret", Body: `[1,2]`},
		},
		{
			name: "OK/EmptyInputIsNull", status: 200, respBody: `true`,
			want:     `true`,
			wantSeen: seen{Method: "POST", ContentType: "application/json", UserAgent: "hookd/" + hookd.Version, Body: `null`},
		},
		{
			name: "OK/HeadersOverride", headers: map[string]string{"user-agent": "custom/1", "Content-Type": "application/vnd.x+json"}, input: `{}`, status: 200, respBody: `1`,
			want:     `1`,
			wantSeen: seen{Method: "POST", ContentType: "application/vnd.x+json", UserAgent: "custom/1", Body: `{}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan seen, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), r.Header.Get("Authorization"), string(b)}
				if tt.respType != "" {
					w.Header().Set("Content-Type", tt.respType)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.respBody)
			}))
			defer srv.Close()
			cfg := HTTPConfig{URL: srv.URL + "/refresh", Method: tt.method, Headers: tt.headers}
			res, err := RunHTTP(t.Context(), srv.Client(), cfg, []byte(tt.input), 10*time.Second)
			if err != nil {
				t.Fatalf("RunHTTP: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(res)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSeen, <-got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunHTTPErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 600)
	tests := []struct {
		name     string
		status   int
		body     string
		wantMsg  string
		wantCode int
	}{
		{"ErrServer", 500, `{"error":"db down"}`, `HTTP 500: {"error":"db down"}`, 500},
		{"ErrNotFound", 404, ``, `HTTP 404`, 404},
		{"ErrLongBodyQuoted", 400, long, "HTTP 400: " + long[:MaxErrorBody], 400},
		{"ErrRedirect", 302, ``, `HTTP 302`, 302},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			client := &http.Client{
				Transport:     srv.Client().Transport,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			_, err := RunHTTP(t.Context(), client, HTTPConfig{URL: srv.URL}, []byte(`{}`), 10*time.Second)
			var he *HTTPError
			if !errors.As(err, &he) {
				t.Fatalf("error = %v, want *HTTPError", err)
			}
			if he.StatusCode != tt.wantCode || err.Error() != tt.wantMsg {
				t.Errorf("error = %d %q, want %d %q", he.StatusCode, err.Error(), tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestRunHTTPLargeResponseTruncated(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `"`+strings.Repeat("a", 2*MaxOutput)+`"`)
	}))
	defer srv.Close()
	res, err := RunHTTP(t.Context(), srv.Client(), HTTPConfig{URL: srv.URL}, []byte(`{}`), 10*time.Second)
	if err != nil {
		t.Fatalf("RunHTTP: %v", err)
	}
	var s string
	if err := json.Unmarshal(res, &s); err != nil || len(s) != MaxOutput {
		t.Errorf("result: %d bytes, err %v; want a string of the first %d bytes", len(s), err, MaxOutput)
	}
}

func TestRunHTTPTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	// The handler holds the request until the client goes away.
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	// Subtests run in parallel after this function returns: clean up
	// after them (in reverse order: release the handlers, then close).
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	t.Run("ErrTimeout", func(t *testing.T) {
		t.Parallel()
		_, err := RunHTTP(t.Context(), srv.Client(), HTTPConfig{URL: srv.URL}, []byte(`{}`), 100*time.Millisecond)
		var te *TimeoutError
		if !errors.As(err, &te) || err.Error() != "timed out after 0.1s" {
			t.Fatalf("error = %v, want timed out after 0.1s", err)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		srvSeen := make(chan struct{})
		// Cancel once the request is on its way, without a timer. (A new
		// client: srv.Client() is shared with the other subtest.)
		base := srv.Client().Transport
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			close(srvSeen)
			return base.RoundTrip(r)
		})}
		go func() { <-srvSeen; cancel() }()
		_, err := RunHTTP(ctx, client, HTTPConfig{URL: srv.URL}, []byte(`{}`), time.Minute)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRunHTTPNetworkErrors(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"ErrConnRefused", http.DefaultClient, closedURL},
		{"ErrNilClient", nil, "http://127.0.0.1/"},
		{"ErrBadURL", http.DefaultClient, "http://[::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := RunHTTP(t.Context(), tt.client, HTTPConfig{URL: tt.url}, []byte(`{}`), 5*time.Second)
			if err == nil {
				t.Fatal("RunHTTP: no error")
			}
			var te *TimeoutError
			if errors.As(err, &te) {
				t.Errorf("error %v is a timeout", err)
			}
		})
	}
}
