package signature

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// conformanceDir is where CI clones the shared contract beside the repo. The
// tests fail (never skip) when it is missing: the cases are the contract.
const conformanceDir = "../../shared/conformance"

type standardWebhooksFile struct {
	Sign []struct {
		Secret    string `json:"secret"`
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Body      string `json:"body"`
		Signature string `json:"signature"`
	} `json:"sign"`
	SignV1a []struct {
		PrivateKeyBase64 string `json:"private_key_base64"`
		PublicKey        string `json:"public_key"`
		ID               string `json:"id"`
		Timestamp        int64  `json:"timestamp"`
		Body             string `json:"body"`
		Signature        string `json:"signature"`
	} `json:"sign_v1a"`
	VerifyMustFail      []string `json:"verify_must_fail"`
	VerifyMustPass      []string `json:"verify_must_pass"`
	SecretMustBeRefused []string `json:"secret_must_be_refused"`
}

type inboundFile struct {
	Cases []struct {
		Scheme  string            `json:"scheme"`
		Source  string            `json:"source"`
		Secret  string            `json:"secret"`
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers"`
		Note    string            `json:"note"`
	} `json:"cases"`
	StripeRule string `json:"stripe_rule"`
	SlackRule  string `json:"slack_rule"`
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(conformanceDir, name))
	if err != nil {
		t.Fatalf("conformance file missing (shared/ must sit beside the repo): %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadStandardWebhooks(t testing.TB) standardWebhooksFile {
	var f standardWebhooksFile
	loadJSON(t, "standard-webhooks.json", &f)
	if len(f.Sign) == 0 || len(f.VerifyMustFail) == 0 || len(f.VerifyMustPass) == 0 || len(f.SecretMustBeRefused) == 0 {
		t.Fatal("standard-webhooks.json: a section is empty")
	}
	return f
}

func loadInbound(t testing.TB) inboundFile {
	var f inboundFile
	loadJSON(t, "inbound-signatures.json", &f)
	if len(f.Cases) == 0 {
		t.Fatal("inbound-signatures.json: no cases")
	}
	return f
}

// requireCovered fails when a sentence of the conformance file has no test
// case claiming it, so that a new sentence cannot be silently ignored.
func requireCovered(t *testing.T, section string, sentences []string, covered map[string]bool) {
	t.Helper()
	for _, s := range sentences {
		if !covered[s] {
			t.Errorf("%s: no test case implements %q", section, s)
		}
	}
}
