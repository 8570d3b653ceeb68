package trigger

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookd/hookd"
)

func TestValidateMapping(t *testing.T) {
	t.Parallel()
	many := make(map[string]string, MaxMappingKeys+1)
	for i := range MaxMappingKeys + 1 {
		many["k"+strconv.Itoa(i)] = "body"
	}
	hundred := make(map[string]string, MaxMappingKeys)
	for k, v := range many {
		if len(hundred) < MaxMappingKeys {
			hundred[k] = v
		}
	}
	tests := []struct {
		name  string
		m     map[string]string
		field string // "" = valid
	}{
		{"OK/Nil", nil, ""},
		{"OK/Empty", map[string]string{}, ""},
		{"OK/AllRoots", map[string]string{
			"whole":  "body",
			"msg":    "body.message",
			"pr":     "body.pull_request.number",
			"commit": "body.commits.0.id",
			"page":   "query.page",
			"dotted": "query.a.b",
			"event":  "headers.X-GitHub-Event",
			"lower":  "headers.x-github-event",
			"ip":     "ip",
		}, ""},
		{"OK/HundredKeys", hundred, ""},
		{"OK/KeyHundredRunes", map[string]string{strings.Repeat("é", 100): "ip"}, ""},
		{"ErrTooManyKeys", many, "input_mapping"},
		{"ErrEmptyKey", map[string]string{"": "body"}, "input_mapping"},
		{"ErrLongKey", map[string]string{strings.Repeat("k", 101): "body"}, "input_mapping"},
		{"ErrBadUTF8Key", map[string]string{"\xff": "body"}, "input_mapping"},
		{"ErrEmptyPath", map[string]string{"a": ""}, "input_mapping.a"},
		{"ErrUnknownRoot", map[string]string{"a": "bodyx"}, "input_mapping.a"},
		{"ErrUnknownRoot2", map[string]string{"a": "env.HOME"}, "input_mapping.a"},
		{"ErrBodyTrailingDot", map[string]string{"a": "body."}, "input_mapping.a"},
		{"ErrBodyEmptySegment", map[string]string{"a": "body.a..b"}, "input_mapping.a"},
		{"ErrQueryNoName", map[string]string{"a": "query"}, "input_mapping.a"},
		{"ErrQueryEmptyName", map[string]string{"a": "query."}, "input_mapping.a"},
		{"ErrHeadersNoName", map[string]string{"a": "headers"}, "input_mapping.a"},
		{"ErrHeaderBadName", map[string]string{"a": "headers.X Event"}, "input_mapping.a"},
		{"ErrIPSubpath", map[string]string{"a": "ip.v4"}, "input_mapping.a"},
		{"ErrCaseRoot", map[string]string{"a": "Body.x"}, "input_mapping.a"},
		{"ErrLongPath", map[string]string{"a": "body." + strings.Repeat("x", MaxMappingPathLen)}, "input_mapping.a"},
		{"ErrFirstSortedKey", map[string]string{"b": "nope", "a": "nope", "c": "ip"}, "input_mapping.a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateMapping(tt.m)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidateMapping: %v", err)
				}
				return
			}
			e := asError(t, err)
			if e.Code != hookd.EInvalid || len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
				t.Fatalf("ValidateMapping = %+v, want EInvalid on field %q", e, tt.field)
			}
		})
	}
}

func asError(t *testing.T, err error) *hookd.Error {
	t.Helper()
	e, ok := err.(*hookd.Error)
	if !ok {
		t.Fatalf("err = %T %v, want *hookd.Error", err, err)
	}
	return e
}

