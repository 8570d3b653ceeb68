package hookd

import "strings"

// ValidHeaderName reports whether s can name an HTTP header: a non-empty
// RFC 9110 token (§5.6.2). Webhook and job headers, a trigger's dedup header
// and input-mapping paths into headers all take names by this rule.
func ValidHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}
