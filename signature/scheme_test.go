package signature_test

import (
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/signature"
)

// TestSchemesMatchRoot keeps this package's scheme names (it imports only the
// standard library) equal to the root package's.
func TestSchemesMatchRoot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{signature.SchemeHMACSHA256, hookd.SchemeHMACSHA256},
		{signature.SchemeGitHub, hookd.SchemeGitHub},
		{signature.SchemeStripe, hookd.SchemeStripe},
		{signature.SchemeSlack, hookd.SchemeSlack},
		{signature.SchemeStandardWebhooks, hookd.SchemeStandardWebhooks},
	} {
		if tc.got != tc.want {
			t.Errorf("scheme %q, root package says %q", tc.got, tc.want)
		}
	}
}
