package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	_, err := s.pool.Exec(ctx, `INSERT INTO workspaces (id, name, created) VALUES ($1, $2, $3)`, ws.ID, ws.Name, ws.CreatedAt)
	if pgCode(err) == codeUnique {
		return hookd.Errorf(hookd.EConflict, "workspace name %q is taken", ws.Name)
	}
	if err != nil {
		return fmt.Errorf("postgres: workspace create: %w", err)
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
	err := s.pool.QueryRow(ctx, `SELECT id, name, created FROM workspaces WHERE `+col+` = $1`, v).Scan(&ws.ID, &ws.Name, &ws.CreatedAt)
	if err != nil {
		if err := notFound(err, "workspace"); hookd.IsNotFound(err) {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: workspace get: %w", err)
	}
	return &ws, nil
}

// WorkspaceList lists workspaces newest first with the total count.
func (s *Store) WorkspaceList(ctx context.Context, page hookd.Page) ([]hookd.Workspace, int, error) {
	limit, offset := pageArgs(page)
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM workspaces`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: workspace list: %w", err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, name, created FROM workspaces ORDER BY created DESC, id DESC LIMIT $1 OFFSET $2`, limit, offset)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Workspace, error) {
		var ws hookd.Workspace
		err := r.Scan(&ws.ID, &ws.Name, &ws.CreatedAt)
		return ws, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: workspace list: %w", err)
	}
	return nonNil(out), total, nil
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
		return fmt.Errorf("postgres: api key create: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		key.ID, key.WorkspaceID, key.Name, key.Prefix, scopes, key.Operator, key.Hash, key.CreatedAt, key.LastUsedAt)
	switch pgCode(err) {
	case "":
	case codeUnique:
		return hookd.Errorf(hookd.EConflict, "api key already exists")
	case codeForeignKey:
		return hookd.Errorf(hookd.ENotFound, "workspace not found")
	}
	if err != nil {
		return fmt.Errorf("postgres: api key create: %w", err)
	}
	return nil
}

const apiKeyCols = `id, workspace_id, name, prefix, scopes, operator, hash, created, last_used_at`

func scanAPIKey(sc pgx.Row) (*hookd.APIKey, error) {
	var k hookd.APIKey
	var scopes []byte
	if err := sc.Scan(&k.ID, &k.WorkspaceID, &k.Name, &k.Prefix, &scopes, &k.Operator, &k.Hash, &k.CreatedAt, &k.LastUsedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(scopes, &k.Scopes); err != nil {
		return nil, err
	}
	return &k, nil
}

// APIKeyGetByHash finds a key of any workspace by the SHA-256 of its secret;
// ENotFound when none.
func (s *Store) APIKeyGetByHash(ctx context.Context, hash []byte) (*hookd.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = $1`, hash))
	if err != nil {
		if err := notFound(err, "api key"); hookd.IsNotFound(err) {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: api key get: %w", err)
	}
	return k, nil
}

// APIKeyList lists a workspace's keys newest first with the total count.
func (s *Store) APIKeyList(ctx context.Context, workspaceID string, page hookd.Page) ([]hookd.APIKey, int, error) {
	limit, offset := pageArgs(page)
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM api_keys WHERE workspace_id = $1`, workspaceID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: api key list: %w", err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE workspace_id = $1
		ORDER BY created DESC, id DESC LIMIT $2 OFFSET $3`, workspaceID, limit, offset)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.APIKey, error) {
		k, err := scanAPIKey(r)
		if err != nil {
			return hookd.APIKey{}, err
		}
		return *k, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: api key list: %w", err)
	}
	return nonNil(out), total, nil
}

// APIKeyDelete removes a key of the workspace; ENotFound when absent.
func (s *Store) APIKeyDelete(ctx context.Context, workspaceID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_keys WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	if err != nil {
		return fmt.Errorf("postgres: api key delete: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return hookd.Errorf(hookd.ENotFound, "api key not found")
	}
	return nil
}

// nonNil returns s, or an empty slice for nil: lists never return nil.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
