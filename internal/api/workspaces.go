package api

import (
	"net/http"
	"strings"

	"github.com/hookd/hookd"
)

// maxWorkspaceName bounds a workspace name, in bytes.
const maxWorkspaceName = 100

// workspaceCreateRequest is the body of POST /v1/workspaces.
type workspaceCreateRequest struct {
	Name string `json:"name"`
}

// workspaceCreated is the answer of create: the workspace and its first
// admin key, shown once.
type workspaceCreated struct {
	*hookd.Workspace
	APIKey string `json:"api_key"`
}

// handleWorkspaceCreate creates a workspace (names are unique: 409) and an
// admin key of it.
func (s *Server) handleWorkspaceCreate(w http.ResponseWriter, r *http.Request, _ *hookd.APIKey) error {
	var req workspaceCreateRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(req.Name) == "":
		return hookd.FieldErrorf("name", "is required")
	case req.Name != strings.TrimSpace(req.Name):
		return hookd.FieldErrorf("name", "must not start or end with spaces")
	}
	if msg := checkText(req.Name, maxWorkspaceName); msg != "" {
		return hookd.FieldErrorf("name", "%s", msg)
	}
	now := s.now().UTC()
	ws := &hookd.Workspace{ID: hookd.NewIDAt(hookd.PrefixWorkspace, now), Name: req.Name, CreatedAt: now}
	if err := s.store.WorkspaceCreate(r.Context(), ws); err != nil {
		return err
	}
	k, secret := newAPIKey(ws.ID, "admin", []string{hookd.ScopeAdmin}, now)
	if err := s.store.APIKeyCreate(r.Context(), k); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, workspaceCreated{Workspace: ws, APIKey: secret})
	return nil
}

func (s *Server) handleWorkspaceList(w http.ResponseWriter, r *http.Request, _ *hookd.APIKey) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	wss, total, err := s.store.WorkspaceList(r.Context(), p)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, newList(wss, total, p))
	return nil
}
