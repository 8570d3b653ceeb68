package api

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestBodies: the limits and strictness every JSON body goes through.
func TestBodies(t *testing.T) { onBackends(t, testBodies) }

func testBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := `{"type":"a","data":{"x":"` + strings.Repeat("x", 2000) + `"}}`
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		field  string
	}{
		{"TooLarge", "/v1/events", big, 413, ""},
		{"InvalidUTF8", "/v1/events", "{\"type\":\"a\",\"data\":{\"x\":\"\xff\xfe\"}}", 400, ""},
		{"InvalidUTF8InKey", "/v1/webhooks", "{\"url\":\"https://e.com\",\"owner_id\":\"\xc3\x28\"}", 400, ""},
		{"NotJSON", "/v1/events", "type=a", 400, ""},
		{"Truncated", "/v1/events", `{"type":"a"`, 400, ""},
		{"TrailingGarbage", "/v1/events", `{"type":"a"} x`, 400, ""},
		{"TwoValues", "/v1/events", `{"type":"a"}{"type":"b"}`, 400, ""},
		{"Empty", "/v1/events", ``, 400, ""},
		{"Array", "/v1/events", `[]`, 400, ""},
		{"UnknownField", "/v1/events", `{"type":"a","colour":"red"}`, 400, "colour"},
		{"UnknownFieldWebhook", "/v1/webhooks", `{"url":"https://e.com","secret":"whsec_x"}`, 400, "secret"},
		{"WrongType", "/v1/events", `{"type":7}`, 400, "type"},
		{"WrongTypeNested", "/v1/webhooks", `{"url":"https://e.com","headers":{"a":1}}`, 400, "headers"},
		{"OKWithTrailingSpace", "/v1/events", "{\"type\":\"a\"}\n \n", 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := e.do("POST", tt.path, e.writer, tt.body)
			if tt.status < 300 {
				r.want(t, tt.status)
				return
			}
			if tt.field != "" {
				r.wantProblem(t, tt.status, tt.field)
			} else {
				r.wantProblem(t, tt.status)
			}
		})
	}
}

// chunkedReader hides its length so the client sends the body chunked.
type chunkedReader struct{ r io.Reader }

func (c chunkedReader) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestBodyTooLarge: 413 whether the length is declared or the body comes
// chunked with no Content-Length.
func TestBodyTooLarge(t *testing.T) { onBackends(t, testBodyTooLarge) }

func testBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	body := []byte(`{"type":"a","data":{"x":"` + strings.Repeat("x", 8000) + `"}}`)
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			t.Parallel()
			var rd io.Reader = bytes.NewReader(body)
			if chunked {
				rd = chunkedReader{rd}
			}
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/events", rd)
			req.Header.Set("Authorization", "Bearer "+e.writer)
			if chunked {
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			response{Response: resp, body: b}.wantProblem(t, http.StatusRequestEntityTooLarge)
		})
	}
	// Just under the limit is fine.
	ok := `{"type":"a","data":{"x":"` + strings.Repeat("x", 4000) + `"}}`
	e.do("POST", "/v1/events", e.writer, ok).want(t, 202)
}

// TestPagination: limit and offset bounds, totals and newest-first order.
func TestPagination(t *testing.T) { onBackends(t, testPagination) }

func testPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []string // oldest first
	for i := 0; i < 5; i++ {
		ids = append(ids, e.webhook(e.writer, nil)["id"].(string))
	}
	bad := []string{"limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5", "offset=-1", "offset=x"}
	for _, q := range bad {
		t.Run("Invalid/"+q, func(t *testing.T) {
			t.Parallel()
			field, _, _ := strings.Cut(q, "=")
			for _, path := range []string{"/v1/webhooks", "/v1/api-keys", "/v1/workspaces"} {
				e.do("GET", path+"?"+q, e.operator, nil).wantProblem(t, 400, field)
			}
		})
	}
	tests := []struct {
		query         string
		limit, offset int
		want          []string
	}{
		{"", 20, 0, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"limit=2", 2, 0, []string{ids[4], ids[3]}},
		{"limit=2&offset=2", 2, 2, []string{ids[2], ids[1]}},
		{"limit=100&offset=4", 100, 4, []string{ids[0]}},
		{"limit=1&offset=5", 1, 5, []string{}},
	}
	for _, tt := range tests {
		t.Run("Page/"+tt.query, func(t *testing.T) {
			t.Parallel()
			r := e.do("GET", "/v1/webhooks?"+tt.query, e.read, nil).want(t, 200)
			if !strings.Contains(string(r.body), `"data":[`) {
				t.Errorf("data is not an array: %s", r.body)
			}
			var l listResponse[struct {
				ID string `json:"id"`
			}]
			r.json(t, &l)
			got := []string{}
			for _, w := range l.Data {
				got = append(got, w.ID)
			}
			if l.Total != 5 || l.Limit != tt.limit || l.Offset != tt.offset || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got total %d limit %d offset %d %v, want 5 %d %d %v", l.Total, l.Limit, l.Offset, got, tt.limit, tt.offset, tt.want)
			}
		})
	}
}

func TestDecodeStrictTypes(t *testing.T) {
	t.Parallel()
	var req webhookCreateRequest
	err := decodeStrict([]byte(`{"url":"https://e.com","filters":{"n":12345678901234567890}}`), &req)
	if err != nil {
		t.Fatal(err)
	}
	// Big numbers in filters keep their digits.
	if got := req.Filters["n"]; got == nil || got.(interface{ String() string }).String() != "12345678901234567890" {
		t.Errorf("filter n = %v", got)
	}
}
