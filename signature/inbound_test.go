package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Slack's documented example ("Verifying requests from Slack").
const (
	slackSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	slackTimestamp = "1531420618"
	slackBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

// Cases built per the rules of inbound-signatures.json; the expected values
// were computed independently with `openssl dgst -sha256 -hmac`.
const (
	stripeSecret = "whsec_stripe_example_secret"
	stripeT      = "1700000000"
	stripeBody   = `{"id":"evt_1","object":"event"}`
	stripeV1     = "dad4146684ca57bd50511112511988c79316d01f182f279f06d19067458c0907"

	hmacSecret = "trigger-secret-1"
	hmacBody   = `{"job":"refresh"}`
	hmacSig    = "sha256=f526fac4bea8597c2985563c42054d216ba23c7a8f5c0baa73bd5a7ebf3c28fe"
)

func header(kv ...string) http.Header {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func unix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return time.Unix(n, 0)
}

func TestInboundConformance(t *testing.T) {
	t.Parallel()
	f := loadInbound(t)
	if f.StripeRule == "" || f.SlackRule == "" {
		t.Fatal("inbound-signatures.json: stripe_rule or slack_rule missing")
	}
	// The note of the timestamped case: verify with the clock at 1614265330.
	now := time.Unix(1614265330, 0)
	for _, c := range f.Cases {
		t.Run(c.Scheme, func(t *testing.T) {
			t.Parallel()
			h := make(http.Header)
			for k, v := range c.Headers {
				h.Set(k, v)
			}
			if err := VerifyInbound(c.Scheme, []string{c.Secret}, h, []byte(c.Body), now); err != nil {
				t.Fatalf("VerifyInbound(%s) = %v, want nil", c.Source, err)
			}
			flipped := []byte(c.Body)
			flipped[0] ^= 0x20
			if err := VerifyInbound(c.Scheme, []string{c.Secret}, h, flipped, now); !errors.Is(err, ErrMismatch) {
				t.Fatalf("flipped body: VerifyInbound = %v, want ErrMismatch", err)
			}
			if c.Scheme == SchemeStandardWebhooks {
				return // SignInbound picks a random webhook-id
			}
			got, err := SignInbound(c.Scheme, c.Secret, []byte(c.Body), now)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.Headers {
				if got.Get(k) != v {
					t.Errorf("SignInbound %s = %q, want %q", k, got.Get(k), v)
				}
			}
		})
	}
}

// TestInboundProviderExamples checks fixed, independently computed values:
// Slack's documented example and Stripe and hmac-sha256 cases built per the
// conformance rules.
func TestInboundProviderExamples(t *testing.T) {
	t.Parallel()
	wrongV1 := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name, scheme, secret, body string
		h                          http.Header
		now                        time.Time
		want                       error
		signs                      bool // SignInbound reproduces h exactly
	}{
		{"SlackDocumented", SchemeSlack, slackSecret, slackBody,
			header(HeaderSlack, slackSignature, HeaderSlackTimestamp, slackTimestamp), unix(slackTimestamp), nil, true},
		{"SlackDocumentedUpperHex", SchemeSlack, slackSecret, slackBody,
			header(HeaderSlack, "v0="+strings.ToUpper(slackSignature[3:]), HeaderSlackTimestamp, slackTimestamp), unix(slackTimestamp), nil, false},
		{"SlackDocumentedStaleNow", SchemeSlack, slackSecret, slackBody,
			header(HeaderSlack, slackSignature, HeaderSlackTimestamp, slackTimestamp), unix(slackTimestamp).Add(301 * time.Second), ErrStale, false},
		{"SlackDocumentedOtherTimestamp", SchemeSlack, slackSecret, slackBody,
			header(HeaderSlack, slackSignature, HeaderSlackTimestamp, "1531420619"), unix(slackTimestamp), ErrMismatch, false},
		{"Stripe", SchemeStripe, stripeSecret, stripeBody,
			header(HeaderStripe, "t="+stripeT+",v1="+stripeV1), unix(stripeT), nil, true},
		{"StripeAnyV1", SchemeStripe, stripeSecret, stripeBody,
			header(HeaderStripe, "t="+stripeT+",v1="+wrongV1+",v1="+stripeV1+",v0="+wrongV1), unix(stripeT), nil, false},
		{"StripeSpacesAndUnknownKeys", SchemeStripe, stripeSecret, stripeBody,
			header(HeaderStripe, "t="+stripeT+", v1="+stripeV1+", v2=abc, x"), unix(stripeT), nil, false},
		{"StripeV0Only", SchemeStripe, stripeSecret, stripeBody,
			header(HeaderStripe, "t="+stripeT+",v0="+stripeV1), unix(stripeT), ErrMalformed, false},
		{"StripeOtherT", SchemeStripe, stripeSecret, stripeBody,
			header(HeaderStripe, "t=1700000001,v1="+stripeV1), unix(stripeT), ErrMismatch, false},
		{"HMACSHA256", SchemeHMACSHA256, hmacSecret, hmacBody,
			header(HeaderHMAC, hmacSig), time.Time{}, nil, true},
		{"HMACSHA256DefaultScheme", "", hmacSecret, hmacBody,
			header(HeaderHMAC, hmacSig), time.Time{}, nil, true},
		{"HMACSHA256NotOnGitHubHeader", SchemeHMACSHA256, hmacSecret, hmacBody,
			header(HeaderGitHub, hmacSig), time.Time{}, ErrMissing, false},
		{"GitHubNotOnHMACHeader", SchemeGitHub, hmacSecret, hmacBody,
			header(HeaderHMAC, hmacSig), time.Time{}, ErrMissing, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyInbound(tc.scheme, []string{tc.secret}, tc.h, []byte(tc.body), tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyInbound = %v, want %v", err, tc.want)
			}
			if err != nil {
				assertNoLeak(t, err, tc.secret, stripeV1, slackSignature[3:], hmacSig[7:])
			}
			if !tc.signs {
				return
			}
			got, err := SignInbound(tc.scheme, tc.secret, []byte(tc.body), tc.now)
			if err != nil {
				t.Fatal(err)
			}
			for k := range tc.h {
				if got.Get(k) != tc.h.Get(k) {
					t.Errorf("SignInbound %s = %q, want %q", k, got.Get(k), tc.h.Get(k))
				}
			}
			if len(got) != len(tc.h) {
				t.Errorf("SignInbound set %d headers, want %d", len(got), len(tc.h))
			}
		})
	}
}

