package api

import (
	"net/http"

	"github.com/hookd/hookd"
)

// deliveryResponse is one delivery with its attempts (an empty list, not an
// absent one, before the first attempt).
type deliveryResponse struct {
	*hookd.Delivery
	AttemptList []hookd.Attempt `json:"attempt_list"`
}

func deliveryOut(d *hookd.Delivery) deliveryResponse {
	out := deliveryResponse{Delivery: d, AttemptList: d.AttemptList}
	if out.AttemptList == nil {
		out.AttemptList = []hookd.Attempt{}
	}
	return out
}

func (s *Server) handleDeliveryGet(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	d, err := s.store.DeliveryGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, deliveryOut(d))
	return nil
}

// handleDeliveryRetry schedules an extra attempt now, outside the retry
// budget. The store answers EConflict (409) when the webhook is gone or an
// attempt is in flight.
func (s *Server) handleDeliveryRetry(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req struct{}
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	d, err := s.store.DeliveryRetry(r.Context(), key.WorkspaceID, r.PathValue("id"), s.now().UTC())
	if err != nil {
		return err
	}
	s.wake()
	s.writeJSON(w, r, http.StatusAccepted, deliveryOut(d))
	return nil
}
