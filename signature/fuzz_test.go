package signature

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The verifier fuzz targets use a fixed secret and clock and an independent
// oracle: whenever the verifier accepts, the oracle must find a signature in
// the header that really is the HMAC of the signed content under the secret.
// A random header can therefore never be accepted.
var fuzzNow = time.Unix(1700000000, 0)

const fuzzSecret = "fuzz secret"

func rawMAC(key []byte, content ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, c := range content {
		m.Write([]byte(c))
	}
	return m.Sum(nil)
}

func oracleFresh(ts string) bool {
	n, err := strconv.ParseInt(ts, 10, 64)
	return err == nil && n >= fuzzNow.Unix()-300 && n <= fuzzNow.Unix()+300
}

func hexEqual(s string, want []byte) bool {
	b, err := hex.DecodeString(s)
	return err == nil && bytes.Equal(b, want)
}

func FuzzParseStripeHeader(f *testing.F) {
	for _, s := range []string{
		"t=" + stripeT + ",v1=" + stripeV1,
		"t=1,v1=" + stripeV1 + ",v1=" + stripeV1 + ",v0=00",
		"t=1, v1=" + stripeV1,
		"t=,v1=", "t=1,t=2", "v1=ab", ",,,=,", "t=99999999999999999999,v1=" + stripeV1, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sh, err := parseStripeHeader(v)
		if err != nil {
			return
		}
		if len(sh.v1) == 0 {
			t.Fatal("parsed without a v1")
		}
		if n, ok := parseUnix(sh.raw); !ok || n != sh.t {
			t.Fatalf("t = %d, raw %q", sh.t, sh.raw)
		}
		parts := []string{"t=" + sh.raw}
		for _, s := range sh.v1 {
			if len(s) != sha256.Size {
				t.Fatalf("v1 of %d bytes", len(s))
			}
			parts = append(parts, "v1="+hex.EncodeToString(s))
		}
		again, err := parseStripeHeader(strings.Join(parts, ","))
		if err != nil || again.t != sh.t || len(again.v1) != len(sh.v1) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, sh)
		}
		for i := range sh.v1 {
			if !bytes.Equal(again.v1[i], sh.v1[i]) {
				t.Fatalf("round trip v1[%d] differs", i)
			}
		}
	})
}

func FuzzParseSignatureList(f *testing.F) {
	for _, s := range []string{
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"v1,bad v2,xyz v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
		"v1,", ",", " ", "v1,,,,", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		entries := parseSignatureList(v)
		var parts []string
		for _, e := range entries {
			if e.version == "" || len(e.sig) == 0 || strings.ContainsAny(e.version, ", \t\n") {
				t.Fatalf("bad entry %+v", e)
			}
			if (e.version == "v1" && len(e.sig) != 32) || (e.version == "v1a" && len(e.sig) != 64) {
				t.Fatalf("%s entry of %d bytes", e.version, len(e.sig))
			}
			parts = append(parts, e.version+","+base64.StdEncoding.EncodeToString(e.sig))
		}
		again := parseSignatureList(strings.Join(parts, " "))
		if len(again) != len(entries) {
			t.Fatalf("round trip: %d entries, want %d", len(again), len(entries))
		}
		for i := range again {
			if again[i].version != entries[i].version || !bytes.Equal(again[i].sig, entries[i].sig) {
				t.Fatalf("round trip entry %d differs", i)
			}
		}
	})
}

// standardOracle reports whether sigs holds a v1 signature of id.ts.body under key.
func standardOracle(key []byte, id, ts, sigs string, body []byte) bool {
	want := rawMAC(key, id, ".", ts, ".", string(body))
	for _, f := range strings.Fields(sigs) {
		if b64, ok := strings.CutPrefix(f, "v1,"); ok {
			if b, err := base64.StdEncoding.DecodeString(b64); err == nil && bytes.Equal(b, want) {
				return true
			}
		}
	}
	return false
}

func FuzzVerify(f *testing.F) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	good, _ := Sign(secret, "msg_1", fuzzNow.Unix(), []byte(`{"a":1}`))
	f.Add("msg_1", ts, good, []byte(`{"a":1}`))
	f.Add("msg_1", ts, "v1,bad v2,xyz "+good, []byte(`{"a":1}`))
	f.Add("msg_1", ts, good, []byte(`{"a":2}`))
	f.Add("msg_1", "soon", "v1,", []byte(nil))
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte) {
		h := standardHeader(id, ts, sigs)
		if err := Verify(secret, h, body, fuzzNow); err == nil {
			if !oracleFresh(ts) || !standardOracle(key, h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body) {
				t.Fatalf("accepted id %q ts %q sigs %q", id, ts, sigs)
			}
		}
	})
}

