package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// APIKeyCreate is the body of CreateAPIKey.
type APIKeyCreate struct {
	Name   string   `json:"name,omitempty"`
	Scopes []string `json:"scopes"` // "read", "write", "admin" (admin ⊃ write ⊃ read)
}

// CreateWorkspace makes a workspace (operator key only) and an admin key of
// it. The key's secret is in the returned APIKey's Key, shown only here.
//
// The answer is read leniently: the workspace either at the top level or
// under "workspace", and "api_key" either the secret itself or a key object.
func (c *Client) CreateWorkspace(ctx context.Context, name string) (*Workspace, *APIKey, error) {
	body := struct {
		Name string `json:"name"`
	}{name}
	var raw json.RawMessage
	r := request{method: http.MethodPost, path: "/v1/workspaces", body: body}
	if err := c.do(ctx, r, &raw); err != nil {
		return nil, nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, nil, fmt.Errorf("hookd client: POST /v1/workspaces: decode answer: %w", err)
	}
	wsJSON := []byte(raw)
	if w, ok := top["workspace"]; ok {
		wsJSON = w
	}
	var ws Workspace
	if err := json.Unmarshal(wsJSON, &ws); err != nil {
		return nil, nil, fmt.Errorf("hookd client: POST /v1/workspaces: decode workspace: %w", err)
	}
	key := &APIKey{WorkspaceID: ws.ID}
	if k, ok := top["api_key"]; ok {
		if t := bytes.TrimSpace(k); len(t) > 0 && t[0] == '"' {
			if err := json.Unmarshal(k, &key.Key); err != nil {
				return nil, nil, fmt.Errorf("hookd client: POST /v1/workspaces: decode api_key: %w", err)
			}
		} else if err := json.Unmarshal(k, key); err != nil {
			return nil, nil, fmt.Errorf("hookd client: POST /v1/workspaces: decode api_key: %w", err)
		}
	}
	return &ws, key, nil
}

// ListWorkspaces returns one page of the workspaces (operator key only).
func (c *Client) ListWorkspaces(ctx context.Context, p Page) (*List[Workspace], error) {
	var out List[Workspace]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/workspaces", query: p.values()}, &out)
	return ptr(&out, err)
}

// CreateAPIKey makes a key of the caller's workspace (admin scope). The
// secret is in the answer's Key, shown only here.
func (c *Client) CreateAPIKey(ctx context.Context, p APIKeyCreate) (*APIKey, error) {
	var out APIKey
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/api-keys", body: p}, &out)
	return ptr(&out, err)
}

// ListAPIKeys returns one page of the workspace's keys (admin scope), without
// their secrets.
func (c *Client) ListAPIKeys(ctx context.Context, p Page) (*List[APIKey], error) {
	var out List[APIKey]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/api-keys", query: p.values()}, &out)
	return ptr(&out, err)
}

// DeleteAPIKey revokes a key (admin scope); requests with it answer 401 from
// then on.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/api-keys/" + esc(id)}, nil)
}

// Health asks /healthz whether the server process is up. It sends no API key.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	return c.probe(ctx, "/healthz")
}

// Ready asks /readyz whether the server can serve (its database answers); a
// server that is not ready gives an *Error, usually 503.
func (c *Client) Ready(ctx context.Context) (*Health, error) {
	return c.probe(ctx, "/readyz")
}

func (c *Client) probe(ctx context.Context, path string) (*Health, error) {
	r := request{method: http.MethodGet, path: path, noAuth: true}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeError(resp)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, fmt.Errorf("hookd client: GET %s: %w", path, err)
	}
	var h Health
	if json.Unmarshal(raw, &h) != nil {
		h = Health{Status: strings.TrimSpace(string(raw))}
	}
	return &h, nil
}
