// Package trigger owns the inbound side of hookd (DESIGN §3): what a call to
// a trigger URL becomes. Its pure building blocks — input mapping, client IP
// resolution, the per-trigger per-IP token bucket and the flood guard — take
// their clock as a parameter and hold no global state.
package trigger

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookd/hookd"
)

// Limits of an input mapping.
const (
	MaxMappingKeys    = 100 // keys in one mapping
	MaxMappingKeyLen  = 100 // characters (runes) in one key
	MaxMappingPathLen = 500 // bytes in one path
)

// Source is what an inbound call offers to its job's input: the method, the
// raw body, the query parameters, the request headers and the client IP.
type Source struct {
	Method string
	Body   []byte
	Query  url.Values
	Header http.Header
	IP     string
}

// Path roots of a mapping value.
const (
	rootBody    = "body"
	rootQuery   = "query"
	rootHeaders = "headers"
	rootIP      = "ip"
)

// path is one parsed mapping value.
type path struct {
	root string
	// name is the query parameter or header name.
	name string
	// segs are the body path's segments after "body"; none means the whole body.
	segs []string
}

// parsePath parses a mapping value: "body", "body.<seg>[.<seg>…]",
// "query.<name>", "headers.<Name>" or "ip". It reports what is wrong as a
// plain message; callers wrap it with the field.
func parsePath(p string) (path, string) {
	if p == "" {
		return path{}, "path is empty"
	}
	if len(p) > MaxMappingPathLen {
		return path{}, "path is longer than " + strconv.Itoa(MaxMappingPathLen) + " bytes"
	}
	if !utf8.ValidString(p) {
		return path{}, "path is not valid UTF-8"
	}
	root, rest, dotted := strings.Cut(p, ".")
	switch root {
	case rootIP:
		if dotted {
			return path{}, `"ip" takes no sub-path`
		}
		return path{root: rootIP}, ""
	case rootBody:
		if !dotted {
			return path{root: rootBody}, ""
		}
		segs := strings.Split(rest, ".")
		for _, s := range segs {
			if s == "" {
				return path{}, "body path has an empty segment"
			}
		}
		return path{root: rootBody, segs: segs}, ""
	case rootQuery:
		if !dotted || rest == "" {
			return path{}, `"query" needs a parameter name, as in query.page`
		}
		return path{root: rootQuery, name: rest}, ""
	case rootHeaders:
		if !dotted || rest == "" {
			return path{}, `"headers" needs a header name, as in headers.X-GitHub-Event`
		}
		if !hookd.ValidHeaderName(rest) {
			return path{}, "header name " + strconv.Quote(rest) + " is not a valid HTTP header name"
		}
		return path{root: rootHeaders, name: rest}, ""
	default:
		return path{}, "path must start with body, query.<name>, headers.<Name> or ip"
	}
}

// ValidateMapping checks an input mapping: at most MaxMappingKeys keys, each
// key 1–MaxMappingKeyLen characters of valid UTF-8, each value a path that
// starts with "body" (alone: the whole body; then dot-separated segments,
// numeric ones indexing arrays, as in body.commits.0.id), "query.<name>",
// "headers.<Name>" or "ip". A nil or empty mapping is valid (no mapping).
// Errors are hookd.EInvalid naming the field "input_mapping" or
// "input_mapping.<key>".
func ValidateMapping(m map[string]string) error {
	if len(m) > MaxMappingKeys {
		return hookd.FieldErrorf("input_mapping", "has %d keys, at most %d are allowed", len(m), MaxMappingKeys)
	}
	// Report the first offending key in sorted order so the answer is stable.
	var bad string
	var msg string
	for k, v := range m {
		var kmsg string
		switch n := utf8.RuneCountInString(k); {
		case k == "":
			kmsg = "key is empty"
		case !utf8.ValidString(k):
			kmsg = "key is not valid UTF-8"
		case n > MaxMappingKeyLen:
			kmsg = "key is longer than " + strconv.Itoa(MaxMappingKeyLen) + " characters"
		default:
			_, kmsg = parsePath(v)
		}
		if kmsg != "" && (msg == "" || k < bad) {
			bad, msg = k, kmsg
		}
	}
	if msg == "" {
		return nil
	}
	if bad == "" || !utf8.ValidString(bad) || utf8.RuneCountInString(bad) > MaxMappingKeyLen {
		return hookd.FieldErrorf("input_mapping", "%s", msg)
	}
	return hookd.FieldErrorf("input_mapping."+bad, "%s", msg)
}

// errNotJSON is returned when the body must be JSON and is not.
func errNotJSON() error { return hookd.Errorf(hookd.EInvalid, "body is not JSON") }

