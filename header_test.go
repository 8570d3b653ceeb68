package hookd

import "testing"

func TestValidHeaderName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"X-GitHub-Delivery", true},
		{"webhook-id", true},
		{"x!#$%&'*+-.^_`|~9", true},
		{"", false},
		{"X Header", false},
		{"X:Y", false},
		{"X\"", false},
		{"X(1)", false},
		{"X/Y", false},
		{"Ünïcode", false},
		{"X\x7f", false},
		{"X\t", false},
	} {
		if got := ValidHeaderName(tc.name); got != tc.want {
			t.Errorf("ValidHeaderName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
