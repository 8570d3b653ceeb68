package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookd/hookd"
)

// WorkspaceCreate inserts ws, filling ID and CreatedAt when empty. EConflict
// when the name is taken.
func (s *Store) WorkspaceCreate(ctx context.Context, ws *hookd.Workspace) error {
	if ws.ID == "" {
		ws.ID = hookd.NewID(hookd.PrefixWorkspace)
	}
	if ws.CreatedAt.IsZero() {
		ws.CreatedAt = s.now()
	}
	ws.CreatedAt = trunc(ws.CreatedAt)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO workspaces (id, name, created) VALUES (?, ?, ?)`, ws.ID, ws.Name, us(ws.CreatedAt))
		return err
	})
	if isUnique(err) {
		return hookd.Errorf(hookd.EConflict, "workspace name %q is taken", ws.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: workspace create: %w", err)
	}
	return nil
}

// WorkspaceGet reads one workspace; ENotFound when absent.
func (s *Store) WorkspaceGet(ctx context.Context, id string) (*hookd.Workspace, error) {
	return s.workspaceWhere(ctx, "id", id)
}

// WorkspaceGetByName reads one workspace by its unique name; ENotFound when absent.
func (s *Store) WorkspaceGetByName(ctx context.Context, name string) (*hookd.Workspace, error) {
	return s.workspaceWhere(ctx, "name", name)
}

func (s *Store) workspaceWhere(ctx context.Context, col, v string) (*hookd.Workspace, error) {
	var ws hookd.Workspace
	var created int64
	err := s.rdb.QueryRowContext(ctx, `SELECT id, name, created FROM workspaces WHERE `+col+` = ?`, v).Scan(&ws.ID, &ws.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hookd.Errorf(hookd.ENotFound, "workspace not found")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: workspace get: %w", err)
	}
	ws.CreatedAt = fromUS(created)
	return &ws, nil
}

// WorkspaceList lists workspaces newest first with the total count.
func (s *Store) WorkspaceList(ctx context.Context, page hookd.Page) ([]hookd.Workspace, int, error) {
	limit, offset := pageArgs(page)
	var total int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: workspace list: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name, created FROM workspaces ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?`, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: workspace list: %w", err)
	}
	defer rows.Close()
	out := []hookd.Workspace{}
	for rows.Next() {
		var ws hookd.Workspace
		var created int64
		if err := rows.Scan(&ws.ID, &ws.Name, &created); err != nil {
			return nil, 0, fmt.Errorf("sqlite: workspace list: %w", err)
		}
		ws.CreatedAt = fromUS(created)
		out = append(out, ws)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: workspace list: %w", err)
	}
	return out, total, nil
}

// APIKeyCreate inserts key, filling ID and CreatedAt when empty. ENotFound
// when the workspace does not exist; EConflict when the hash is taken.
func (s *Store) APIKeyCreate(ctx context.Context, key *hookd.APIKey) error {
	if key.ID == "" {
		key.ID = hookd.NewID(hookd.PrefixAPIKey)
	}
	if key.CreatedAt.IsZero() {
		key.CreatedAt = s.now()
	}
	key.CreatedAt = trunc(key.CreatedAt)
	key.LastUsedAt = truncPtr(key.LastUsedAt)
	scopes, err := json.Marshal(key.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: api key create: %w", err)
	}
	return s.createIn(ctx, key.WorkspaceID, "api key", "api key already exists", func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO api_keys (id, workspace_id, name, prefix, scopes, operator, hash, created, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			key.ID, key.WorkspaceID, key.Name, key.Prefix, string(scopes), boolInt(key.Operator), key.Hash, us(key.CreatedAt), nullUS(key.LastUsedAt))
		return err
	})
}

const apiKeyCols = `id, workspace_id, name, prefix, scopes, operator, hash, created, last_used_at`

func scanAPIKey(sc interface{ Scan(...any) error }) (*hookd.APIKey, error) {
	var k hookd.APIKey
	var scopes string
	var created int64
	var lastUsed sql.NullInt64
	if err := sc.Scan(&k.ID, &k.WorkspaceID, &k.Name, &k.Prefix, &scopes, &k.Operator, &k.Hash, &created, &lastUsed); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, err
	}
	k.CreatedAt = fromUS(created)
	k.LastUsedAt = fromNullUS(lastUsed)
	return &k, nil
}

// APIKeyGetByHash finds a key of any workspace by the SHA-256 of its secret;
// ENotFound when none.
func (s *Store) APIKeyGetByHash(ctx context.Context, hash []byte) (*hookd.APIKey, error) {
	k, err := scanAPIKey(s.rdb.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = ?`, hash))
	return getResult(k, err, "api key")
}

// APIKeyList lists a workspace's keys newest first with the total count.
func (s *Store) APIKeyList(ctx context.Context, workspaceID string, page hookd.Page) ([]hookd.APIKey, int, error) {
	limit, offset := pageArgs(page)
	var total int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE workspace_id = ?`, workspaceID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: api key list: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE workspace_id = ?
		ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?`, workspaceID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: api key list: %w", err)
	}
	defer rows.Close()
	out := []hookd.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: api key list: %w", err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: api key list: %w", err)
	}
	return out, total, nil
}

// APIKeyDelete removes a key of the workspace; ENotFound when absent.
func (s *Store) APIKeyDelete(ctx context.Context, workspaceID, id string) error {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM api_keys WHERE workspace_id = ? AND id = ?`, workspaceID, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: api key delete: %w", err)
	}
	if n == 0 {
		return hookd.Errorf(hookd.ENotFound, "api key not found")
	}
	return nil
}

// createIn runs insert in the writer's transaction when the workspace
// exists. ENotFound ("workspace not found") when it does not; EConflict with
// conflict when the insert breaks a unique index; otherwise the error,
// wrapped as "sqlite: <what> create".
func (s *Store) createIn(ctx context.Context, workspaceID, what, conflict string, insert func(tx *sql.Tx) error) error {
	exists := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = ?)`, workspaceID).Scan(&exists); err != nil || !exists {
			return err
		}
		return insert(tx)
	})
	if isUnique(err) {
		return hookd.Errorf(hookd.EConflict, "%s", conflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: %s create: %w", what, err)
	}
	if !exists {
		return hookd.Errorf(hookd.ENotFound, "workspace not found")
	}
	return nil
}
