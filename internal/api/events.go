package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/hookd/hookd"
)

// Event limits.
const (
	maxEventType      = 255
	maxIdempotencyKey = 255
)

// eventRequest is the body of POST /v1/events.
type eventRequest struct {
	Type           string          `json:"type"`
	Data           json.RawMessage `json:"data"`
	OwnerID        string          `json:"owner_id"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// eventPublished is the answer of POST /v1/events, for the first publication
// and for an idempotent replay alike.
type eventPublished struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Timestamp  time.Time `json:"timestamp"`
	Deliveries []string  `json:"deliveries"`
}

// eventResponse is an event as GET answers it.
type eventResponse struct {
	*hookd.Event
	Data       json.RawMessage `json:"data"`
	Deliveries []string        `json:"deliveries"`
}

// parseEvent validates the body of POST /v1/events together with the
// Idempotency-Key header (which may replace, but not contradict, the body's
// idempotency_key). It is pure, for the fuzz test: every error is EInvalid.
func parseEvent(body []byte, headerKey string) (hookd.PublishParams, error) {
	var req eventRequest
	if err := decodeStrict(body, &req); err != nil {
		return hookd.PublishParams{}, err
	}
	var fe fieldErrors
	if msg := checkEventType(req.Type); msg != "" {
		fe.add("type", msg)
	}
	data := bytes.TrimSpace(req.Data)
	switch {
	case len(data) == 0:
		data = []byte("{}")
	case data[0] != '{':
		fe.add("data", "must be a JSON object")
	}
	if msg := checkText(req.OwnerID, maxOwnerID); msg != "" {
		fe.add("owner_id", msg)
	}
	key := req.IdempotencyKey
	if headerKey != "" {
		if key != "" && key != headerKey {
			fe.add("idempotency_key", "differs from the Idempotency-Key header")
		}
		key = headerKey
	}
	if len(key) > maxIdempotencyKey {
		fe.add("idempotency_key", "must be at most "+strconv.Itoa(maxIdempotencyKey)+" bytes")
	} else if msg := checkText(key, maxIdempotencyKey); msg != "" {
		fe.add("idempotency_key", msg)
	}
	if err := fe.err(); err != nil {
		return hookd.PublishParams{}, err
	}
	return hookd.PublishParams{Type: req.Type, Data: json.RawMessage(data), OwnerID: req.OwnerID, IdempotencyKey: key}, nil
}

// checkEventType returns "" for a valid event type (1–255 characters of
// [A-Za-z0-9._:-]) and what is wrong otherwise.
func checkEventType(t string) string {
	if t == "" {
		return "is required"
	}
	if len(t) > maxEventType {
		return "must be at most " + strconv.Itoa(maxEventType) + " characters"
	}
	for i := 0; i < len(t); i++ {
		if !typeChar(t[i]) {
			return "may only contain letters, digits and . _ : -"
		}
	}
	return ""
}

// typeChar reports whether c is in [A-Za-z0-9._:-].
func typeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '-'
}

// handleEventPublish commits an event and its deliveries, then answers 202.
// A repeated idempotency key answers the first event (with
// Idempotent-Replayed: true) and creates nothing.
func (s *Server) handleEventPublish(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	p, err := parseEvent(body, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	p.WorkspaceID = key.WorkspaceID
	p.Now = s.now().UTC()
	evt, existing, err := s.store.EventPublish(r.Context(), p)
	if err != nil {
		return err
	}
	if !existing {
		if s.counters != nil {
			s.counters.EventsPublished.Inc()
		}
		if len(evt.DeliveryIDs) > evt.Claimed { // claimed ones are in flight already
			s.wake()
		}
	}
	if existing {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	out := eventPublished{ID: evt.ID, Type: evt.Type, Timestamp: evt.Timestamp.UTC(), Deliveries: evt.DeliveryIDs}
	if out.Deliveries == nil {
		out.Deliveries = []string{}
	}
	s.writeJSON(w, r, http.StatusAccepted, out)
	return nil
}

func (s *Server) handleEventGet(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	evt, err := s.store.EventGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := eventResponse{Event: evt, Data: evt.Data, Deliveries: evt.DeliveryIDs}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage("{}")
	}
	if out.Deliveries == nil {
		out.Deliveries = []string{}
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
