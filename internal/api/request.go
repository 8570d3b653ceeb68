package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookd/hookd"
)

// readBody reads the whole request body, at most s.maxBody bytes: a larger
// declared Content-Length is refused before reading, and a longer body
// (chunked, or lying about its length) stops at the limit. Both are
// ETooLarge. The body must be valid UTF-8.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > s.maxBody {
		return nil, hookd.Errorf(hookd.ETooLarge, "request body is larger than %d bytes", s.maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, hookd.Errorf(hookd.ETooLarge, "request body is larger than %d bytes", s.maxBody)
		}
		return nil, hookd.Errorf(hookd.EInvalid, "reading request body: %v", err)
	}
	if !utf8.Valid(body) {
		return nil, hookd.Errorf(hookd.EInvalid, "request body is not valid UTF-8")
	}
	return body, nil
}

// decodeBody reads the request body and decodes it strictly into dst (see
// decodeStrict). When optional is true an empty body leaves dst untouched.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeStrict(body, dst)
}

// decodeStrict decodes one JSON value from body into dst: unknown fields,
// wrong types, trailing data and invalid UTF-8 are EInvalid errors naming the
// field where there is one. Numbers in untyped values stay json.Number.
func decodeStrict(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return hookd.Errorf(hookd.EInvalid, "request body is empty; a JSON object is required")
	}
	if !utf8.Valid(body) {
		return hookd.Errorf(hookd.EInvalid, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return hookd.Errorf(hookd.EInvalid, "request body has data after the JSON value")
	}
	return nil
}

// jsonError turns an encoding/json error into an EInvalid error.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return hookd.Errorf(hookd.EInvalid, "request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return hookd.Errorf(hookd.EInvalid, "request body is not valid JSON (truncated)")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return hookd.Errorf(hookd.EInvalid, "request body must be a JSON object")
		}
		return hookd.FieldErrorf(typ.Field, "must be %s", jsonTypeName(typ.Type.String()))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return hookd.FieldErrorf(name, "unknown field")
	}
	return hookd.Errorf(hookd.EInvalid, "request body is not valid JSON")
}

// jsonTypeName names a Go type the way a JSON client thinks of it.
func jsonTypeName(goType string) string {
	goType = strings.TrimLeft(goType, "*")
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"), strings.HasPrefix(goType, "api."):
		return "an object"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	}
	return "of another type"
}

// page parses ?limit= (1–100, default 20) and ?offset= (≥ 0, default 0).
func page(r *http.Request) (hookd.Page, error) {
	q := r.URL.Query()
	p := hookd.Page{Limit: 20}
	var fe fieldErrors
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			fe.add("limit", "must be an integer from 1 to 100")
		}
		p.Limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fe.add("offset", "must be an integer ≥ 0")
		}
		p.Offset = n
	}
	return p, fe.err()
}

// listResponse is one page of a list.
type listResponse[T any] struct {
	Data   []T `json:"data"`
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// newList returns the page as a list answer; Data is never null.
func newList[T any](data []T, total int, p hookd.Page) listResponse[T] {
	if data == nil {
		data = []T{}
	}
	return listResponse[T]{Data: data, Total: total, Limit: p.Limit, Offset: p.Offset}
}

// boolParam parses an optional boolean query parameter ("true"/"false", also
// 1/0).
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, hookd.FieldErrorf(name, "must be true or false")
	}
	return b, nil
}

// checkLen returns an error message when s is longer than max bytes or holds
// control characters, "" when it is acceptable.
func checkText(s string, max int) string {
	if len(s) > max {
		return "must be at most " + strconv.Itoa(max) + " bytes"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}