// schemeSpec describes one scheme for the negative table.
type schemeSpec struct {
	scheme      string
	secret, old string
	sigHeader   string
	headers     []string // every header the scheme requires
	timestamped bool
	// malformed mutations of a valid header set, each must give ErrMalformed.
	malformed map[string]func(h http.Header)
	// emptyKey returns a header signed with the empty key (nil when the
	// scheme cannot have one).
	emptyKey func(body []byte, now time.Time) http.Header
}

func hexMAC(key string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(key))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func schemeSpecs() []schemeSpec {
	hex64 := strings.Repeat("ab", 32)
	set := func(k, v string) func(http.Header) { return func(h http.Header) { h.Set(k, v) } }
	bodyHMAC := func(name string) schemeSpec {
		return schemeSpec{
			scheme: name, secret: "current secret", old: "previous secret",
			sigHeader: map[string]string{SchemeHMACSHA256: HeaderHMAC, SchemeGitHub: HeaderGitHub}[name],
			malformed: map[string]func(http.Header){
				"NoPrefix":   func(h http.Header) { h.Set(h0(name), hex64) },
				"SHA1":       func(h http.Header) { h.Set(h0(name), "sha1="+strings.Repeat("ab", 20)) },
				"BadHex":     func(h http.Header) { h.Set(h0(name), "sha256="+strings.Repeat("zz", 32)) },
				"PrefixOnly": func(h http.Header) { h.Set(h0(name), "sha256=") },
				"TooLong":    func(h http.Header) { h.Set(h0(name), "sha256="+hex64+"ab") },
				"Garbage":    func(h http.Header) { h.Set(h0(name), "garbage") },
			},
			emptyKey: func(body []byte, _ time.Time) http.Header {
				return header(h0(name), "sha256="+hexMAC("", string(body)))
			},
		}
	}
	hm, gh := bodyHMAC(SchemeHMACSHA256), bodyHMAC(SchemeGitHub)
	hm.headers, gh.headers = []string{HeaderHMAC}, []string{HeaderGitHub}
	return []schemeSpec{
		hm, gh,
		{
			scheme: SchemeStripe, secret: "whsec_current", old: "whsec_previous",
			sigHeader: HeaderStripe, headers: []string{HeaderStripe}, timestamped: true,
			malformed: map[string]func(http.Header){
				"NoT":        set(HeaderStripe, "v1="+hex64),
				"TNotNumber": set(HeaderStripe, "t=soon,v1="+hex64),
				"TNegative":  set(HeaderStripe, "t=-1,v1="+hex64),
				"TwoT":       set(HeaderStripe, "t=1700000000,t=1700000000,v1="+hex64),
				"NoV1":       set(HeaderStripe, "t=1700000000"),
				"V1BadHex":   set(HeaderStripe, "t=1700000000,v1="+strings.Repeat("zz", 32)),
				"Garbage":    set(HeaderStripe, "garbage"),
			},
			emptyKey: func(body []byte, now time.Time) http.Header {
				ts := strconv.FormatInt(now.Unix(), 10)
				return header(HeaderStripe, "t="+ts+",v1="+hexMAC("", ts+".", string(body)))
			},
		},
		{
			scheme: SchemeSlack, secret: slackSecret, old: "0123456789abcdef0123456789abcdef",
			sigHeader: HeaderSlack, headers: []string{HeaderSlack, HeaderSlackTimestamp}, timestamped: true,
			malformed: map[string]func(http.Header){
				"NoPrefix":       set(HeaderSlack, hex64),
				"V1Prefix":       set(HeaderSlack, "v1="+hex64),
				"BadHex":         set(HeaderSlack, "v0="+strings.Repeat("zz", 32)),
				"TimestampWord":  set(HeaderSlackTimestamp, "soon"),
				"TimestampFloat": set(HeaderSlackTimestamp, "1700000000.5"),
			},
			emptyKey: func(body []byte, now time.Time) http.Header {
				ts := strconv.FormatInt(now.Unix(), 10)
				return header(HeaderSlackTimestamp, ts, HeaderSlack, "v0="+hexMAC("", "v0:"+ts+":", string(body)))
			},
		},
		{
			scheme: SchemeStandardWebhooks, secret: NewSecret(), old: NewSecret(),
			sigHeader: HeaderSignature, headers: []string{HeaderID, HeaderTimestamp, HeaderSignature}, timestamped: true,
			malformed: map[string]func(http.Header){
				"V1Alone":       set(HeaderSignature, "v1,"),
				"NoComma":       set(HeaderSignature, "v1"),
				"BadBase64":     set(HeaderSignature, "v1,!!!!"),
				"Garbage":       set(HeaderSignature, "garbage"),
				"TimestampWord": set(HeaderTimestamp, "soon"),
			},
			// An empty whsec_ secret is refused before any key exists.
		},
	}
}

