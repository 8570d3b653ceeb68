package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Inbound signature schemes. The values are those of the root package's
// hookd.Scheme* constants (this package imports only the standard library).
const (
	SchemeHMACSHA256       = "hmac-sha256"
	SchemeGitHub           = "github"
	SchemeStripe           = "stripe"
	SchemeSlack            = "slack"
	SchemeStandardWebhooks = "standard-webhooks"
)

// Inbound signature headers, as providers send them.
const (
	HeaderHMAC           = "X-Webhook-Signature"
	HeaderGitHub         = "X-Hub-Signature-256"
	HeaderStripe         = "Stripe-Signature"
	HeaderSlack          = "X-Slack-Signature"
	HeaderSlackTimestamp = "X-Slack-Request-Timestamp"
)

// VerifyInbound checks the signature of an inbound trigger call made with
// scheme ("" means hmac-sha256) against the raw body, with the clock at now.
// It succeeds when any of secrets verifies (rotation grace); empty strings in
// secrets are ignored, never used as a key.
//
//   - hmac-sha256: X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, body)>
//   - github: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>
//   - stripe: Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>,…
//     any v1 may match; v0 and unknown keys are ignored
//   - slack: X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + ts + ":" + body)>
//     with ts from X-Slack-Request-Timestamp
//   - standard-webhooks: as Verify, the key being the base64 payload of whsec_…
//
// For every scheme but standard-webhooks the HMAC key is the secret's bytes as
// given. The timestamped schemes refuse timestamps more than Tolerance away.
//
// Errors: ErrUnknownScheme, ErrNoSecret (no non-empty secret), ErrMissing,
// ErrMalformed, ErrStale, ErrMismatch, and for standard-webhooks
// ErrInvalidSecret when no secret can be decoded.
func VerifyInbound(scheme string, secrets []string, h http.Header, body []byte, now time.Time) error {
	if !knownScheme(scheme) {
		return ErrUnknownScheme
	}
	keys := nonEmpty(secrets)
	if len(keys) == 0 {
		return ErrNoSecret
	}
	switch scheme {
	case SchemeHMACSHA256, "":
		return verifyBodyHMAC(HeaderHMAC, keys, h, body)
	case SchemeGitHub:
		return verifyBodyHMAC(HeaderGitHub, keys, h, body)
	case SchemeStripe:
		return verifyStripe(keys, h, body, now)
	case SchemeSlack:
		return verifySlack(keys, h, body, now)
	default: // SchemeStandardWebhooks
		vks := make([]verifyKey, 0, len(keys))
		var firstErr error
		for _, s := range keys {
			k, err := parseVerifyKey(s)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			vks = append(vks, k)
		}
		if len(vks) == 0 {
			return firstErr
		}
		return verifyStandard(vks, h, body, now)
	}
}

func knownScheme(s string) bool {
	switch s {
	case "", SchemeHMACSHA256, SchemeGitHub, SchemeStripe, SchemeSlack, SchemeStandardWebhooks:
		return true
	}
	return false
}

