// Package client is the Go SDK of hookd's management API and inbound trigger
// endpoints (see DESIGN.md in the hookd repository). It depends only on the
// standard library and has its own wire types, so it can be vendored or
// published alone.
//
// Every method takes a context first and makes exactly one HTTP request: the
// client never retries on its own, so the caller decides what is safe to
// repeat. Any answer outside 2xx is returned as an *Error decoded from the
// server's application/problem+json body.
//
//	c := client.New("http://127.0.0.1:8080", os.Getenv("HOOKD_API_KEY"))
//	wh, err := c.CreateWebhook(ctx, client.WebhookCreate{URL: "https://example.com/hook", Events: []string{"job.*"}})
//	if client.IsNotFound(err) { … }
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DefaultUserAgent is sent when WithUserAgent is not used.
const DefaultUserAgent = "hookd-go-client/1"

// Client talks to one hookd server with one API key. It is safe for
// concurrent use.
type Client struct {
	baseURL   string
	apiKey    string
	http      *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc (for timeouts,
// proxies, TLS settings or tests). The default is http.DefaultClient; bound
// each call with its context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithUserAgent replaces the User-Agent header (DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the server at baseURL (such as
// "http://127.0.0.1:8080", optionally with a path prefix) that authenticates
// with apiKey (an "hk_…" key) as a bearer token.
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{
		baseURL:   strings.TrimRight(baseURL, "/"),
		apiKey:    apiKey,
		http:      http.DefaultClient,
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the server address the client was made with, without a
// trailing slash.
func (c *Client) BaseURL() string { return c.baseURL }

// request describes one call.
type request struct {
	method string
	path   string     // starting with "/", already escaped
	query  url.Values // may be nil
	body   any        // JSON-encoded when not nil
	header http.Header
	noAuth bool
	redact bool // the URL holds a credential: errors name path instead
}

// do sends r and decodes a 2xx JSON answer into out (when out is not nil).
// Any other status becomes an *Error.
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp)
	}
	return decodeBody(r, resp, out)
}

// send builds and sends the request; the caller closes the body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u := c.baseURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	return c.sendURL(ctx, u, r)
}

func (c *Client) sendURL(ctx context.Context, u string, r request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		switch b := r.body.(type) {
		case []byte:
			body = bytes.NewReader(b)
		default:
			buf, err := json.Marshal(b)
			if err != nil {
				return nil, fmt.Errorf("hookd client: %s %s: encode body: %w", r.method, r.path, err)
			}
			body = bytes.NewReader(buf)
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		if r.redact {
			return nil, fmt.Errorf("hookd client: %s %s: invalid URL", r.method, r.path)
		}
		return nil, fmt.Errorf("hookd client: %s %s: %w", r.method, r.path, err)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.body != nil && req.Header.Get("Content-Type") == "" {
		if _, raw := r.body.([]byte); !raw {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if !r.noAuth && c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if r.redact && errors.As(err, &ue) {
			ue.URL = r.path
		}
		return nil, fmt.Errorf("hookd client: %s %s: %w", r.method, r.path, err)
	}
	return resp, nil
}

func decodeBody(r request, resp *http.Response, out any) error {
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return decodeFailure(r, resp, err)
	}
	return nil
}

func decodeFailure(r request, resp *http.Response, err error) error {
	return fmt.Errorf("hookd client: %s %s: decode %d answer: %w", r.method, r.path, resp.StatusCode, err)
}

// drainClose reads a little of what is left so the connection can be reused,
// then closes the body.
func drainClose(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	_ = rc.Close()
}

// esc escapes one path segment (ids are plain, but a caller's typo must not
// reach another route).
func esc(s string) string { return url.PathEscape(s) }

// Page is offset pagination of a list: Limit 1–100 (0 means the server's
// default, 20), Offset ≥ 0.
type Page struct {
	Limit  int
	Offset int
}

func (p Page) values() url.Values {
	q := url.Values{}
	setInt(q, "limit", p.Limit)
	setInt(q, "offset", p.Offset)
	return q
}

func setInt(q url.Values, k string, v int) {
	if v != 0 {
		q.Set(k, strconv.Itoa(v))
	}
}

func setStr(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setBool(q url.Values, k string, v bool) {
	if v {
		q.Set(k, "true")
	}
}