// h0 names the signature header of the body-HMAC schemes.
func h0(scheme string) string {
	if scheme == SchemeGitHub {
		return HeaderGitHub
	}
	return HeaderHMAC
}

// flipLast changes the last byte of the signature in the scheme's header,
// keeping its length: a comparison of only a prefix must not pass.
func flipLast(h http.Header, name string) http.Header {
	c := h.Clone()
	v := c.Get(name)
	if head, b64, ok := strings.Cut(v, ","); ok && head == "v1" {
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			panic(err)
		}
		sig[len(sig)-1] ^= 1
		c.Set(name, head+","+base64.StdEncoding.EncodeToString(sig))
		return c
	}
	last := byte('0')
	if v[len(v)-1] == '0' {
		last = '1'
	}
	c.Set(name, v[:len(v)-1]+string(last))
	return c
}

// truncate cuts the signature in the scheme's header (a truncated signature
// must never pass).
func truncate(h http.Header, name string, n int) http.Header {
	c := h.Clone()
	v := c.Get(name)
	c.Set(name, v[:len(v)-n])
	return c
}

func TestVerifyInboundNegatives(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	body := []byte(`{"ref":"refs/heads/main","n":1}`)
	for _, sp := range schemeSpecs() {
		sign := func(secret string, at time.Time) http.Header {
			h, err := SignInbound(sp.scheme, secret, body, at)
			if err != nil {
				t.Fatalf("%s: SignInbound: %v", sp.scheme, err)
			}
			return h
		}
		good := sign(sp.secret, now)
		old := sign(sp.old, now)
		flipped := append([]byte(nil), body...)
		flipped[len(flipped)-2] ^= 1

		type tc struct {
			name    string
			secrets []string
			h       http.Header
			body    []byte
			now     time.Time
			want    error
		}
		cases := []tc{
			{"OK", []string{sp.secret}, good, body, now, nil},
			{"ErrMismatchFlippedByte", []string{sp.secret}, good, flipped, now, ErrMismatch},
			{"ErrMismatchLastSignatureByte", []string{sp.secret}, flipLast(good, sp.sigHeader), body, now, ErrMismatch},
			{"ErrMismatchEmptyBody", []string{sp.secret}, good, nil, now, ErrMismatch},
			{"ErrMalformedTruncated1", []string{sp.secret}, truncate(good, sp.sigHeader, 1), body, now, ErrMalformed},
			{"ErrMalformedTruncated2", []string{sp.secret}, truncate(good, sp.sigHeader, 2), body, now, ErrMalformed},
			{"ErrMalformedTruncated4", []string{sp.secret}, truncate(good, sp.sigHeader, 4), body, now, ErrMalformed},
			{"ErrNoSecretNil", nil, good, body, now, ErrNoSecret},
			{"ErrNoSecretEmptyString", []string{""}, good, body, now, ErrNoSecret},
			{"ErrNoSecretEmptyStrings", []string{"", ""}, good, body, now, ErrNoSecret},
			{"ErrMismatchWrongSecret", []string{sp.old}, good, body, now, ErrMismatch},
			{"OKRotationOldSigned", []string{sp.secret, sp.old}, old, body, now, nil},
			{"OKRotationOldFirst", []string{sp.old, sp.secret}, good, body, now, nil},
			{"OKRotationEmptyIgnored", []string{"", sp.old}, old, body, now, nil},
			{"ErrMismatchOldAfterGrace", []string{sp.secret}, old, body, now, ErrMismatch},
			{"ErrUnknownScheme", []string{sp.secret}, good, body, now, ErrUnknownScheme},
		}
		if sp.timestamped {
			cases = append(cases,
				tc{"OKPast300s", []string{sp.secret}, sign(sp.secret, now.Add(-300*time.Second)), body, now, nil},
				tc{"OKFuture300s", []string{sp.secret}, sign(sp.secret, now.Add(300*time.Second)), body, now, nil},
				tc{"ErrStalePast", []string{sp.secret}, sign(sp.secret, now.Add(-301*time.Second)), body, now, ErrStale},
				tc{"ErrStaleFuture", []string{sp.secret}, sign(sp.secret, now.Add(301*time.Second)), body, now, ErrStale},
				tc{"ErrStaleZeroTimestamp", []string{sp.secret}, sign(sp.secret, time.Unix(0, 0)), body, now, ErrStale},
			)
		} else {
			cases = append(cases, tc{"OKClockIrrelevant", []string{sp.secret}, good, body, time.Time{}, nil})
		}
		for _, name := range sp.headers {
			h := good.Clone()
			h.Del(name)
			cases = append(cases, tc{"ErrMissing" + name, []string{sp.secret}, h, body, now, ErrMissing})
			h = good.Clone()
			h.Set(name, "")
			cases = append(cases, tc{"ErrMissingEmpty" + name, []string{sp.secret}, h, body, now, ErrMissing})
		}
		for name, mutate := range sp.malformed {
			h := good.Clone()
			mutate(h)
			cases = append(cases, tc{"ErrMalformed" + name, []string{sp.secret}, h, body, now, ErrMalformed})
		}
		if sp.emptyKey != nil {
			cases = append(cases, tc{"ErrMismatchEmptyKeyNeverUsed", []string{"", sp.secret}, sp.emptyKey(body, now), body, now, ErrMismatch})
		}
		for _, c := range cases {
			t.Run(sp.scheme+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				scheme := sp.scheme
				if c.want == ErrUnknownScheme {
					scheme = sp.scheme + "-v2"
				}
				err := VerifyInbound(scheme, c.secrets, c.h, c.body, c.now)
				if c.want == nil {
					if err != nil {
						t.Fatalf("VerifyInbound = %v, want nil", err)
					}
					return
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("VerifyInbound = %v, want %v", err, c.want)
				}
				leaks := []string{sp.secret, sp.old}
				for _, k := range sp.headers {
					leaks = append(leaks, good.Get(k))
				}
				assertNoLeak(t, err, leaks...)
			})
		}
	}
}

