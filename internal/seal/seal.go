// Package seal encrypts secrets at rest with AES-256-GCM under the master key,
// which comes from HOOKD_MASTER_KEY or from <data-dir>/master.key (made on
// first start, mode 0600).
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the master key length in bytes.
const KeySize = 32

// version prefixes every sealed value so the format can change later.
const version byte = 1

// AESGCM implements hookd.Sealer.
type AESGCM struct{ aead cipher.AEAD }

// New returns a sealer for a 32-byte key.
func New(key []byte) (*AESGCM, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &AESGCM{aead: aead}, nil
}

// Seal encrypts plaintext: version byte, nonce, ciphertext and tag.
func (s *AESGCM) Seal(plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, nil), nil
}

// Open decrypts what Seal produced; a wrong key or tampered value is an error.
func (s *AESGCM) Open(sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != version {
		return nil, errors.New("seal: malformed sealed value")
	}
	pt, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], nil)
	if err != nil {
		return nil, errors.New("seal: cannot decrypt (wrong master key?)")
	}
	return pt, nil
}

// LoadKey returns the master key: env (base64 of 32 bytes) when non-empty,
// else the file <dataDir>/master.key, created with a random key when absent.
func LoadKey(env, dataDir string) ([]byte, error) {
	if env != "" {
		return decodeKey(env, "HOOKD_MASTER_KEY")
	}
	path := filepath.Join(dataDir, "master.key")
	b, err := os.ReadFile(path)
	if err == nil {
		return decodeKey(string(b), path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("seal: read master key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("seal: generate master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("seal: create master key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal: write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal: write master key: %w", err)
	}
	return key, f.Close()
}

func decodeKey(s, where string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("seal: %s must hold the base64 of %d bytes", where, KeySize)
	}
	return key, nil
}

// sealer is what SealOptional and OpenOptional use (hookd.Sealer).
type sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// SealOptional seals plain, or returns nil for "": a secret that is not set
// (a trigger without one, a rotation grace that has ended) is stored as NULL.
func SealOptional(s sealer, plain string) ([]byte, error) {
	if plain == "" {
		return nil, nil
	}
	return s.Seal([]byte(plain))
}

// OpenOptional opens what SealOptional stored: "" for nil.
func OpenOptional(s sealer, sealed []byte) (string, error) {
	if sealed == nil {
		return "", nil
	}
	pt, err := s.Open(sealed)
	return string(pt), err
}
