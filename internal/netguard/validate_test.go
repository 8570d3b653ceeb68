package netguard

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/hookd/hookd"
)

// checkFieldError fails unless err is an EInvalid *hookd.Error naming field.
func checkFieldError(t *testing.T, err error, field string) *hookd.Error {
	t.Helper()
	var he *hookd.Error
	if !errors.As(err, &he) || he.Code != hookd.EInvalid || len(he.Fields) != 1 || he.Fields[0].Field != field {
		t.Fatalf("error = %#v, want an EInvalid *hookd.Error for field %q", err, field)
	}
	return he
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		raw      string
		insecure bool
		msg      string // "" = OK; else a part of the error message
	}{
		{"OK", "https://example.com/hooks", false, ""},
		{"OKPortQuery", "https://example.com:8443/h?a=1&b=2", false, ""},
		{"OKUserinfo", "https://user:s3cret@example.com/", false, ""},
		{"OKIPv4", "https://93.184.216.34/", false, ""},
		{"OKIPv6", "https://[2606:4700::1]:443/", false, ""},
		{"OKIDN", "https://bücher.example/", false, ""},
		{"OKTrailingDot", "https://example.com./", false, ""},
		{"OKUnderscore", "https://my_host.example/", false, ""},
		{"OKHTTPInsecure", "http://localhost:8080/x", true, ""},
		{"OKUpperScheme", "HTTPS://example.com/", false, ""},
		{"OKMaxLength", "https://example.com/" + strings.Repeat("a", MaxURLLength-len("https://example.com/")), false, ""},
		{"ErrEmpty", "", false, "is required"},
		{"ErrTooLong", "https://example.com/" + strings.Repeat("a", MaxURLLength), false, "at most 2048"},
		{"ErrHTTP", "http://example.com/", false, "must use https"},
		{"ErrFTP", "ftp://example.com/", true, "http or https"},
		{"ErrFTPSecure", "ftp://example.com/", false, "must use https"},
		{"ErrJavascript", "javascript:alert(1)", true, "http or https"},
		{"ErrRelative", "/hooks", false, "absolute"},
		{"ErrSchemeless", "example.com/hooks", false, "absolute"},
		{"ErrProtocolRelative", "//example.com/hooks", false, "absolute"},
		{"ErrOpaque", "https:example.com", false, "with a host"},
		{"ErrNoHost", "https:///path", false, "must have a host"},
		{"ErrOnlyPort", "https://:443/", false, "must have a host"},
		{"ErrUserinfoNoHost", "https://user:pw@/", false, "must have a host"},
		{"ErrFragment", "https://example.com/#frag", false, "fragment"},
		{"ErrEmptyFragment", "https://example.com/#", false, "fragment"},
		{"ErrSpace", "https://example.com/a b", false, "whitespace"},
		{"ErrLeadingSpace", " https://example.com/", false, "whitespace"},
		{"ErrCRLF", "https://example.com/\r\nX-Injected: 1", false, "whitespace"},
		{"ErrNUL", "https://example.com/\x00", false, "control"},
		{"ErrBadHost", "https://exa$mple.com/", false, "valid"},
		{"ErrEncodedHost", "https://exa%2Fmple.com/", false, "valid"},
		{"ErrLongLabel", "https://" + strings.Repeat("a", 64) + ".example/", false, "valid host"},
		{"ErrZone", "https://[fe80::1%25eth0]/", false, "valid host"},
		{"ErrPortZero", "https://example.com:0/", false, "port"},
		{"ErrPortHigh", "https://example.com:65536/", false, "port"},
		{"ErrPortEmpty", "https://example.com:/", false, "port"},
		{"ErrPortLetters", "https://example.com:https/", false, "valid"},
		{"ErrInvalidUTF8", "https://example.com/\xff", false, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateURL("url", tt.raw, tt.insecure)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("ValidateURL(%q) = %v", tt.raw, err)
				}
				return
			}
			he := checkFieldError(t, err, "url")
			if !strings.Contains(he.Message, tt.msg) {
				t.Fatalf("ValidateURL(%q) = %q, want it to mention %q", tt.raw, he.Message, tt.msg)
			}
		})
	}
}

func TestValidateURLNeverEchoesCredentials(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"http://user:hunter2secret@example.com/",
		"https://user:hunter2secret@example.com:99999/",
		"https://user:hunter2secret@exa$mple.com/",
		"https://user:hunter2secret@[::1/",
		"https://user:hunter2secret@example.com/#x",
	} {
		err := ValidateURL("url", raw, false)
		if err == nil {
			t.Fatalf("ValidateURL(%q) = nil", raw)
		}
		if strings.Contains(err.Error(), "hunter2secret") || strings.Contains(hookd.ErrorMessage(err), "hunter2secret") {
			t.Fatalf("error %q repeats the password", err)
		}
	}
}

