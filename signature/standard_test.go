package signature

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConformanceSign(t *testing.T) {
	t.Parallel()
	f := loadStandardWebhooks(t)
	for _, c := range f.Sign {
		t.Run(c.ID, func(t *testing.T) {
			t.Parallel()
			got, err := Sign(c.Secret, c.ID, c.Timestamp, []byte(c.Body))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got != c.Signature {
				t.Errorf("Sign = %q, want %q", got, c.Signature)
			}
			s, err := NewSigner([]string{c.Secret})
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			if got := string(s.Sign([]byte("x"), c.ID, c.Timestamp, []byte(c.Body))); got != "x"+c.Signature {
				t.Errorf("Signer.Sign appended %q, want %q", got, "x"+c.Signature)
			}
			h := standardHeader(c.ID, strconv.FormatInt(c.Timestamp, 10), c.Signature)
			if err := Verify(c.Secret, h, []byte(c.Body), time.Unix(c.Timestamp, 0)); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestConformanceSignV1a(t *testing.T) {
	t.Parallel()
	f := loadStandardWebhooks(t)
	if len(f.SignV1a) == 0 {
		t.Fatal("no sign_v1a cases")
	}
	for _, c := range f.SignV1a {
		t.Run(c.ID, func(t *testing.T) {
			t.Parallel()
			priv, err := base64.StdEncoding.DecodeString(c.PrivateKeyBase64)
			if err != nil || len(priv) != ed25519.PrivateKeySize {
				t.Fatalf("bad private key in case: %v", err)
			}
			pk := ed25519.PrivateKey(priv)
			pub := PublicKeyPrefix + base64.StdEncoding.EncodeToString(pk.Public().(ed25519.PublicKey))
			if pub != c.PublicKey {
				t.Fatalf("public key = %q, want %q", pub, c.PublicKey)
			}
			ts := strconv.FormatInt(c.Timestamp, 10)
			sig := "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(pk, []byte(c.ID+"."+ts+"."+c.Body)))
			if sig != c.Signature {
				t.Fatalf("ed25519 signature = %q, want %q", sig, c.Signature)
			}
			now := time.Unix(c.Timestamp, 0)
			for _, tc := range []struct {
				name string
				sigs string
				body string
				want error
			}{
				{"OK", c.Signature, c.Body, nil},
				{"OKAmongDecoys", "v1,bad v1a,xyz " + c.Signature, c.Body, nil},
				{"ErrMismatchBody", c.Signature, c.Body + " ", ErrMismatch},
				{"ErrMismatchV1Only", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", c.Body, ErrMismatch},
				{"ErrMalformedTruncated", c.Signature[:len(c.Signature)-4], c.Body, ErrMalformed},
			} {
				err := Verify(c.PublicKey, standardHeader(c.ID, ts, tc.sigs), []byte(tc.body), now)
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
				}
			}
		})
	}
}

func standardHeader(id, ts, sig string) http.Header {
	h := make(http.Header)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, sig)
	return h
}

// TestVerify implements every verify_must_fail and verify_must_pass sentence
// of the shared Standard Webhooks cases on the first sign case.
func TestVerify(t *testing.T) {
	t.Parallel()
	f := loadStandardWebhooks(t)
	c := f.Sign[0]
	ts := strconv.FormatInt(c.Timestamp, 10)
	now := time.Unix(c.Timestamp, 0)
	good := c.Signature
	_, goodB64, _ := strings.Cut(good, ",")
	bare := strings.TrimPrefix(c.Secret, SecretPrefix)
	other := NewSecret()
	otherSig, err := Sign(other, c.ID, c.Timestamp, []byte(c.Body))
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(c.Body)
	flipped[3] ^= 1

	type tc struct {
		name     string
		sentence string // the conformance sentence this case implements, if any
		secret   string
		h        http.Header
		body     []byte
		now      time.Time
		want     error
	}
	del := func(name string) http.Header {
		h := standardHeader(c.ID, ts, good)
		h.Del(name)
		return h
	}
	const (
		missing   = "a missing webhook-id, webhook-timestamp or webhook-signature header"
		v1Alone   = "the signature header 'v1,' alone"
		cut8      = "a correct signature cut to 8 characters"
		notNumber = "a timestamp that is not a number"
		stale     = "a timestamp 301 s in the past or 301 s in the future"
		noneMatch = "a list of signatures none of which matches"
		oneByte   = "a body changed by one byte"
		decoys    = "one valid v1 signature among decoys ('v1,bad v2,xyz v1,<good>')"
		prefix    = "the secret given with or without the 'whsec_' prefix"
	)
	body := []byte(c.Body)
	cases := []tc{
		{"OK", "", c.Secret, standardHeader(c.ID, ts, good), body, now, nil},
		{"OKDecoys", decoys, c.Secret, standardHeader(c.ID, ts, "v1,bad v2,xyz "+good), body, now, nil},
		{"OKWithPrefix", prefix, c.Secret, standardHeader(c.ID, ts, good), body, now, nil},
		{"OKWithoutPrefix", prefix, bare, standardHeader(c.ID, ts, good), body, now, nil},
		{"OK300sPast", "", c.Secret, standardHeader(c.ID, ts, good), body, now.Add(300 * time.Second), nil},
		{"OK300sFuture", "", c.Secret, standardHeader(c.ID, ts, good), body, now.Add(-300 * time.Second), nil},
		{"OKRotationSecondSignature", "", c.Secret, standardHeader(c.ID, ts, otherSig+" "+good), body, now, nil},
		{"ErrMissingID", missing, c.Secret, del(HeaderID), body, now, ErrMissing},
		{"ErrMissingTimestamp", missing, c.Secret, del(HeaderTimestamp), body, now, ErrMissing},
		{"ErrMissingSignature", missing, c.Secret, del(HeaderSignature), body, now, ErrMissing},
		{"ErrMalformedV1Alone", v1Alone, c.Secret, standardHeader(c.ID, ts, "v1,"), body, now, ErrMalformed},
		{"ErrMalformedCut8", cut8, c.Secret, standardHeader(c.ID, ts, good[:8]), body, now, ErrMalformed},
		{"ErrMalformedCut8Payload", cut8, c.Secret, standardHeader(c.ID, ts, "v1,"+goodB64[:8]), body, now, ErrMalformed},
		{"ErrMalformedTimestampWord", notNumber, c.Secret, standardHeader(c.ID, "soon", good), body, now, ErrMalformed},
		{"ErrMalformedTimestampFraction", notNumber, c.Secret, standardHeader(c.ID, ts+".5", good), body, now, ErrMalformed},
		{"ErrMalformedTimestampSigned", notNumber, c.Secret, standardHeader(c.ID, "+"+ts, good), body, now, ErrMalformed},
		{"ErrStale301sPast", stale, c.Secret, standardHeader(c.ID, ts, good), body, now.Add(301 * time.Second), ErrStale},
		{"ErrStale301sFuture", stale, c.Secret, standardHeader(c.ID, ts, good), body, now.Add(-301 * time.Second), ErrStale},
		{"ErrMismatchNoneMatches", noneMatch, c.Secret, standardHeader(c.ID, ts, otherSig+" v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))), body, now, ErrMismatch},
		{"ErrMismatchOneByte", oneByte, c.Secret, standardHeader(c.ID, ts, good), flipped, now, ErrMismatch},
		{"ErrMismatchOtherID", "", c.Secret, standardHeader(c.ID+"x", ts, good), body, now, ErrMismatch},
		{"ErrMismatchWrongSecret", "", other, standardHeader(c.ID, ts, good), body, now, ErrMismatch},
		{"ErrNoSecret", "", "", standardHeader(c.ID, ts, good), body, now, ErrNoSecret},
		{"ErrInvalidSecret", "", "whsec_", standardHeader(c.ID, ts, good), body, now, ErrInvalidSecret},
		{"ErrInvalidPublicKey", "", PublicKeyPrefix + "AAAA", standardHeader(c.ID, ts, good), body, now, ErrInvalidSecret},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.sentence] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tc.secret, tc.h, tc.body, tc.now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			assertNoLeak(t, err, c.Secret, bare, goodB64)
		})
	}
	requireCovered(t, "verify_must_fail", f.VerifyMustFail, covered)
	requireCovered(t, "verify_must_pass", f.VerifyMustPass, covered)
}

// assertNoLeak fails when an error text contains a secret or a signature.
func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if len(s) >= 6 && strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
}

func TestDecodeSecret(t *testing.T) {
	t.Parallel()
	f := loadStandardWebhooks(t)
	key24 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567"))
	key23 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456"))
	const short = "a secret shorter than 24 bytes once decoded"
	for _, tc := range []struct {
		name, sentence, secret string
		wantLen                int // 0: refused with ErrInvalidSecret
	}{
		{"OKPrefixed", "", "whsec_" + key24, 24},
		{"OKBare", "", key24, 24},
		{"OKConformance", "", f.Sign[0].Secret, 24},
		{"OKNew", "", NewSecret(), 32},
		{"ErrEmpty", "", "", 0},
		{"ErrPrefixOnly", "whsec_", "whsec_", 0},
		{"ErrNotBase64", "", "whsec_not base64!", 0},
		{"ErrURLBase64", "", "whsec_" + strings.NewReplacer("+", "-", "/", "_").Replace("+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/"), 0},
		{"ErrTooShort", short, "whsec_" + key23, 0},
		{"ErrTooShortBare", short, key23, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key, err := DecodeSecret(tc.secret)
			if tc.wantLen == 0 {
				if !errors.Is(err, ErrInvalidSecret) {
					t.Fatalf("DecodeSecret = %v, want ErrInvalidSecret", err)
				}
				assertNoLeak(t, err, strings.TrimPrefix(tc.secret, SecretPrefix))
				if _, err := NewSigner([]string{tc.secret}); !errors.Is(err, ErrInvalidSecret) {
					t.Errorf("NewSigner = %v, want ErrInvalidSecret", err)
				}
				return
			}
			if err != nil || len(key) != tc.wantLen {
				t.Fatalf("DecodeSecret = %d bytes, %v; want %d bytes", len(key), err, tc.wantLen)
			}
		})
	}
	// The first sentence is the empty string itself.
	requireCovered(t, "secret_must_be_refused", f.SecretMustBeRefused, map[string]bool{"": true, "whsec_": true, short: true})
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Fatal("two NewSecret calls returned the same secret")
	}
	raw, ok := strings.CutPrefix(a, SecretPrefix)
	if !ok {
		t.Fatalf("NewSecret = %q, want prefix %q", a, SecretPrefix)
	}
	if k, err := base64.StdEncoding.DecodeString(raw); err != nil || len(k) != 32 {
		t.Fatalf("NewSecret payload: %d bytes, %v; want 32", len(k), err)
	}
}

