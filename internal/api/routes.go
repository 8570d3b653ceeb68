package api

import (
	"net/http"

	"github.com/hookd/hookd"
)

// handlerFunc serves one route. key is the caller's API key (nil on public
// routes); a returned error is answered by writeError, so a handler either
// writes a success answer or returns an error, never both.
type handlerFunc func(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error

// route is one entry of the route table.
type route struct {
	pattern string // a net/http.ServeMux pattern: "METHOD /path/{wildcard}"
	access  access // what the caller's key needs
	handle  handlerFunc
}

// routeTable is the whole API: every route, once, with what it demands.
// openapi_test.go checks it against openapi.json in both directions.
func (s *Server) routeTable() []route {
	return []route{
		{"GET /healthz", public, s.handleHealth},
		{"GET /readyz", public, s.handleReady},
		{"GET /metrics", public, s.handleMetrics},
		{"GET /openapi.json", public, s.handleOpenAPI},

		{"POST /v1/workspaces", operator, s.handleWorkspaceCreate},
		{"GET /v1/workspaces", operator, s.handleWorkspaceList},

		{"POST /v1/api-keys", admin, s.handleAPIKeyCreate},
		{"GET /v1/api-keys", admin, s.handleAPIKeyList},
		{"DELETE /v1/api-keys/{id}", admin, s.handleAPIKeyDelete},

		{"POST /v1/webhooks", write, s.handleWebhookCreate},
		{"GET /v1/webhooks", read, s.handleWebhookList},
		{"GET /v1/webhooks/{id}", read, s.handleWebhookGet},
		{"PATCH /v1/webhooks/{id}", write, s.handleWebhookUpdate},
		{"DELETE /v1/webhooks/{id}", write, s.handleWebhookDelete},
		{"POST /v1/webhooks/{id}/rotate-secret", write, s.handleWebhookRotateSecret},
		{"GET /v1/webhooks/{id}/deliveries", read, s.handleWebhookDeliveries},
		{"GET /v1/webhooks/{id}/deliveries/summary", read, s.handleWebhookDeliverySummary},

		{"GET /v1/deliveries/{id}", read, s.handleDeliveryGet},
		{"POST /v1/deliveries/{id}/retry", write, s.handleDeliveryRetry},

		{"POST /v1/events", write, s.handleEventPublish},
		{"GET /v1/events/{id}", read, s.handleEventGet},

		{"POST /v1/triggers", write, s.inb(s.handleTriggerCreate)},
		{"GET /v1/triggers", read, s.inb(s.handleTriggerList)},
		{"GET /v1/triggers/{id}", read, s.inb(s.handleTriggerGet)},
		{"PATCH /v1/triggers/{id}", write, s.inb(s.handleTriggerUpdate)},
		{"DELETE /v1/triggers/{id}", write, s.inb(s.handleTriggerDelete)},
		{"POST /v1/triggers/{id}/rotate-token", write, s.inb(s.handleTriggerRotateToken)},
		{"POST /v1/triggers/{id}/rotate-secret", write, s.inb(s.handleTriggerRotateSecret)},
		{"GET /v1/triggers/{id}/calls", read, s.inb(s.handleTriggerCalls)},

		{"POST /v1/jobs", write, s.inb(s.handleJobCreate)},
		{"GET /v1/jobs", read, s.inb(s.handleJobList)},
		{"GET /v1/jobs/{id}", read, s.inb(s.handleJobGet)},
		{"PATCH /v1/jobs/{id}", write, s.inb(s.handleJobUpdate)},
		{"DELETE /v1/jobs/{id}", write, s.inb(s.handleJobDelete)},
		{"POST /v1/jobs/{id}/run", write, s.inb(s.handleJobRun)},

		{"GET /v1/executions", read, s.inb(s.handleExecutionList)},
		{"GET /v1/executions/{id}", read, s.inb(s.handleExecutionGet)},

		// Trigger calls: mounted only when Config.Inbound is set; routes()
		// adds /hooks/{token} for the other methods, which the handler
		// answers with 405 itself.
		{"POST /hooks/{token}", triggerToken, s.handleInbound},
		{"GET /hooks/{token}", triggerToken, s.handleInbound},
		{"POST /v1/webhook/trigger", triggerToken, s.handleInbound},
	}
}

// inboundAllMethods is the pattern that takes the other methods of trigger
// URLs to the inbound handler.
const inboundAllMethods = "/hooks/{token}"

// routes registers the table on a ServeMux.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		if rt.access == triggerToken && s.inbound == nil {
			continue
		}
		mux.Handle(rt.pattern, s.serveRoute(rt))
	}
	if s.inbound != nil {
		mux.Handle(inboundAllMethods, s.serveRoute(route{inboundAllMethods, triggerToken, s.handleInbound}))
	}
	return mux
}

// serveRoute wraps a route's handler with authentication, authorization and
// error answers.
func (s *Server) serveRoute(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw, _ := w.(*responseWriter)
		if rw != nil {
			rw.routed = true
		}
		var key *hookd.APIKey
		if rt.access != public && rt.access != triggerToken {
			k, err := s.authenticate(r)
			if err != nil {
				if hookd.ErrorCode(err) == hookd.EUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="hookd"`)
				}
				s.writeError(w, r, err)
				return
			}
			if rw != nil {
				rw.keyID = k.ID
			}
			if err := authorize(k, rt.access); err != nil {
				s.writeError(w, r, err)
				return
			}
			key = k
		}
		if err := rt.handle(w, r, key); err != nil {
			s.writeError(w, r, err)
		}
	})
}