func TestVerifyInboundStandardWebhooksSecrets(t *testing.T) {
	t.Parallel()
	f := loadStandardWebhooks(t)
	c := f.Sign[0]
	h := standardHeader(c.ID, strconv.FormatInt(c.Timestamp, 10), c.Signature)
	now := time.Unix(c.Timestamp, 0)
	for _, tc := range []struct {
		name    string
		secrets []string
		want    error
	}{
		{"OK", []string{c.Secret}, nil},
		{"OKBare", []string{strings.TrimPrefix(c.Secret, SecretPrefix)}, nil},
		{"OKInvalidBesideValid", []string{"whsec_", c.Secret}, nil},
		{"ErrInvalidSecret", []string{"whsec_"}, ErrInvalidSecret},
		{"ErrInvalidSecretShort", []string{"whsec_AAAA"}, ErrInvalidSecret},
		{"ErrInvalidSecretNotBase64", []string{"It's a Secret to Everybody"}, ErrInvalidSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyInbound(SchemeStandardWebhooks, tc.secrets, h, []byte(c.Body), now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyInbound = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignInboundErrors(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name, scheme, secret string
		want                 error
	}{
		{"ErrUnknownScheme", "sha1", "s", ErrUnknownScheme},
		{"ErrNoSecret", SchemeGitHub, "", ErrNoSecret},
		{"ErrNoSecretStripe", SchemeStripe, "", ErrNoSecret},
		{"ErrInvalidSecret", SchemeStandardWebhooks, "whsec_", ErrInvalidSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := SignInbound(tc.scheme, tc.secret, nil, now); !errors.Is(err, tc.want) {
				t.Fatalf("SignInbound = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSignInboundStandardWebhooks checks the random message id and that
// Verify (the receiver side) accepts what SignInbound sends.
func TestSignInboundStandardWebhooks(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	now := time.Unix(1700000000, 0)
	body := []byte(`{}`)
	a, err := SignInbound(SchemeStandardWebhooks, secret, body, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SignInbound(SchemeStandardWebhooks, secret, body, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Get(HeaderID), "msg_") || a.Get(HeaderID) == b.Get(HeaderID) {
		t.Fatalf("webhook-id %q, %q: want distinct msg_ ids", a.Get(HeaderID), b.Get(HeaderID))
	}
	if got := a.Get(HeaderTimestamp); got != "1700000000" {
		t.Fatalf("webhook-timestamp = %q", got)
	}
	if err := Verify(secret, a, body, now); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