func TestSignAll(t *testing.T) {
	t.Parallel()
	f := loadStandardWebhooks(t)
	c0, c1 := f.Sign[0], f.Sign[1]
	body := []byte(c0.Body)
	got, err := SignAll([]string{c0.Secret, c1.Secret}, c0.ID, c0.Timestamp, body)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Sign(c1.Secret, c0.ID, c0.Timestamp, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := c0.Signature + " " + second; got != want {
		t.Fatalf("SignAll = %q, want %q", got, want)
	}
	h := standardHeader(c0.ID, strconv.FormatInt(c0.Timestamp, 10), got)
	now := time.Unix(c0.Timestamp, 0)
	for _, s := range []string{c0.Secret, c1.Secret} {
		if err := Verify(s, h, body, now); err != nil {
			t.Errorf("Verify with one of two rotation secrets: %v", err)
		}
	}
	if err := Verify(NewSecret(), h, body, now); !errors.Is(err, ErrMismatch) {
		t.Errorf("Verify with a third secret = %v, want ErrMismatch", err)
	}

	for _, tc := range []struct {
		name    string
		secrets []string
		want    error
	}{
		{"ErrNoSecretNil", nil, ErrNoSecret},
		{"ErrNoSecretEmpty", []string{}, ErrNoSecret},
		{"ErrInvalidSecondSecret", []string{c0.Secret, "whsec_"}, ErrInvalidSecret},
		{"ErrInvalidEmptySecret", []string{""}, ErrInvalidSecret},
	} {
		if _, err := SignAll(tc.secrets, c0.ID, c0.Timestamp, body); !errors.Is(err, tc.want) {
			t.Errorf("%s: SignAll = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSignerZero(t *testing.T) {
	t.Parallel()
	var s Signer
	if got := s.Sign([]byte("x"), "id", 1, nil); string(got) != "x" {
		t.Fatalf("zero Signer appended %q", got)
	}
	var nilSigner *Signer
	if got := nilSigner.Sign(nil, "id", 1, nil); len(got) != 0 {
		t.Fatalf("nil Signer appended %q", got)
	}
}

// TestSignerConcurrent checks that pooled state is never shared between
// concurrent calls (run with -race).
func TestSignerConcurrent(t *testing.T) {
	t.Parallel()
	f := loadStandardWebhooks(t)
	secrets := []string{f.Sign[0].Secret, f.Sign[1].Secret}
	s, err := NewSigner(secrets)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := range 200 {
				id := "msg_" + strconv.Itoa(g) + "_" + strconv.Itoa(i)
				body := []byte(strings.Repeat("b", i))
				buf = s.Sign(buf[:0], id, int64(1700000000+i), body)
				want, err := SignAll(secrets, id, int64(1700000000+i), body)
				if err != nil || string(buf) != want {
					t.Errorf("concurrent Sign = %q, want %q (%v)", buf, want, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestSignerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	// Not parallel: testing.AllocsPerRun refuses to run in a parallel test.
	s, err := NewSigner([]string{NewSecret(), NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event":"job.succeeded","data":{}}`)
	dst := make([]byte, 0, 256)
	s.Sign(dst, "evt_2bX", 1700000000, body) // warm the pool
	if n := testing.AllocsPerRun(100, func() {
		dst = s.Sign(dst[:0], "evt_2bXdHRWjGEkCgKbDcNqKp8Ia8cV", 1700000000, body)
	}); n != 0 {
		t.Fatalf("Signer.Sign allocates %v times per call, want 0", n)
	}
}

func BenchmarkSigner(b *testing.B) {
	body := []byte(`{"event":"job.succeeded","timestamp":"2026-01-02T03:04:05Z","data":{"job_id":"job_2bXdHRWjGEkCgKbDcNqKp8Ia8cV","duration_ms":1234}}`)
	for _, n := range []int{1, 2} {
		b.Run(strconv.Itoa(n)+"secrets", func(b *testing.B) {
			secrets := make([]string, n)
			for i := range secrets {
				secrets[i] = NewSecret()
			}
			s, err := NewSigner(secrets)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]byte, 0, 128)
				for pb.Next() {
					dst = s.Sign(dst[:0], "evt_2bXdHRWjGEkCgKbDcNqKp8Ia8cV", 1700000000, body)
				}
			})
		})
	}
}