// BuildInput returns the job input of an inbound call.
//
// Without a mapping (nil or empty m):
//   - GET and HEAD: the query parameters as a JSON object; a parameter given
//     once is a string, one given several times is an array of its strings in
//     order (?tag=a&tag=b → {"tag":["a","b"]}); no parameters → {}. The body is
//     ignored.
//   - any other method: the body as is (less surrounding whitespace) when it
//     is JSON, {} when it is empty or only whitespace.
//
// With a mapping: an object with one member per mapping key, the value found at
// its path, or null when the path leads nowhere. Body paths walk objects by
// key and arrays by decimal index; "body" alone is the whole body. An empty
// body is absent (its paths are null), so one mapping serves GET and POST.
// "query.x" is the first value of x, "headers.X" the first value of header X
// (case-insensitive), "ip" the client IP; all three are strings.
//
// Numbers are kept exactly as sent (big integers survive). The body must be
// UTF-8 JSON (RFC 8259) where it is needed; otherwise the error is
// hookd.EInvalid "body is not JSON". An invalid mapping gives the
// ValidateMapping error. The result is always valid JSON and never aliases
// src.Body.
func BuildInput(m map[string]string, src Source) (json.RawMessage, error) {
	return buildInput(m, src, false)
}

// buildInput is BuildInput, except that with shareBody the input of a
// trigger without a mapping may be src.Body's own bytes (trimmed): the
// handler's, which nothing changes once read. That spares a copy of every
// accepted call's body.
func buildInput(m map[string]string, src Source, shareBody bool) (json.RawMessage, error) {
	if len(m) == 0 {
		return defaultInput(src, shareBody)
	}
	if err := ValidateMapping(m); err != nil {
		return nil, err
	}

	var (
		body       any
		bodyParsed bool
		out        = make(map[string]any, len(m))
	)
	for k, v := range m {
		p, _ := parsePath(v) // validated above
		switch p.root {
		case rootIP:
			if src.IP != "" {
				out[k] = src.IP
			} else {
				out[k] = nil
			}
		case rootQuery:
			if vs := src.Query[p.name]; len(vs) > 0 {
				out[k] = vs[0]
			} else {
				out[k] = nil
			}
		case rootHeaders:
			if vs := headerValues(src.Header, p.name); len(vs) > 0 {
				out[k] = vs[0]
			} else {
				out[k] = nil
			}
		case rootBody:
			if !bodyParsed {
				var err error
				if body, err = decodeBody(src.Body); err != nil {
					return nil, err
				}
				bodyParsed = true
			}
			out[k] = walk(body, p.segs)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		// Unreachable: every value is a string, nil, or decoded JSON.
		return nil, err
	}
	return b, nil
}

// defaultInput is the input of a call to a trigger without a mapping (a
// copy of the body, or the body itself with shareBody).
func defaultInput(src Source, shareBody bool) (json.RawMessage, error) {
	if src.Method == http.MethodGet || src.Method == http.MethodHead {
		if len(src.Query) == 0 {
			return json.RawMessage(`{}`), nil
		}
		q := make(map[string]any, len(src.Query))
		for k, vs := range src.Query {
			switch len(vs) {
			case 0:
				// url.ParseQuery never yields this; a hand-built Values may.
				q[k] = ""
			case 1:
				q[k] = vs[0]
			default:
				q[k] = vs
			}
		}
		b, err := json.Marshal(q)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	trimmed := bytes.TrimSpace(src.Body)
	if len(trimmed) == 0 {
		return json.RawMessage(`{}`), nil
	}
	if !utf8.Valid(trimmed) || !json.Valid(trimmed) {
		return nil, errNotJSON()
	}
	if shareBody {
		return trimmed, nil
	}
	return bytes.Clone(trimmed), nil
}

// decodeBody decodes a JSON body with numbers kept as json.Number; an empty
// body decodes to nil.
func decodeBody(b []byte) (any, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	// json.Valid first: Decoder alone would accept trailing data.
	if !utf8.Valid(b) || !json.Valid(b) {
		return nil, errNotJSON()
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errNotJSON()
	}
	return v, nil
}

// walk follows segs into v; nil when a segment leads nowhere.
func walk(v any, segs []string) any {
	for _, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[s]; !ok {
				return nil
			}
		case []any:
			i, ok := arrayIndex(s)
			if !ok || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// arrayIndex parses a plain decimal index: digits only, no sign, no leading
// zero (so "01" is not 1).
func arrayIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// headerValues returns the values of header name, matched case-insensitively
// even when h was built by hand with non-canonical keys.
func headerValues(h http.Header, name string) []string {
	if vs, ok := h[http.CanonicalHeaderKey(name)]; ok {
		return vs
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			return vs
		}
	}
	return nil
}
