package api

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/hookd/hookd"
)

// Key limits.
const (
	maxKeyName   = 100
	keyPrefixLen = 11 // "hk_" and 8 characters, shown in lists to recognise a key
)

// apiKeyCreateRequest is the body of POST /v1/api-keys.
type apiKeyCreateRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// apiKeyWithSecret is the answer of create: the only one carrying the key.
type apiKeyWithSecret struct {
	*hookd.APIKey
	Key string `json:"key"`
}

// newAPIKey makes a key of workspace ws: the secret is "hk_" and 32 random
// bytes in unpadded base64url; the record holds its SHA-256. It returns the
// record to store and the secret to show once.
func newAPIKey(ws, name string, scopes []string, now time.Time) (*hookd.APIKey, string) {
	secret := NewAPIKeySecret()
	return APIKeyRecord(ws, name, scopes, secret, now), secret
}

// NewAPIKeySecret returns a new API key secret: "hk_" and 32 random bytes in
// unpadded base64url.
func NewAPIKeySecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return "hk_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// APIKeyRecord returns the record stored for the key secret: its SHA-256 and
// the prefix shown in lists, never the secret itself.
func APIKeyRecord(ws, name string, scopes []string, secret string, now time.Time) *hookd.APIKey {
	return &hookd.APIKey{
		ID:          hookd.NewIDAt(hookd.PrefixAPIKey, now),
		WorkspaceID: ws,
		Name:        name,
		Prefix:      secret[:keyPrefixLen],
		Scopes:      scopes,
		Hash:        hookd.HashToken(secret),
		CreatedAt:   now,
	}
}

func (s *Server) handleAPIKeyCreate(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req apiKeyCreateRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	var fe fieldErrors
	if msg := checkText(req.Name, maxKeyName); msg != "" {
		fe.add("name", msg)
	}
	scopes, msg := checkScopes(req.Scopes)
	if msg != "" {
		fe.add("scopes", msg)
	}
	if err := fe.err(); err != nil {
		return err
	}
	k, secret := newAPIKey(key.WorkspaceID, req.Name, scopes, s.now().UTC())
	if err := s.store.APIKeyCreate(r.Context(), k); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, apiKeyWithSecret{APIKey: k, Key: secret})
	return nil
}

// checkScopes returns the scopes without duplicates, in the order read,
// write, admin, or what is wrong with them.
func checkScopes(in []string) ([]string, string) {
	if len(in) == 0 {
		return nil, "must name at least one of read, write, admin"
	}
	seen := map[string]bool{}
	for _, sc := range in {
		switch sc {
		case hookd.ScopeRead, hookd.ScopeWrite, hookd.ScopeAdmin:
			seen[sc] = true
		default:
			return nil, "may only contain read, write, admin"
		}
	}
	var out []string
	for _, sc := range []string{hookd.ScopeRead, hookd.ScopeWrite, hookd.ScopeAdmin} {
		if seen[sc] {
			out = append(out, sc)
		}
	}
	return out, ""
}

func (s *Server) handleAPIKeyList(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	keys, total, err := s.store.APIKeyList(r.Context(), key.WorkspaceID, p)
	if err != nil {
		return err
	}
	for i := range keys {
		if keys[i].Scopes == nil {
			keys[i].Scopes = []string{}
		}
	}
	s.writeJSON(w, r, http.StatusOK, newList(keys, total, p))
	return nil
}

// handleAPIKeyDelete deletes a key of the caller's workspace and drops it
// from this server's key cache at once.
func (s *Server) handleAPIKeyDelete(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	id := r.PathValue("id")
	err := s.store.APIKeyDelete(r.Context(), key.WorkspaceID, id)
	if err != nil {
		return err
	}
	s.keys.dropID(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
