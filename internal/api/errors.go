package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hookd/hookd"
)

// statusByCode is the one table from hookd error codes to HTTP statuses.
// A code missing here (and any error that is not a *hookd.Error) is 500.
var statusByCode = map[string]int{
	hookd.EInvalid:      http.StatusBadRequest,
	hookd.EUnauthorized: http.StatusUnauthorized,
	hookd.EForbidden:    http.StatusForbidden,
	hookd.ENotFound:     http.StatusNotFound,
	hookd.EConflict:     http.StatusConflict,
	hookd.ETooLarge:     http.StatusRequestEntityTooLarge,
	hookd.ERateLimited:  http.StatusTooManyRequests,
	hookd.EUnavailable:  http.StatusServiceUnavailable,
	hookd.EInternal:     http.StatusInternalServerError,
}

// errorStatus returns the HTTP status of err through statusByCode.
func errorStatus(err error) int {
	if st, ok := statusByCode[hookd.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// problemTypeBase prefixes the problem "type" URI; the code follows.
const problemTypeBase = "https://hookd.dev/problems/"

// problem is an RFC 9457 problem details document.
type problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail"`
	Errors []hookd.FieldError `json:"errors,omitempty"`
}

// writeError answers err as application/problem+json with the status of its
// code. Errors that are not a *hookd.Error, or carry EInternal, are answered
// as "internal error" and logged with the request id; their text never reaches
// the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := hookd.ErrorCode(err)
	status := errorStatus(err)
	p := problem{Status: status, Title: http.StatusText(status), Type: problemTypeBase + code}
	var he *hookd.Error
	if status == http.StatusInternalServerError || !errors.As(err, &he) {
		p.Type = problemTypeBase + hookd.EInternal
		p.Detail = "internal error"
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", w.Header().Get(requestIDHeader)),
			slog.String("method", r.Method),
			slog.String("path", logPath(r.URL.Path)),
			slog.String("error", err.Error()))
	} else {
		p.Detail = he.Message
		p.Errors = he.Fields
	}
	writeProblem(w, p)
}

// writeProblem writes p with its status.
func writeProblem(w http.ResponseWriter, p problem) {
	body, err := json.Marshal(p)
	if err != nil { // cannot happen for this type; keep the answer well formed
		body = []byte(`{"type":"` + problemTypeBase + `internal","title":"Internal Server Error","status":500,"detail":"internal error"}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Idempotent-Replayed")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// writeJSON answers v as application/json with status.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// fieldErrors collects field errors of one request into one EInvalid error.
type fieldErrors []hookd.FieldError

// add records that field is invalid.
func (f *fieldErrors) add(field, msg string) {
	*f = append(*f, hookd.FieldError{Field: field, Message: msg})
}

// merge records the fields of err when it is an EInvalid *hookd.Error, or a
// field error for field with its message otherwise.
func (f *fieldErrors) merge(field string, err error) {
	if err == nil {
		return
	}
	var he *hookd.Error
	if errors.As(err, &he) && len(he.Fields) > 0 {
		*f = append(*f, he.Fields...)
		return
	}
	f.add(field, hookd.ErrorMessage(err))
}

// err returns nil when no field is invalid, else one EInvalid *hookd.Error
// whose message names the first field.
func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	msg := f[0].Field + ": " + f[0].Message
	if len(f) > 1 {
		msg += " (and " + strconv.Itoa(len(f)-1) + " more)"
	}
	return &hookd.Error{Code: hookd.EInvalid, Message: msg, Fields: f}
}