func nonEmpty(secrets []string) []string {
	out := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// decodeHexSig decodes the hex after prefix in v into a SHA-256-sized
// signature; anything else (wrong prefix, bad hex, wrong length — a truncated
// signature included) is reported as not ok.
func decodeHexSig(v, prefix string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(v, prefix)
	if !ok || len(rest) != 2*sha256.Size {
		return nil, false
	}
	sig, err := hex.DecodeString(rest)
	if err != nil {
		return nil, false
	}
	return sig, true
}

// mac returns HMAC-SHA256(key, parts...).
func mac(key string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, []byte(key))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// verifyBodyHMAC checks "sha256=<hex HMAC(secret, body)>" in header.
func verifyBodyHMAC(header string, secrets []string, h http.Header, body []byte) error {
	v := h.Get(header)
	if v == "" {
		return fmt.Errorf("%w: %s", ErrMissing, header)
	}
	sig, ok := decodeHexSig(strings.TrimSpace(v), "sha256=")
	if !ok {
		return fmt.Errorf("%w: %s", ErrMalformed, header)
	}
	for _, s := range secrets {
		if hmac.Equal(sig, mac(s, body)) {
			return nil
		}
	}
	return ErrMismatch
}

// stripeHeader is a parsed Stripe-Signature value.
type stripeHeader struct {
	t   int64  // unix seconds
	raw string // t exactly as sent, which is what was signed
	v1  [][]byte
}

// parseStripeHeader parses "t=<unix>,v1=<hex>[,v1=<hex>][,v0=<hex>]…".
// Exactly one t is required; v1 values that are not 64 hex characters are
// skipped, other keys (v0, future schemes) ignored; at least one v1 must
// remain. Elements may be surrounded by spaces.
func parseStripeHeader(v string) (stripeHeader, error) {
	var sh stripeHeader
	seenT := false
	for item := range strings.SplitSeq(v, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch key {
		case "t":
			if seenT {
				return stripeHeader{}, fmt.Errorf("%w: %s has more than one t", ErrMalformed, HeaderStripe)
			}
			seenT = true
			t, ok := parseUnix(val)
			if !ok {
				return stripeHeader{}, fmt.Errorf("%w: %s t is not a unix timestamp", ErrMalformed, HeaderStripe)
			}
			sh.t, sh.raw = t, val
		case "v1":
			if sig, ok := decodeHexSig(val, ""); ok {
				sh.v1 = append(sh.v1, sig)
			}
		}
	}
	if !seenT {
		return stripeHeader{}, fmt.Errorf("%w: %s has no t", ErrMalformed, HeaderStripe)
	}
	if len(sh.v1) == 0 {
		return stripeHeader{}, fmt.Errorf("%w: %s has no well-formed v1", ErrMalformed, HeaderStripe)
	}
	return sh, nil
}

func verifyStripe(secrets []string, h http.Header, body []byte, now time.Time) error {
	v := h.Get(HeaderStripe)
	if v == "" {
		return fmt.Errorf("%w: %s", ErrMissing, HeaderStripe)
	}
	sh, err := parseStripeHeader(v)
	if err != nil {
		return err
	}
	if !fresh(sh.t, now) {
		return ErrStale
	}
	for _, s := range secrets {
		expected := mac(s, []byte(sh.raw), []byte{'.'}, body)
		for _, sig := range sh.v1 {
			if hmac.Equal(sig, expected) {
				return nil
			}
		}
	}
	return ErrMismatch
}

func verifySlack(secrets []string, h http.Header, body []byte, now time.Time) error {
	v, ts := h.Get(HeaderSlack), h.Get(HeaderSlackTimestamp)
	switch {
	case v == "":
		return fmt.Errorf("%w: %s", ErrMissing, HeaderSlack)
	case ts == "":
		return fmt.Errorf("%w: %s", ErrMissing, HeaderSlackTimestamp)
	}
	t, ok := parseUnix(ts)
	if !ok {
		return fmt.Errorf("%w: %s is not a unix timestamp", ErrMalformed, HeaderSlackTimestamp)
	}
	sig, ok := decodeHexSig(strings.TrimSpace(v), "v0=")
	if !ok {
		return fmt.Errorf("%w: %s", ErrMalformed, HeaderSlack)
	}
	if !fresh(t, now) {
		return ErrStale
	}
	for _, s := range secrets {
		if hmac.Equal(sig, mac(s, []byte("v0:"+ts+":"), body)) {
			return nil
		}
	}
	return ErrMismatch
}

// SignInbound returns the headers a provider using scheme ("" means
// hmac-sha256) would send for body, signed with secret at now. For
// standard-webhooks it also sets a random webhook-id ("msg_…"). It is what
// tests and the CLI use to call a trigger that has a secret.
//
// Errors: ErrUnknownScheme, ErrNoSecret for an empty secret, and for
// standard-webhooks an error wrapping ErrInvalidSecret.
func SignInbound(scheme, secret string, body []byte, now time.Time) (http.Header, error) {
	if !knownScheme(scheme) {
		return nil, ErrUnknownScheme
	}
	if secret == "" {
		return nil, ErrNoSecret
	}
	h := make(http.Header)
	ts := strconv.FormatInt(now.Unix(), 10)
	switch scheme {
	case SchemeHMACSHA256, "":
		h.Set(HeaderHMAC, "sha256="+hex.EncodeToString(mac(secret, body)))
	case SchemeGitHub:
		h.Set(HeaderGitHub, "sha256="+hex.EncodeToString(mac(secret, body)))
	case SchemeStripe:
		h.Set(HeaderStripe, "t="+ts+",v1="+hex.EncodeToString(mac(secret, []byte(ts+"."), body)))
	case SchemeSlack:
		h.Set(HeaderSlackTimestamp, ts)
		h.Set(HeaderSlack, "v0="+hex.EncodeToString(mac(secret, []byte("v0:"+ts+":"), body)))
	default: // SchemeStandardWebhooks
		id := make([]byte, 18)
		_, _ = rand.Read(id)
		msgID := "msg_" + base64.RawURLEncoding.EncodeToString(id)
		sig, err := Sign(secret, msgID, now.Unix(), body)
		if err != nil {
			return nil, err
		}
		h.Set(HeaderID, msgID)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
	}
	return h, nil
}
