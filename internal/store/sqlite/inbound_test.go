package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/store/sqlite"
	"github.com/hookd/hookd/internal/store/storetest"
)

func TestInbound(t *testing.T) {
	t.Parallel()
	storetest.RunInbound(t, func(t *testing.T) storetest.InboundStore {
		return open(t, filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{})
	})
}

// TestTriggerSecretsAtRest reads the raw trigger rows through a separate
// handle: neither HMAC secret nor the token may appear in plain text.
func TestTriggerSecretsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hookd.db")
	s := open(t, path, sqlite.Options{})
	ws := &hookd.Workspace{Name: "w"}
	if err := s.WorkspaceCreate(ctx, ws); err != nil {
		t.Fatal(err)
	}
	j := &hookd.Job{WorkspaceID: ws.ID, Name: "j", Kind: hookd.JobHTTP}
	if err := s.JobCreate(ctx, j); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	const token = "wht_TOKENplaintext"
	tr := &hookd.Trigger{WorkspaceID: ws.ID, JobID: j.ID, IsActive: true, TokenHash: hookd.HashToken(token),
		Secret: "CURRENTplaintext", PreviousSecret: "PREVIOUSplaintext", PreviousSecretExpiresAt: &exp}
	if err := s.TriggerCreate(ctx, tr); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(ctx, `SELECT * FROM triggers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var b []byte
			switch v := v.(type) {
			case []byte:
				b = v
			case string:
				b = []byte(v)
			}
			for _, secret := range []string{"CURRENTplaintext", "PREVIOUSplaintext", "TOKENplaintext"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("column %s holds the plaintext %s", cols[i], secret)
				}
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d trigger rows", n)
	}
	got, err := s.TriggerGet(ctx, ws.ID, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != tr.Secret || got.PreviousSecret != tr.PreviousSecret || !got.HasSecret {
		t.Errorf("secrets read back: %q, %q, has_secret %v", got.Secret, got.PreviousSecret, got.HasSecret)
	}
	// A store opened with another master key cannot read it.
	s.Close()
	other := open(t, path, sqlite.Options{})
	if _, err := other.TriggerGet(ctx, ws.ID, tr.ID); err == nil {
		t.Error("trigger readable under a different master key")
	}
}
