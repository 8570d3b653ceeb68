// Package plainjson writes the JSON strings that need no escaping without
// encoding/json, byte for byte as json.Marshal writes them. The hot paths
// that answer a trigger call or encode its run's outcome use it for ids,
// names and statuses, and fall back to json.Marshal for anything else.
package plainjson

// Is reports whether json.Marshal writes s quoted as it is: printable ASCII
// without a character it escapes (" \ < > &).
func Is(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// Append appends s quoted, as json.Marshal writes it, when Is(s); ok is
// false, and b unchanged, otherwise.
func Append(b []byte, s string) (_ []byte, ok bool) {
	if !Is(s) {
		return b, false
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}