func TestBuildInput(t *testing.T) {
	t.Parallel()
	hdr := http.Header{
		"X-Github-Event": {"push", "second"},
		"Content-Type":   {"application/json"},
	}
	const big = `{"id":123456789012345678901234567890,"f":1.50,"pull_request":{"number":42},` +
		`"commits":[{"id":"a1"},{"id":"b2"}],"obj":{"0":"zero"},"nil":null,"s":"x"}`
	tests := []struct {
		name string
		m    map[string]string
		src  Source
		want string // exact JSON; "" with err
		err  string // hookd code
	}{
		// No mapping.
		{name: "OK/PostBodyAsIs", src: Source{Method: "POST", Body: []byte(" {\"a\": 1e400, \"b\":[1, 2]}\n")},
			want: `{"a": 1e400, "b":[1, 2]}`},
		{name: "OK/PostScalar", src: Source{Method: "POST", Body: []byte(`"hi"`)}, want: `"hi"`},
		{name: "OK/PostEmpty", src: Source{Method: "POST"}, want: `{}`},
		{name: "OK/PostWhitespace", src: Source{Method: "PUT", Body: []byte(" \r\n\t")}, want: `{}`},
		{name: "OK/PostIgnoresQuery", src: Source{Method: "POST", Query: url.Values{"a": {"1"}}}, want: `{}`},
		{name: "ErrPostNotJSON", src: Source{Method: "POST", Body: []byte(`a=1&b=2`)}, err: hookd.EInvalid},
		{name: "ErrPostTrailing", src: Source{Method: "POST", Body: []byte(`{} {}`)}, err: hookd.EInvalid},
		{name: "ErrPostBadUTF8", src: Source{Method: "POST", Body: []byte("\"\xff\"")}, err: hookd.EInvalid},
		{name: "OK/GetQuery", src: Source{Method: "GET", Query: url.Values{"a": {"1"}, "tag": {"x", "y"}, "e": {""}}},
			want: `{"a":"1","e":"","tag":["x","y"]}`},
		{name: "OK/GetNoQuery", src: Source{Method: "GET", Body: []byte("not json")}, want: `{}`},
		{name: "OK/HeadQuery", src: Source{Method: "HEAD", Query: url.Values{"a": {"1"}}}, want: `{"a":"1"}`},
		{name: "OK/GetEmptyValues", src: Source{Method: "GET", Query: url.Values{"a": {}}}, want: `{"a":""}`},

		// Mapping.
		{name: "OK/MapAll", m: map[string]string{
			"id": "body.id", "f": "body.f", "pr": "body.pull_request.number",
			"c1": "body.commits.1.id", "obj0": "body.obj.0", "nil": "body.nil",
			"event": "headers.x-github-event", "page": "query.page", "ip": "ip",
		}, src: Source{Method: "POST", Body: []byte(big), Header: hdr, Query: url.Values{"page": {"2", "3"}}, IP: "203.0.113.9"},
			want: `{"c1":"b2","event":"push","f":1.50,"id":123456789012345678901234567890,"ip":"203.0.113.9",` +
				`"nil":null,"obj0":"zero","page":"2","pr":42}`},
		{name: "OK/MapWholeBody", m: map[string]string{"all": "body"}, src: Source{Method: "POST", Body: []byte(`[1, {"a":2}]`)},
			want: `{"all":[1,{"a":2}]}`},
		{name: "OK/MapAbsent", m: map[string]string{
			"a": "body.missing", "b": "body.commits.9.id", "c": "body.commits.x", "d": "body.s.deeper",
			"e": "body.commits.01", "f": "body.commits.-1", "g": "headers.X-None", "h": "query.none", "i": "ip",
			"j": "body.commits.99999999999999999999",
		}, src: Source{Method: "POST", Body: []byte(big)},
			want: `{"a":null,"b":null,"c":null,"d":null,"e":null,"f":null,"g":null,"h":null,"i":null,"j":null}`},
		{name: "OK/MapEmptyBodyIsAbsent", m: map[string]string{"x": "body.x", "q": "query.q", "all": "body"},
			src: Source{Method: "GET", Query: url.Values{"q": {"1"}}}, want: `{"all":null,"q":"1","x":null}`},
		{name: "OK/MapNoBodyPathIgnoresBody", m: map[string]string{"ip": "ip"},
			src: Source{Method: "POST", Body: []byte("not json"), IP: "::1"}, want: `{"ip":"::1"}`},
		{name: "OK/MapHeaderNonCanonicalKey", m: map[string]string{"e": "headers.X-Event"},
			src: Source{Method: "POST", Header: http.Header{"x-event": {"hand-built"}}}, want: `{"e":"hand-built"}`},
		{name: "OK/MapHeaderEmptyValue", m: map[string]string{"e": "headers.X-Event"},
			src: Source{Method: "POST", Header: http.Header{"X-Event": {""}}}, want: `{"e":""}`},
		{name: "OK/MapInvalidUTF8Header", m: map[string]string{"e": "headers.X-Event"},
			src: Source{Method: "POST", Header: http.Header{"X-Event": {"\xff"}}}, want: `{"e":"\ufffd"}`},
		{name: "ErrMapNotJSON", m: map[string]string{"x": "body.x"}, src: Source{Method: "POST", Body: []byte("x=1")}, err: hookd.EInvalid},
		{name: "ErrMapInvalid", m: map[string]string{"x": "env"}, src: Source{Method: "POST"}, err: hookd.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := BuildInput(tt.m, tt.src)
			if tt.err != "" {
				if code := hookd.ErrorCode(err); code != tt.err {
					t.Fatalf("BuildInput err = %v (code %q), want code %q", err, code, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("BuildInput: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("BuildInput (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("BuildInput returned invalid JSON %q", got)
			}
		})
	}
}

func TestBuildInputNotJSONMessage(t *testing.T) {
	t.Parallel()
	_, err := BuildInput(map[string]string{"x": "body.x"}, Source{Method: "POST", Body: []byte("<xml/>")})
	if e := asError(t, err); e.Message != "body is not JSON" {
		t.Fatalf("message = %q, want %q", e.Message, "body is not JSON")
	}
}

func TestBuildInputDoesNotAlias(t *testing.T) {
	t.Parallel()
	body := []byte(`{"a":1}`)
	got, err := BuildInput(nil, Source{Method: "POST", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	body[1] = 'X'
	if string(got) != `{"a":1}` {
		t.Fatalf("input changed with the body: %s", got)
	}
}

// TestBuildInputSharesBody: the handler's variant keeps the body's bytes
// (trimmed) as the input instead of copying them, and only without a
// mapping.
func TestBuildInputSharesBody(t *testing.T) {
	t.Parallel()
	body := []byte(" {\"a\":1}\n")
	got, err := buildInput(nil, Source{Method: "POST", Body: body}, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"a":1}` || &got[0] != &body[1] {
		t.Fatalf("input %q is not the body's bytes", got)
	}
	mapped, err := buildInput(map[string]string{"a": "body.a"}, Source{Method: "POST", Body: body}, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(mapped) != `{"a":1}` {
		t.Fatalf("mapped input %s", mapped)
	}
}

func FuzzValidateMapping(f *testing.F) {
	for _, s := range []string{"body", "body.a.0.b", "query.x", "headers.X-Y", "ip", "", "body.", "headers.a b", "ip.x", "\xff"} {
		f.Add("k", s)
	}
	f.Fuzz(func(t *testing.T, key, p string) {
		err := ValidateMapping(map[string]string{key: p})
		if err == nil {
			if _, msg := parsePath(p); msg != "" {
				t.Fatalf("valid mapping with bad path %q: %s", p, msg)
			}
			return
		}
		if hookd.ErrorCode(err) != hookd.EInvalid {
			t.Fatalf("err = %v, want EInvalid", err)
		}
	})
}

func FuzzBuildInput(f *testing.F) {
	f.Add("POST", []byte(`{"a":{"b":[1,2,{"c":3}]}}`), "a=1&a=2", "X-Y", "v", "body.a.b.2.c", "query.a", "headers.x-y")
	f.Add("GET", []byte(``), "a=1&a=2&b", "X-Y", "v", "body", "ip", "query.b")
	f.Add("POST", []byte(`[1e999, -0, "\u0000"]`), "", "", "", "body.0", "body.2", "")
	f.Add("POST", []byte("nope"), "%zz", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, method string, body []byte, rawQuery, hname, hval, p1, p2, p3 string) {
		q, _ := url.ParseQuery(rawQuery)
		src := Source{Method: method, Body: body, Query: q, Header: http.Header{hname: {hval}}, IP: hval}
		for _, m := range []map[string]string{nil, {"a": p1, "b": p2, "c": p3}} {
			got, err := BuildInput(m, src)
			if err != nil {
				if hookd.ErrorCode(err) != hookd.EInvalid {
					t.Fatalf("err = %v, want EInvalid", err)
				}
				continue
			}
			if !json.Valid(got) {
				t.Fatalf("BuildInput(%v) = %q: not valid JSON", m, got)
			}
		}
	})
}
