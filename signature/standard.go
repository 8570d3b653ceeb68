package signature

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks names and limits.
const (
	// SecretPrefix starts every outbound signing secret: "whsec_" + base64.
	SecretPrefix = "whsec_"
	// PublicKeyPrefix starts an ed25519 public key ("whpk_" + base64) that
	// Verify accepts in place of a secret to check v1a signatures.
	PublicKeyPrefix = "whpk_"
	// MinSecretBytes is the shortest decoded secret DecodeSecret accepts.
	MinSecretBytes = 24

	// HeaderID, HeaderTimestamp and HeaderSignature are the Standard Webhooks
	// request headers (http.Header canonicalises their case).
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// newSecretBytes is the length of the random part of a NewSecret secret.
const newSecretBytes = 32

// NewSecret returns a new outbound signing secret: "whsec_" followed by the
// standard base64 encoding of 32 random bytes.
func NewSecret() string {
	b := make([]byte, newSecretBytes)
	// crypto/rand.Read never returns an error (it aborts the program if the
	// system's source fails).
	_, _ = rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// DecodeSecret returns the HMAC key of a Standard Webhooks secret: the
// standard base64 payload, with or without the "whsec_" prefix. It returns an
// error wrapping ErrInvalidSecret for "", "whsec_", invalid base64 and keys
// shorter than MinSecretBytes.
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(secret, SecretPrefix)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidSecret)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrInvalidSecret)
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("%w: shorter than %d bytes", ErrInvalidSecret, MinSecretBytes)
	}
	return key, nil
}

// Signer signs outbound deliveries with a fixed set of secrets (the current
// one and, during a rotation grace, the previous one). Keys are decoded once
// by NewSigner. A Signer is safe for concurrent use; make one per secret set
// and reuse it.
type Signer struct {
	keys [][]byte
	pool sync.Pool // of *signerState
}

// signerState is the per-call scratch of a Signer, pooled so that Sign does
// not allocate in the steady state.
type signerState struct {
	macs []hash.Hash // one keyed HMAC per key; Reset restores the keyed state
	buf  []byte      // id + "." + ts + "."
	sum  []byte      // HMAC output
}

// NewSigner decodes secrets (see DecodeSecret) and returns a Signer that
// produces one signature per secret, in the order given. It returns
// ErrNoSecret for an empty list and an error wrapping ErrInvalidSecret
// naming the position of the first invalid secret.
func NewSigner(secrets []string) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecret
	}
	s := &Signer{keys: make([][]byte, len(secrets))}
	for i, sec := range secrets {
		k, err := DecodeSecret(sec)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i, err)
		}
		s.keys[i] = k
	}
	s.pool.New = func() any {
		st := &signerState{
			macs: make([]hash.Hash, len(s.keys)),
			buf:  make([]byte, 0, 128),
			sum:  make([]byte, 0, sha256.Size),
		}
		for i, k := range s.keys {
			st.macs[i] = hmac.New(sha256.New, k)
		}
		return st
	}
	return s, nil
}

// Sign appends the webhook-signature header value for a delivery to dst and
// returns the extended slice: "v1,<base64 HMAC-SHA256(key, msgID + "." +
// timestamp + "." + body)>" per key, separated by single spaces. timestamp is
// in unix seconds. A zero Signer appends nothing.
func (s *Signer) Sign(dst []byte, msgID string, timestamp int64, body []byte) []byte {
	if s == nil || len(s.keys) == 0 {
		return dst
	}
	st := s.pool.Get().(*signerState)
	st.buf = append(st.buf[:0], msgID...)
	st.buf = append(st.buf, '.')
	st.buf = strconv.AppendInt(st.buf, timestamp, 10)
	st.buf = append(st.buf, '.')
	for i, mac := range st.macs {
		mac.Reset()
		mac.Write(st.buf)
		mac.Write(body)
		st.sum = mac.Sum(st.sum[:0])
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, "v1,"...)
		dst = base64.StdEncoding.AppendEncode(dst, st.sum)
	}
	if cap(st.buf) <= 4096 { // do not pin a huge message id in the pool
		s.pool.Put(st)
	}
	return dst
}

// Sign returns the webhook-signature header value of one message signed with
// one secret. It returns an error wrapping ErrInvalidSecret for a bad secret.
func Sign(secret, msgID string, timestamp int64, body []byte) (string, error) {
	return SignAll([]string{secret}, msgID, timestamp, body)
}

