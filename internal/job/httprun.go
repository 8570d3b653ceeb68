package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// MaxErrorBody is how many bytes of a non-2xx response an http job's error
// quotes.
const MaxErrorBody = 512

// HTTPError is returned by RunHTTP for a response outside 2xx (3xx included:
// the client is expected not to follow redirects).
type HTTPError struct {
	StatusCode int
	Body       string // the first MaxErrorBody bytes of the response
}

func (e *HTTPError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Body)
}

// RunHTTP runs an http job once: it sends input (JSON null when empty) as the
// body of a cfg.Method (default POST) request to cfg.URL with Content-Type
// application/json, User-Agent hookd/<version> and cfg.Headers (which may
// override the first two). The caller supplies the client, normally one whose
// dialer refuses private addresses (DESIGN §5); RunHTTP adds no guard of its
// own.
//
// A 2xx response's body, read up to MaxOutput bytes, is the result: as is when
// it is JSON, otherwise (or when cut at MaxOutput) as a JSON string; JSON null
// when empty. Any other status is an *HTTPError. After timeout (≤ 0: none) the
// error is a *TimeoutError; after ctx is done, ctx's cause wrapped; a network
// failure is returned wrapped.
func RunHTTP(ctx context.Context, client *http.Client, cfg HTTPConfig, input []byte, timeout time.Duration) (json.RawMessage, error) {
	if client == nil {
		return nil, errors.New("run http: nil client")
	}
	method := cfg.Method
	if method == "" {
		method = http.MethodPost
	}
	body := input
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("null")
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, &TimeoutError{After: timeout})
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("run http: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookd/"+hookd.Version)
	for k, v := range cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, httpRunError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxOutput+1))
	if err != nil {
		return nil, httpRunError(ctx, err)
	}
	truncated := len(data) > MaxOutput
	if truncated {
		data = data[:MaxOutput]
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		quote := data[:min(len(data), MaxErrorBody)]
		return nil, &HTTPError{
			StatusCode: resp.StatusCode,
			Body:       strings.ToValidUTF8(strings.TrimSpace(string(quote)), "\uFFFD"),
		}
	}
	return outputJSON(data, truncated), nil
}

// httpRunError reports a failed request: the timeout or cancellation that
// caused it when there was one, else the transport's error.
func httpRunError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		var te *TimeoutError
		if errors.As(cause, &te) {
			return te
		}
		return fmt.Errorf("run http: canceled: %w", cause)
	}
	return fmt.Errorf("run http: %w", err)
}
