package api

import (
	_ "embed"
	"net/http"

	"github.com/hookd/hookd"
)

// openAPISpec is the OpenAPI 3.1 description of the whole API (DESIGN §2).
//
//go:embed openapi.json
var openAPISpec []byte

// handleHealth answers liveness without touching the store.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ *hookd.APIKey) error {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok", "version": hookd.Version})
	return nil
}

// handleReady answers 200 when Ready (by default Store.Ping) succeeds, 503
// otherwise; the cause is logged, not shown.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, _ *hookd.APIKey) error {
	if err := s.ready(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "request_id", w.Header().Get(requestIDHeader), "error", err.Error())
		return hookd.Errorf(hookd.EUnavailable, "not ready")
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready", "version": hookd.Version})
	return nil
}

// handleMetrics serves the Prometheus exposition of the Gatherer.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ *hookd.APIKey) error {
	s.metricsH.ServeHTTP(w, r)
	return nil
}

// handleOpenAPI serves the embedded OpenAPI document.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request, _ *hookd.APIKey) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPISpec)
	return nil
}