// SignAll returns the webhook-signature header value of one message signed
// with every secret, space separated (two secrets during a rotation grace).
// It returns ErrNoSecret for no secrets and an error wrapping
// ErrInvalidSecret for a bad one.
func SignAll(secrets []string, msgID string, timestamp int64, body []byte) (string, error) {
	s, err := NewSigner(secrets)
	if err != nil {
		return "", err
	}
	return string(s.Sign(nil, msgID, timestamp, body)), nil
}

// verifyKey is one key a Standard Webhooks signature may be checked with:
// an HMAC key (v1) or an ed25519 public key (v1a).
type verifyKey struct {
	hmac []byte
	pub  ed25519.PublicKey
}

// parseVerifyKey accepts a "whsec_" secret (or its bare base64) and a
// "whpk_" ed25519 public key.
func parseVerifyKey(secret string) (verifyKey, error) {
	if rest, ok := strings.CutPrefix(secret, PublicKeyPrefix); ok {
		pub, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return verifyKey{}, fmt.Errorf("%w: not a %d-byte base64 public key", ErrInvalidSecret, ed25519.PublicKeySize)
		}
		return verifyKey{pub: pub}, nil
	}
	k, err := DecodeSecret(secret)
	if err != nil {
		return verifyKey{}, err
	}
	return verifyKey{hmac: k}, nil
}

// sigEntry is one "version,base64" element of a webhook-signature header.
type sigEntry struct {
	version string
	sig     []byte
}

// parseSignatureList parses a webhook-signature header value: signatures
// separated by spaces, each "<version>,<base64>". Elements without a comma,
// with an empty version or an empty or undecodable signature are skipped (a
// sender may add versions we do not know); v1 entries must decode to 32 bytes
// and v1a entries to 64, or they are skipped too.
func parseSignatureList(header string) []sigEntry {
	var out []sigEntry
	for _, f := range strings.Fields(header) {
		version, b64, ok := strings.Cut(f, ",")
		if !ok || version == "" || b64 == "" {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) == 0 {
			continue
		}
		switch version {
		case "v1":
			if len(sig) != sha256.Size {
				continue
			}
		case "v1a":
			if len(sig) != ed25519.SignatureSize {
				continue
			}
		}
		out = append(out, sigEntry{version: version, sig: sig})
	}
	return out
}

// Verify checks a Standard Webhooks request as a receiver would: the
// webhook-id, webhook-timestamp and webhook-signature headers of h against
// the raw body, with the clock at now. secret is a "whsec_" secret (with or
// without the prefix), checking v1 signatures, or a "whpk_" ed25519 public
// key, checking v1a signatures. Any one matching signature in the
// space-separated list is enough.
//
// Errors: ErrNoSecret for "", ErrInvalidSecret for an unusable secret,
// ErrMissing for an absent header, ErrMalformed for a timestamp that is not a
// number or a list without one well-formed signature, ErrStale for a timestamp
// more than Tolerance away, ErrMismatch when nothing matches.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	if secret == "" {
		return ErrNoSecret
	}
	k, err := parseVerifyKey(secret)
	if err != nil {
		return err
	}
	return verifyStandard([]verifyKey{k}, h, body, now)
}

// verifyStandard is Verify for any number of keys (rotation grace).
func verifyStandard(keys []verifyKey, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	switch {
	case id == "":
		return fmt.Errorf("%w: %s", ErrMissing, HeaderID)
	case ts == "":
		return fmt.Errorf("%w: %s", ErrMissing, HeaderTimestamp)
	case sigs == "":
		return fmt.Errorf("%w: %s", ErrMissing, HeaderSignature)
	}
	t, ok := parseUnix(ts)
	if !ok {
		return fmt.Errorf("%w: %s is not a unix timestamp", ErrMalformed, HeaderTimestamp)
	}
	if !fresh(t, now) {
		return ErrStale
	}
	entries := parseSignatureList(sigs)
	if len(entries) == 0 {
		return fmt.Errorf("%w: %s has no well-formed signature", ErrMalformed, HeaderSignature)
	}
	content := make([]byte, 0, len(id)+len(ts)+2+len(body))
	content = append(content, id...)
	content = append(content, '.')
	content = append(content, ts...)
	content = append(content, '.')
	content = append(content, body...)
	for _, k := range keys {
		var expected []byte
		if k.hmac != nil {
			mac := hmac.New(sha256.New, k.hmac)
			mac.Write(content)
			expected = mac.Sum(nil)
		}
		for _, e := range entries {
			switch {
			case k.hmac != nil && e.version == "v1":
				if hmac.Equal(e.sig, expected) {
					return nil
				}
			case k.pub != nil && e.version == "v1a":
				if ed25519.Verify(k.pub, content, e.sig) {
					return nil
				}
			}
		}
	}
	return ErrMismatch
}
