package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/client"
)

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		ctype  string
		header http.Header
		body   string
		want   *client.Error
		str    string
		is     func(error) bool
	}{
		{
			name: "ErrNotFound", status: 404, ctype: "application/problem+json",
			body: `{"type":"about:blank","title":"Not Found","status":404,"detail":"webhook wh_1 not found"}`,
			want: &client.Error{StatusCode: 404, Type: "about:blank", Title: "Not Found", Detail: "webhook wh_1 not found"},
			str:  "404 Not Found: webhook wh_1 not found", is: client.IsNotFound,
		},
		{
			name: "ErrInvalidFields", status: 400, ctype: "application/problem+json",
			body: `{"title":"Bad Request","status":400,"errors":[{"field":"url","message":"must be https"},{"field":"events","message":"empty pattern"}]}`,
			want: &client.Error{StatusCode: 400, Title: "Bad Request", Errors: []client.FieldError{{Field: "url", Message: "must be https"}, {Field: "events", Message: "empty pattern"}}},
			str:  "400 Bad Request: url: must be https; events: empty pattern", is: client.IsInvalid,
		},
		{
			name: "ErrUnauthorized", status: 401, ctype: "application/problem+json", body: `{"title":"Unauthorized","status":401}`,
			want: &client.Error{StatusCode: 401, Title: "Unauthorized"}, str: "401 Unauthorized", is: client.IsUnauthorized,
		},
		{
			name: "ErrForbiddenPlainText", status: 403, ctype: "text/plain", body: "read-only key\n",
			want: &client.Error{StatusCode: 403, Title: "Forbidden", Detail: "read-only key"}, str: "403 Forbidden: read-only key", is: client.IsForbidden,
		},
		{
			name: "ErrConflictEmptyBody", status: 409,
			want: &client.Error{StatusCode: 409, Title: "Conflict"}, str: "409 Conflict", is: client.IsConflict,
		},
		{
			name: "ErrTooLarge", status: 413, ctype: "application/problem+json", body: `{"title":"Request Entity Too Large","detail":"body over 1 MiB"}`,
			want: &client.Error{StatusCode: 413, Title: "Request Entity Too Large", Detail: "body over 1 MiB"}, is: client.IsTooLarge,
			str: "413 Request Entity Too Large: body over 1 MiB",
		},
		{
			name: "ErrRateLimited", status: 429, ctype: "application/json", header: http.Header{"Retry-After": {"7"}},
			body: `{"success":false,"reason":"rate limited"}`,
			want: &client.Error{StatusCode: 429, Title: "Too Many Requests", Detail: "rate limited", RetryAfter: 7 * time.Second},
			str:  "429 Too Many Requests: rate limited", is: client.IsRateLimited,
		},
		{
			name: "ErrInternalHTML", status: 502, ctype: "text/html", body: "<html>bad gateway</html>",
			want: &client.Error{StatusCode: 502, Title: "Bad Gateway", Detail: "<html>bad gateway</html>"},
			str:  "502 Bad Gateway: <html>bad gateway</html>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c := client.New(srv.URL, testKey, client.WithHTTPClient(srv.Client()))
			_, err := c.GetWebhook(context.Background(), "wh_1")
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *client.Error", err, err)
			}
			if !reflect.DeepEqual(e, tt.want) {
				t.Errorf("got %+v\nwant %+v", e, tt.want)
			}
			if err.Error() != tt.str {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.str)
			}
			if tt.is != nil && !tt.is(err) {
				t.Errorf("predicate false for %v", err)
			}
			if client.IsNotFound(err) != (tt.status == 404) {
				t.Errorf("IsNotFound(%v) wrong", err)
			}
			if client.StatusCode(err) != tt.status {
				t.Errorf("StatusCode = %d", client.StatusCode(err))
			}
		})
	}
}

func TestErrorNotHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	_, err := client.New(url, testKey).GetJob(context.Background(), "job_1")
	if err == nil || client.StatusCode(err) != 0 || client.IsNotFound(err) {
		t.Fatalf("err %v, status %d", err, client.StatusCode(err))
	}
	if !strings.Contains(err.Error(), "GET /v1/jobs/job_1") {
		t.Errorf("error %q does not name the operation", err)
	}
}

func TestDecodeFailure(t *testing.T) {
	t.Parallel()
	c, _ := fake(t, 200, `{"id":`)
	if _, err := c.GetJob(context.Background(), "job_1"); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("err %v", err)
	}
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hang until the client gives up
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.New(srv.URL, testKey).ListWebhooks(ctx, client.WebhookFilter{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
