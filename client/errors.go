package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is any answer outside 2xx, decoded from the RFC 9457 problem+json
// body. When the body is not a problem document, Title is the status text and
// Detail the body's text (trimmed).
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int `json:"status"`
	// Type, Title and Detail are the problem document's members.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	// Errors lists invalid fields, on 400 answers that name them.
	Errors []FieldError `json:"errors,omitempty"`
	// RetryAfter is the server's Retry-After (on 429 and 503), 0 when absent.
	RetryAfter time.Duration `json:"-"`
}

// Error returns "<status> <title>: <detail>", the detail omitted when empty
// and replaced by the field errors when only those are given.
func (e *Error) Error() string {
	title := e.Title
	if title == "" {
		title = http.StatusText(e.StatusCode)
	}
	detail := e.Detail
	if detail == "" && len(e.Errors) > 0 {
		parts := make([]string, len(e.Errors))
		for i, f := range e.Errors {
			parts[i] = f.Field + ": " + f.Message
		}
		detail = strings.Join(parts, "; ")
	}
	if detail == "" || detail == title {
		return fmt.Sprintf("%d %s", e.StatusCode, title)
	}
	return fmt.Sprintf("%d %s: %s", e.StatusCode, title, detail)
}

// decodeError turns a non-2xx answer into an *Error.
func decodeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return decodeErrorBytes(resp, raw)
}

// decodeErrorBytes makes an *Error of a non-2xx answer whose body is raw.
func decodeErrorBytes(resp *http.Response, raw []byte) error {
	e := &Error{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	text := strings.TrimSpace(string(raw))
	decoded := false
	if ct == "application/problem+json" || ct == "application/json" || strings.HasPrefix(text, "{") {
		var p struct {
			Type    string       `json:"type"`
			Title   string       `json:"title"`
			Detail  string       `json:"detail"`
			Errors  []FieldError `json:"errors"`
			Reason  string       `json:"reason"`  // trigger answers
			Message string       `json:"message"` // generic JSON errors
			Error   string       `json:"error"`
		}
		if json.Unmarshal(raw, &p) == nil {
			decoded = true
			e.Type, e.Title, e.Detail, e.Errors = p.Type, p.Title, p.Detail, p.Errors
			if e.Detail == "" {
				e.Detail = firstNonEmpty(p.Reason, p.Message, p.Error)
			}
		}
	}
	if !decoded && text != "" {
		if len(text) > 500 {
			text = text[:500] + "…"
		}
		e.Detail = text
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return e
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// StatusCode returns the HTTP status carried by err's *Error, 0 when err has
// none (nil, a network error, a canceled context).
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports whether err is a 404: the object does not exist or
// belongs to another workspace.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsUnauthorized reports whether err is a 401: a missing or wrong API key, an
// unknown trigger token or a bad signature.
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }

// IsForbidden reports whether err is a 403: the key lacks the scope, or the
// trigger is inactive.
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsInvalid reports whether err is a 400 or 422: the request was refused as
// malformed; the *Error's Errors may name the fields.
func IsInvalid(err error) bool {
	s := StatusCode(err)
	return s == http.StatusBadRequest || s == http.StatusUnprocessableEntity
}

// IsConflict reports whether err is a 409.
func IsConflict(err error) bool { return StatusCode(err) == http.StatusConflict }

// IsTooLarge reports whether err is a 413: the body is over the server's limit.
func IsTooLarge(err error) bool { return StatusCode(err) == http.StatusRequestEntityTooLarge }

// IsRateLimited reports whether err is a 429; the *Error's RetryAfter says
// when to try again.
func IsRateLimited(err error) bool { return StatusCode(err) == http.StatusTooManyRequests }