func TestValidateHeaders(t *testing.T) {
	t.Parallel()
	many := map[string]string{}
	for i := range MaxHeaders + 1 {
		many[fmt.Sprintf("X-H%d", i)] = "v"
	}
	max := map[string]string{}
	for i := range MaxHeaders {
		max[fmt.Sprintf("X-H%d", i)] = "v"
	}
	tests := []struct {
		name string
		h    map[string]string
		msg  string // "" = OK
	}{
		{"OKNil", nil, ""},
		{"OKEmpty", map[string]string{}, ""},
		{"OK", map[string]string{"Authorization": "Bearer abc", "X-Team": "payments", "Content-Type": "application/json"}, ""},
		{"OKTokenChars", map[string]string{"X!#$%&'*+-.^_`|~9": "v"}, ""},
		{"OKTabAndUTF8", map[string]string{"X-Note": "a\tb ünïcode"}, ""},
		{"OKEmptyValue", map[string]string{"X-Empty": ""}, ""},
		{"OKMax", max, ""},
		{"OKMaxValue", map[string]string{"X-Big": strings.Repeat("v", MaxHeaderValueLength)}, ""},
		{"OKWebhookLookalike", map[string]string{"X-Webhook-Id": "1", "Webhooks": "1", "Proxy": "1"}, ""},
		{"ErrTooMany", many, "at most 20"},
		{"ErrEmptyName", map[string]string{"": "v"}, "empty"},
		{"ErrNameSpace", map[string]string{"X Foo": "v"}, "token"},
		{"ErrNameColon", map[string]string{"X-Foo:": "v"}, "token"},
		{"ErrNameCRLF", map[string]string{"X-Foo\r\nEvil": "v"}, "token"},
		{"ErrNameNUL", map[string]string{"X-Foo\x00": "v"}, "token"},
		{"ErrNameUTF8", map[string]string{"X-Fö": "v"}, "token"},
		{"ErrNameTooLong", map[string]string{strings.Repeat("x", MaxHeaderNameLength+1): "v"}, "at most"},
		{"ErrValueCR", map[string]string{"X-Foo": "a\rb"}, "control"},
		{"ErrValueLF", map[string]string{"X-Foo": "a\nEvil: 1"}, "control"},
		{"ErrValueCRLF", map[string]string{"X-Foo": "a\r\n\r\nGET / HTTP/1.1"}, "control"},
		{"ErrValueNUL", map[string]string{"X-Foo": "a\x00b"}, "control"},
		{"ErrValueDEL", map[string]string{"X-Foo": "a\x7fb"}, "control"},
		{"ErrValueBell", map[string]string{"X-Foo": "a\x07b"}, "control"},
		{"ErrValueTooLong", map[string]string{"X-Big": strings.Repeat("v", MaxHeaderValueLength+1)}, "at most 4096"},
	}
	for _, name := range []string{
		"Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "TE", "Trailer", "Keep-Alive",
		"Proxy-Authorization", "Proxy-Connection", "proxy-anything",
		"webhook-id", "Webhook-Timestamp", "WEBHOOK-SIGNATURE", "webhook-anything",
		"host", "CONTENT-LENGTH", "te", "keep-alive",
	} {
		tests = append(tests, struct {
			name string
			h    map[string]string
			msg  string
		}{"ErrReserved" + name, map[string]string{name: "v"}, "reserved"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateHeaders("headers", tt.h)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("ValidateHeaders(%q) = %v", tt.h, err)
				}
				return
			}
			he := checkFieldError(t, err, "headers")
			if !strings.Contains(he.Message, tt.msg) {
				t.Fatalf("ValidateHeaders(%q) = %q, want it to mention %q", tt.h, he.Message, tt.msg)
			}
		})
	}
}

func TestValidateHeadersNeverEchoesValues(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"Bearer topsecret\r\n", "topsecret" + strings.Repeat("x", MaxHeaderValueLength)} {
		err := ValidateHeaders("headers", map[string]string{"Authorization": v})
		if err == nil || strings.Contains(err.Error(), "topsecret") {
			t.Fatalf("error = %v, want one that does not repeat the value", err)
		}
	}
}

func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hooks", "http://u:p@127.0.0.1:8080/x?y=1", "https://[::1]:443/",
		"https://exa%2Fmple.com/", "javascript:alert(1)", "https://example.com/#f", "https://:0/",
		"https://[fe80::1%25eth0]/", "HTTPS://bücher.example./",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, insecure bool) {
		err := ValidateURL("url", raw, insecure)
		if err != nil {
			var he *hookd.Error
			if !errors.As(err, &he) || he.Code != hookd.EInvalid {
				t.Fatalf("ValidateURL(%q) = %v, not an EInvalid *hookd.Error", raw, err)
			}
			if len(raw) > 24 && strings.Contains(he.Message, raw) {
				t.Fatalf("ValidateURL(%q) error repeats the URL: %q", raw, he.Message)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("ValidateURL(%q) = nil but url.Parse fails: %v", raw, perr)
		}
		if len(raw) > MaxURLLength || u.Hostname() == "" || u.Fragment != "" || strings.ContainsAny(raw, "#\r\n\x00 ") {
			t.Fatalf("ValidateURL(%q) = nil for a bad URL", raw)
		}
		if u.Scheme != "https" && (!insecure || u.Scheme != "http") {
			t.Fatalf("ValidateURL(%q, %v) = nil with scheme %q", raw, insecure, u.Scheme)
		}
	})
}

func FuzzValidateHeaders(f *testing.F) {
	f.Add("X-Team", "payments", "Authorization", "Bearer x")
	f.Add("X-Foo", "a\r\nb", "Host", "evil")
	f.Add("webhook-id", "x", "Proxy-Foo", "y")
	f.Add("X Foo", "\x00", "", "")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		h := map[string]string{n1: v1, n2: v2}
		err := ValidateHeaders("headers", h)
		if err != nil {
			var he *hookd.Error
			if !errors.As(err, &he) || he.Code != hookd.EInvalid {
				t.Fatalf("ValidateHeaders = %v, not an EInvalid *hookd.Error", err)
			}
			return
		}
		for name, v := range h {
			lower := strings.ToLower(name)
			if !hookd.ValidHeaderName(name) || strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "proxy-") || reservedHeaders[lower] {
				t.Fatalf("accepted header name %q", name)
			}
			if strings.ContainsAny(v, "\r\n\x00") || len(v) > MaxHeaderValueLength {
				t.Fatalf("accepted header value %q", v)
			}
		}
	})
}
