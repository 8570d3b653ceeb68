// Package signature signs and verifies webhook requests in both directions of
// hookd: outbound deliveries are signed with the Standard Webhooks scheme
// (DESIGN §5), and inbound trigger calls are verified against the presets of
// DESIGN §3 (hmac-sha256, github, stripe, slack, standard-webhooks).
//
// Every verifier works on the raw body bytes, decodes the received signature
// before comparing it in constant time with crypto/hmac.Equal, refuses
// signatures of the wrong length, and never puts a secret, the expected
// signature or the received one into an error. Errors are the sentinels below,
// possibly wrapped with context; test them with errors.Is.
//
// The package uses only the standard library.
package signature

import (
	"errors"
	"time"
)

// Errors returned by this package. Callers test them with errors.Is; the
// returned errors may wrap them with the header or scheme concerned.
var (
	// ErrInvalidSecret: a secret that cannot be used as a key (empty, not
	// base64, or shorter than MinSecretBytes once decoded).
	ErrInvalidSecret = errors.New("signature: invalid secret")
	// ErrNoSecret: no secret to verify with (an empty list, or only empty
	// strings). Verification is refused, never passed.
	ErrNoSecret = errors.New("signature: no secret")
	// ErrMissing: a required signature or timestamp header is absent or empty.
	ErrMissing = errors.New("signature: header missing")
	// ErrMalformed: a signature header is present but cannot be parsed, or
	// carries no signature of a known version and length.
	ErrMalformed = errors.New("signature: header malformed")
	// ErrStale: the signed timestamp is more than Tolerance away from now.
	ErrStale = errors.New("signature: timestamp outside tolerance")
	// ErrMismatch: the header is well formed but no signature matches any secret.
	ErrMismatch = errors.New("signature: no matching signature")
	// ErrUnknownScheme: VerifyInbound or SignInbound got a scheme it does not know.
	ErrUnknownScheme = errors.New("signature: unknown scheme")
)

// Tolerance is how far a signed timestamp may be from the verifier's clock,
// in either direction, for the timestamped schemes (stripe, slack,
// standard-webhooks). A timestamp exactly Tolerance away still passes.
const Tolerance = 300 * time.Second

// fresh reports whether unix time ts is within Tolerance of now. It cannot
// overflow for any ts.
func fresh(ts int64, now time.Time) bool {
	n := now.Unix()
	tol := int64(Tolerance / time.Second)
	return ts >= n-tol && ts <= n+tol
}

// parseUnix parses a unix timestamp in seconds: 1 to 18 ASCII digits, no sign,
// no spaces. Being strict here means the string that was signed is exactly
// the number that was checked for freshness.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
