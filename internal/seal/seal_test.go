package seal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, err := LoadKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key mode: %v %v", fi, err)
	}
	again, err := LoadKey("", dir)
	if err != nil || !bytes.Equal(key, again) {
		t.Fatalf("second load differs: %v", err)
	}
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("whsec_secret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("whsec_secret")) {
		t.Fatal("plaintext visible in sealed value")
	}
	pt, err := s.Open(sealed)
	if err != nil || string(pt) != "whsec_secret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := s.Open(sealed); err == nil {
		t.Fatal("tampered value opened")
	}
	other, _ := New(bytes.Repeat([]byte{7}, KeySize))
	sealed2, _ := s.Seal([]byte("x"))
	if _, err := other.Open(sealed2); err == nil {
		t.Fatal("opened with the wrong key")
	}
	if _, err := LoadKey("bm90LWEta2V5", dir); err == nil {
		t.Fatal("short env key accepted")
	}
}
