package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// requestIDHeader carries the request id in both directions.
const requestIDHeader = "X-Request-Id"

// responseWriter records what the handler answered, for the access log and
// panic recovery, and turns ServeMux's own plain-text 404 and 405 answers into
// problem+json. It is created once per request by middleware.
type responseWriter struct {
	http.ResponseWriter
	status  int
	bytes   int64
	routed  bool   // a route of the table took the request (set by route wrappers)
	swallow bool   // a ServeMux error answer was replaced; drop its body
	keyID   string // the API key that made the request, for the access log
	method  string
}

// WriteHeader records the status. When no route matched, ServeMux answers 404
// or 405 through http.Error; that answer is replaced by a problem document
// (ServeMux has already set Allow for 405).
func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if !w.routed && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		w.status = code
		w.swallow = true
		p := problem{Type: problemTypeBase + "not_found", Title: http.StatusText(code), Status: code, Detail: "no such route"}
		if code == http.StatusMethodNotAllowed {
			p.Type = problemTypeBase + "method_not_allowed"
			p.Detail = fmt.Sprintf("method %s not allowed; allowed: %s", w.method, w.Header().Get("Allow"))
		}
		rec := &countingWriter{ResponseWriter: w.ResponseWriter}
		writeProblem(rec, p)
		w.bytes += rec.n
		return
	}
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Write writes body bytes (after an implicit 200).
func (w *responseWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
		if w.swallow {
			return len(b), nil
		}
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush passes through to the underlying writer when it can flush.
func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingWriter counts the body bytes written through it.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

// middleware wraps next with, from the outside in: the request id (a sane
// incoming X-Request-Id is kept, else a new one is made; either way it is
// echoed in the answer), panic recovery (500 problem, logged with the stack
// and the request id; the panic value never reaches the client) and the
// access log (5xx at error, 4xx at warn, the rest at debug; nothing is built
// when the level is disabled, so it stays cheap under load).
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(requestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(requestIDHeader, id)
		rw := &responseWriter{ResponseWriter: w, method: r.Method}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("request_id", id),
					slog.String("method", r.Method),
					slog.String("path", logPath(r.URL.Path)),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())))
				if rw.status != 0 {
					// The answer has begun and cannot be replaced: log it and
					// cut the connection so the client sees a broken answer,
					// not a complete-looking one.
					s.logAccess(r, rw, id, start)
					panic(http.ErrAbortHandler)
				}
				rw.routed = true
				h := rw.Header()
				for k := range h {
					if k != requestIDHeader {
						delete(h, k)
					}
				}
				writeProblem(rw, problem{Type: problemTypeBase + "internal", Title: http.StatusText(http.StatusInternalServerError),
					Status: http.StatusInternalServerError, Detail: "internal error"})
			}
			s.logAccess(r, rw, id, start)
		}()
		next.ServeHTTP(rw, r)
	})
}

// logAccess writes one access log line at the level the status calls for.
func (s *Server) logAccess(r *http.Request, rw *responseWriter, id string, start time.Time) {
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400 && !isTriggerPath(r.URL.Path):
		// Refused trigger calls are answered by the call log and the
		// hookd_inbound_calls_total metric; logging each would turn a flood
		// of bad calls into a flood of log lines.
		level = slog.LevelWarn
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	s.log.LogAttrs(ctx, level, "request",
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", logPath(r.URL.Path)),
		slog.Int("status", status),
		slog.Int64("bytes", rw.bytes),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("key_id", rw.keyID),
		slog.String("remote", r.RemoteAddr))
}

// isTriggerPath reports whether p is one of the inbound trigger endpoints.
func isTriggerPath(p string) bool {
	return strings.HasPrefix(p, "/hooks/") || p == "/v1/webhook/trigger"
}

// logPath is the path as logged: the token of an inbound trigger URL
// (/hooks/{token}) is a credential and is replaced.
func logPath(p string) string {
	if strings.HasPrefix(p, "/hooks/") {
		return "/hooks/{token}"
	}
	return p
}

// validRequestID accepts 1–128 characters of [A-Za-z0-9._:-]: enough for
// UUIDs and tracing ids, nothing that could forge a log line or a header.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !typeChar(id[i]) {
			return false
		}
	}
	return true
}

// newRequestID returns 24 random hex characters.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
