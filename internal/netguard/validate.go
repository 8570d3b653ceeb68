package netguard

import (
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hookd/hookd"
)

// Limits of ValidateURL and ValidateHeaders.
const (
	MaxURLLength         = 2048 // bytes
	MaxHeaders           = 20
	MaxHeaderNameLength  = 256  // bytes
	MaxHeaderValueLength = 4096 // bytes
)

// ValidateURL checks a user-supplied outbound URL (a webhook's or an http
// job's): at most MaxURLLength bytes, absolute, scheme https (or http when
// allowInsecure), a host name or IP literal (no IPv6 zone), a port, if any, in
// 1–65535, no fragment and no whitespace. Userinfo (basic auth) is accepted.
// Whether the host may be reached is decided at connect time by a Guard.
//
// The error is a *hookd.Error (EInvalid) naming field; its message never
// repeats the URL, which may carry credentials.
func ValidateURL(field, raw string, allowInsecure bool) error {
	switch {
	case raw == "":
		return hookd.FieldErrorf(field, "is required")
	case len(raw) > MaxURLLength:
		return hookd.FieldErrorf(field, "must be at most %d characters", MaxURLLength)
	case strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return hookd.FieldErrorf(field, "must not contain whitespace or control characters")
	case strings.ContainsRune(raw, '#'):
		return hookd.FieldErrorf(field, "must not have a fragment")
	case !utf8.ValidString(raw):
		return hookd.FieldErrorf(field, "must be valid UTF-8")
	}
	u, err := url.Parse(raw)
	if err != nil { // err repeats the URL: do not show it
		return hookd.FieldErrorf(field, "must be a valid absolute URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowInsecure {
			return hookd.FieldErrorf(field, "must use https")
		}
	case "":
		return hookd.FieldErrorf(field, "must be an absolute URL")
	default:
		if allowInsecure {
			return hookd.FieldErrorf(field, "must use http or https")
		}
		return hookd.FieldErrorf(field, "must use https")
	}
	if u.Opaque != "" {
		return hookd.FieldErrorf(field, "must be an absolute URL with a host")
	}
	host := u.Hostname()
	if host == "" {
		return hookd.FieldErrorf(field, "must have a host")
	}
	if !validHost(host) {
		return hookd.FieldErrorf(field, "must have a valid host name or IP address")
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return hookd.FieldErrorf(field, "must have a port between 1 and 65535")
		}
	}
	return nil
}

// validHost reports whether host (without port or brackets) is an IP literal
// without zone, or a DNS name of at most 253 bytes whose labels are 1–63 bytes
// of letters (any script, for IDNs), digits, '-' and '_'. A trailing dot is
// accepted.
func validHost(host string) bool {
	if strings.Contains(host, ":") { // IPv6 literal (url.Parse kept the brackets' content)
		ip, err := netip.ParseAddr(host)
		return err == nil && ip.Is6() && ip.Zone() == ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
				return false
			}
		}
	}
	return true
}

// reservedHeaders are names hookd sets itself or that belong to the
// connection, not to the message; every "proxy-*" and "webhook-*" name is
// reserved too.
var reservedHeaders = map[string]bool{
	"host":              true,
	"content-length":    true,
	"transfer-encoding": true,
	"connection":        true,
	"upgrade":           true,
	"te":                true,
	"trailer":           true,
	"keep-alive":        true,
}

// ValidateHeaders checks the custom headers a user attaches to outbound
// requests: at most MaxHeaders; names valid HTTP tokens of at most
// MaxHeaderNameLength bytes and not reserved (Host, Content-Length,
// Transfer-Encoding, Connection, Upgrade, TE, Trailer, Keep-Alive, Proxy-*,
// Webhook-*; case-insensitive); values at most MaxHeaderValueLength bytes with
// no control character but tab (so no CR, LF or NUL). Headers are checked in
// name order, so the error is deterministic.
//
// The error is a *hookd.Error (EInvalid) naming field; it may quote a header
// name but never a value, which may be a credential.
func ValidateHeaders(field string, h map[string]string) error {
	if len(h) > MaxHeaders {
		return hookd.FieldErrorf(field, "must have at most %d headers", MaxHeaders)
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" {
			return hookd.FieldErrorf(field, "header name must not be empty")
		}
		if len(name) > MaxHeaderNameLength {
			return hookd.FieldErrorf(field, "header name must be at most %d characters", MaxHeaderNameLength)
		}
		if !hookd.ValidHeaderName(name) {
			return hookd.FieldErrorf(field, "header name %q is not a valid HTTP token", name)
		}
		lower := strings.ToLower(name)
		if reservedHeaders[lower] || strings.HasPrefix(lower, "proxy-") || strings.HasPrefix(lower, "webhook-") {
			return hookd.FieldErrorf(field, "header %q is reserved", name)
		}
		v := h[name]
		if len(v) > MaxHeaderValueLength {
			return hookd.FieldErrorf(field, "header %q value must be at most %d bytes", name, MaxHeaderValueLength)
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				return hookd.FieldErrorf(field, "header %q value must not contain control characters", name)
			}
		}
	}
	return nil
}