// fuzzBodyHMAC is the fuzz body for hmac-sha256 and github.
func fuzzBodyHMAC(f *testing.F, scheme, name string) {
	good := "sha256=" + hex.EncodeToString(rawMAC([]byte(fuzzSecret), "body"))
	f.Add(good, []byte("body"))
	f.Add(good, []byte("bodz"))
	f.Add(good[:len(good)-2], []byte("body"))
	f.Add("sha256=", []byte(""))
	f.Fuzz(func(t *testing.T, v string, body []byte) {
		h := header(name, v)
		if err := VerifyInbound(scheme, []string{"other", fuzzSecret}, h, body, fuzzNow); err == nil {
			rest, ok := strings.CutPrefix(strings.TrimSpace(h.Get(name)), "sha256=")
			if !ok || !hexEqual(rest, rawMAC([]byte(fuzzSecret), string(body))) {
				t.Fatalf("accepted %q", v)
			}
		}
	})
}

func FuzzVerifyInboundHMACSHA256(f *testing.F) { fuzzBodyHMAC(f, SchemeHMACSHA256, HeaderHMAC) }

func FuzzVerifyInboundGitHub(f *testing.F) { fuzzBodyHMAC(f, SchemeGitHub, HeaderGitHub) }

func FuzzVerifyInboundStripe(f *testing.F) {
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	good := "t=" + ts + ",v1=" + hex.EncodeToString(rawMAC([]byte(fuzzSecret), ts, ".", "body"))
	f.Add(good, []byte("body"))
	f.Add(good+",v1=00", []byte("bodz"))
	f.Add("t=1,v1="+strings.Repeat("0", 64), []byte("body"))
	f.Add("t=,v1=", []byte(""))
	f.Fuzz(func(t *testing.T, v string, body []byte) {
		h := header(HeaderStripe, v)
		if err := VerifyInbound(SchemeStripe, []string{"other", fuzzSecret}, h, body, fuzzNow); err == nil {
			// Oracle: some t=… is fresh and some v1=… is the HMAC of t.body.
			var tss, v1s []string
			for item := range strings.SplitSeq(h.Get(HeaderStripe), ",") {
				k, val, _ := strings.Cut(strings.TrimSpace(item), "=")
				switch k {
				case "t":
					tss = append(tss, val)
				case "v1":
					v1s = append(v1s, val)
				}
			}
			for _, ts := range tss {
				want := rawMAC([]byte(fuzzSecret), ts, ".", string(body))
				for _, s := range v1s {
					if oracleFresh(ts) && hexEqual(s, want) {
						return
					}
				}
			}
			t.Fatalf("accepted %q", v)
		}
	})
}

func FuzzVerifyInboundSlack(f *testing.F) {
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	good := "v0=" + hex.EncodeToString(rawMAC([]byte(fuzzSecret), "v0:", ts, ":", "body"))
	f.Add(good, ts, []byte("body"))
	f.Add(good, ts, []byte("bodz"))
	f.Add(good, "1", []byte("body"))
	f.Add("v0=", "", []byte(""))
	f.Fuzz(func(t *testing.T, v, ts string, body []byte) {
		h := header(HeaderSlack, v, HeaderSlackTimestamp, ts)
		if err := VerifyInbound(SchemeSlack, []string{"other", fuzzSecret}, h, body, fuzzNow); err == nil {
			ts := h.Get(HeaderSlackTimestamp)
			rest, ok := strings.CutPrefix(strings.TrimSpace(h.Get(HeaderSlack)), "v0=")
			if !ok || !oracleFresh(ts) || !hexEqual(rest, rawMAC([]byte(fuzzSecret), "v0:", ts, ":", string(body))) {
				t.Fatalf("accepted %q at %q", v, ts)
			}
		}
	})
}

func FuzzVerifyInboundStandardWebhooks(f *testing.F) {
	secret := "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	key, _ := DecodeSecret(secret)
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	good, _ := Sign(secret, "msg_1", fuzzNow.Unix(), []byte("body"))
	f.Add("msg_1", ts, good, []byte("body"))
	f.Add("msg_1", ts, good, []byte("bodz"))
	f.Add("msg_1", ts, "v1,bad "+good[:10], []byte("body"))
	f.Add("", "", "", []byte(""))
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte) {
		h := standardHeader(id, ts, sigs)
		if err := VerifyInbound(SchemeStandardWebhooks, []string{NewSecret(), secret}, h, body, fuzzNow); err == nil {
			if !oracleFresh(ts) || !standardOracle(key, h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body) {
				t.Fatalf("accepted id %q ts %q sigs %q", id, ts, sigs)
			}
		}
	})
}

func FuzzDecodeSecret(f *testing.F) {
	for _, s := range []string{"", "whsec_", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAA", "whsec_whsec_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := DecodeSecret(s)
		if err != nil {
			if strings.TrimPrefix(s, SecretPrefix) != "" && len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q echoes the secret", err)
			}
			return
		}
		if len(key) < MinSecretBytes {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
		// Whatever decodes must sign: NewSigner and Sign agree.
		if _, err := Sign(s, "id", 1, nil); err != nil {
			t.Fatalf("Sign refused a secret DecodeSecret accepted: %v", err)
		}
	})
}
