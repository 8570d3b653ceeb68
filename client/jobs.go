package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// JobCreate is the body of CreateJob. Name and Kind are required; Config is
// any JSON-encodable value (see DESIGN §4 for each kind's config). Zero values
// are left out and get the server's defaults (concurrency 1, timeout 600 s, no
// schedule).
type JobCreate struct {
	Name           string    `json:"name"`
	Kind           string    `json:"kind"` // JobHTTP, JobCommand, JobEvent, JobGroup
	Config         any       `json:"config,omitempty"`
	Concurrency    int       `json:"concurrency,omitempty"`
	TimeoutSeconds int       `json:"timeout_seconds,omitempty"`
	Schedule       *Schedule `json:"schedule,omitempty"`
	OwnerID        string    `json:"owner_id,omitempty"`
}

// JobUpdate is the body of UpdateJob: only the fields that are set (non-nil)
// are sent and changed.
type JobUpdate struct {
	Name           *string   `json:"name,omitempty"`
	Config         any       `json:"config,omitempty"`
	Concurrency    *int      `json:"concurrency,omitempty"`
	TimeoutSeconds *int      `json:"timeout_seconds,omitempty"`
	Schedule       *Schedule `json:"schedule,omitempty"`
	OwnerID        *string   `json:"owner_id,omitempty"`
}

// ExecutionFilter selects the executions ListExecutions returns.
type ExecutionFilter struct {
	JobID     string
	TriggerID string
	Status    string // ExecQueued, …
	Source    string // SourceWebhook, …
	Limit     int
	Offset    int
}

// CreateJob adds a job to the workspace.
func (c *Client) CreateJob(ctx context.Context, p JobCreate) (*Job, error) {
	var out Job
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/jobs", body: p}, &out)
	return ptr(&out, err)
}

// ListJobs returns one page of the workspace's jobs, newest first.
func (c *Client) ListJobs(ctx context.Context, p Page) (*List[Job], error) {
	var out List[Job]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/jobs", query: p.values()}, &out)
	return ptr(&out, err)
}

// GetJob reads one job.
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	var out Job
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/jobs/" + esc(id)}, &out)
	return ptr(&out, err)
}

// UpdateJob changes the fields set in p and returns the job as stored.
func (c *Client) UpdateJob(ctx context.Context, id string, p JobUpdate) (*Job, error) {
	var out Job
	err := c.do(ctx, request{method: http.MethodPatch, path: "/v1/jobs/" + esc(id), body: p}, &out)
	return ptr(&out, err)
}

// DeleteJob removes a job.
func (c *Client) DeleteJob(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/jobs/" + esc(id)}, nil)
}

// RunJob starts an execution of a job with input (any JSON-encodable value;
// nil sends no input). With wait nil the server answers at once (202,
// "queued"); with *wait > 0 it waits up to that many seconds: 200 with Result
// when the run succeeded, 500 with Reason when it failed (returned as a
// TriggerResponse with Success false, not as an error), 202 when it is still
// running. The execution goes on when ctx ends.
func (c *Client) RunJob(ctx context.Context, jobID string, input any, wait *int) (*TriggerResponse, error) {
	body := struct {
		Input any `json:"input,omitempty"`
	}{input}
	r := request{method: http.MethodPost, path: "/v1/jobs/" + esc(jobID) + "/run", body: body}
	if wait != nil {
		r.query = map[string][]string{"wait": {strconv.Itoa(*wait)}}
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	return triggerAnswer(r, resp)
}

// ListExecutions returns one page of the workspace's executions, newest
// first.
func (c *Client) ListExecutions(ctx context.Context, f ExecutionFilter) (*List[Execution], error) {
	q := Page{Limit: f.Limit, Offset: f.Offset}.values()
	setStr(q, "job_id", f.JobID)
	setStr(q, "trigger_id", f.TriggerID)
	setStr(q, "status", f.Status)
	setStr(q, "source", f.Source)
	var out List[Execution]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/executions", query: q}, &out)
	return ptr(&out, err)
}

// GetExecution reads one execution with its input, result and timing.
func (c *Client) GetExecution(ctx context.Context, id string) (*Execution, error) {
	var out Execution
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/executions/" + esc(id)}, &out)
	return ptr(&out, err)
}

// CallTrigger calls a trigger the way an outside system does: POST body to
// urlOrToken, either a trigger's full URL or its token (then
// <baseURL>/hooks/<token>). The API key is never sent. header is added as is
// (signature headers, a dedup header, Content-Type; application/json when a
// non-empty body has none). Answers of the trigger's run (200, 202, and 500
// for a failed sync run) are returned as a TriggerResponse; refusals (401, 403,
// 405, 413, 429 …) as an *Error, with RetryAfter on 429.
func (c *Client) CallTrigger(ctx context.Context, urlOrToken string, body []byte, header http.Header) (*TriggerResponse, error) {
	u := urlOrToken
	token := urlOrToken
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		token = u[strings.LastIndex(u, "/")+1:]
	} else {
		u = c.baseURL + "/hooks/" + esc(token)
	}
	// The token is a credential: error messages show only its prefix.
	if len(token) > 8 {
		token = token[:8] + "…"
	}
	path := "/hooks/" + token
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if len(body) > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	if body == nil {
		body = []byte{}
	}
	r := request{method: http.MethodPost, path: path, body: body, header: h, noAuth: true, redact: true}
	resp, err := c.sendURL(ctx, u, r)
	if err != nil {
		return nil, err
	}
	return triggerAnswer(r, resp)
}

// triggerAnswer decodes the answer of a trigger call or a job run and closes
// its body.
func triggerAnswer(r request, resp *http.Response) (*TriggerResponse, error) {
	defer drainClose(resp.Body)
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	if !ok && resp.StatusCode != http.StatusInternalServerError {
		return nil, decodeError(resp)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	// A run answer, or an execution when the server answers with one.
	var a struct {
		TriggerResponse
		ID string `json:"id"`
	}
	jerr := json.Unmarshal(raw, &a)
	if jerr == nil && a.ExecutionID == "" && a.ID != "" {
		a.ExecutionID = a.ID
		if ok {
			a.Success = a.Status != ExecFailed && a.Status != ExecCanceled
		}
	}
	if !ok && (jerr != nil || a.ExecutionID == "") {
		return nil, decodeErrorBytes(resp, raw)
	}
	if jerr != nil {
		return nil, decodeFailure(r, resp, jerr)
	}
	out := a.TriggerResponse
	out.HTTPStatus = resp.StatusCode
	return &out, nil
}
