package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/job"
)

// errCommandJobs refuses command jobs from API keys (DESIGN §4).
var errCommandJobs = hookd.Errorf(hookd.EForbidden, "command jobs come from the server's config file, or run the server with --allow-command-jobs")

// jobCreateRequest is the body of POST /v1/jobs.
type jobCreateRequest struct {
	Name           string          `json:"name"`
	Kind           string          `json:"kind"`
	Config         json.RawMessage `json:"config"`
	Concurrency    int             `json:"concurrency"`
	TimeoutSeconds int             `json:"timeout_seconds"`
	Schedule       *hookd.Schedule `json:"schedule"`
	OwnerID        string          `json:"owner_id"`
}

// jobUpdateRequest is the body of PATCH /v1/jobs/{id}: absent fields stay
// as they are; "schedule": null removes the schedule.
type jobUpdateRequest struct {
	Name           *string         `json:"name"`
	Kind           *string         `json:"kind"`
	Config         json.RawMessage `json:"config"`
	Concurrency    *int            `json:"concurrency"`
	TimeoutSeconds *int            `json:"timeout_seconds"`
	Schedule       json.RawMessage `json:"schedule"`
	OwnerID        *string         `json:"owner_id"`
}

// jobRunRequest is the optional body of POST /v1/jobs/{id}/run.
type jobRunRequest struct {
	Input json.RawMessage `json:"input"`
}

// runAnswer is the answer of a run, the same shape as a trigger call's.
type runAnswer struct {
	Success     bool            `json:"success"`
	ExecutionID string          `json:"execution_id"`
	Status      string          `json:"status"`
	Result      json.RawMessage `json:"result,omitempty"`
	Reason      string          `json:"reason,omitempty"`
}

// jsonResult returns a result as JSON: a result that is not valid JSON is
// answered as a JSON string.
func jsonResult(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || json.Valid(raw) {
		return raw
	}
	b, _ := json.Marshal(string(raw))
	return b
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// validateJob checks a job about to be stored: command jobs need
// AllowCommandJobs, then job.ValidateJob (defaults and config), the owner,
// and that a group's members are jobs of the workspace.
func (s *Server) validateJob(ctx context.Context, j *hookd.Job) error {
	if j.Kind == hookd.JobCommand && !s.allowCommand {
		return errCommandJobs
	}
	if isNull(j.Config) {
		j.Config = nil
	}
	if len(j.Config) == 0 {
		return hookd.FieldErrorf("config", "is required")
	}
	if err := job.ValidateJob(j); err != nil {
		return err
	}
	if msg := checkText(j.OwnerID, maxOwnerID); msg != "" {
		return hookd.FieldErrorf("owner_id", "%s", msg)
	}
	if j.Kind != hookd.JobGroup {
		return nil
	}
	cfg, err := job.DecodeConfig(j.Kind, j.Config)
	if err != nil {
		return err
	}
	g, _ := cfg.(job.GroupConfig)
	for i, m := range g.Jobs {
		var err error
		if strings.HasPrefix(m, hookd.PrefixJob) {
			_, err = s.in.JobGet(ctx, j.WorkspaceID, m)
		} else {
			_, err = s.in.JobGetByName(ctx, j.WorkspaceID, m)
		}
		if hookd.IsNotFound(err) {
			return hookd.FieldErrorf("config.jobs", "member %d: no job %q in this workspace", i, m)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) handleJobCreate(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req jobCreateRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	now := s.now().UTC()
	j := &hookd.Job{
		ID:             hookd.NewIDAt(hookd.PrefixJob, now),
		WorkspaceID:    key.WorkspaceID,
		Name:           req.Name,
		Kind:           req.Kind,
		Config:         req.Config,
		Concurrency:    req.Concurrency,
		TimeoutSeconds: req.TimeoutSeconds,
		Schedule:       req.Schedule,
		OwnerID:        req.OwnerID,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if err := s.validateJob(r.Context(), j); err != nil {
		return err
	}
	if err := s.in.JobCreate(r.Context(), j); err != nil {
		return err
	}
	if j.Schedule != nil && s.jobs != nil {
		s.jobs.Wake()
	}
	s.writeJSON(w, r, http.StatusCreated, j)
	return nil
}

func (s *Server) handleJobList(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f := hookd.JobFilter{WorkspaceID: key.WorkspaceID, OwnerID: r.URL.Query().Get("owner_id"), Page: p}
	jobs, total, err := s.in.JobList(r.Context(), f)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, newList(jobs, total, p))
	return nil
}

func (s *Server) handleJobGet(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	j, err := s.in.JobGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, j)
	return nil
}

// errFromConfig refuses changes to jobs declared in the config file.
func errFromConfig(j *hookd.Job) error {
	return hookd.Errorf(hookd.EConflict, "job %q is declared in the config file; change it there", j.Name)
}

func (s *Server) handleJobUpdate(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	var req jobUpdateRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	j, err := s.in.JobGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if j.FromConfig {
		return errFromConfig(j)
	}
	set(&j.Name, req.Name)
	set(&j.Kind, req.Kind)
	set(&j.Concurrency, req.Concurrency)
	set(&j.TimeoutSeconds, req.TimeoutSeconds)
	set(&j.OwnerID, req.OwnerID)
	if req.Config != nil {
		j.Config = req.Config
	}
	if req.Schedule != nil {
		if isNull(req.Schedule) {
			j.Schedule = nil
		} else {
			var sc hookd.Schedule
			if err := decodeStrict(req.Schedule, &sc); err != nil {
				return hookd.FieldErrorf("schedule", "must be {\"every\": \"1h\"} or {\"cron\": \"0 6 * * *\"}")
			}
			j.Schedule = &sc
		}
	}
	if err := s.validateJob(r.Context(), j); err != nil {
		return err
	}
	j.UpdatedAt = s.now().UTC()
	if err := s.in.JobUpdate(r.Context(), j); err != nil {
		return err
	}
	if req.Schedule != nil && s.jobs != nil {
		s.jobs.Wake()
	}
	s.writeJSON(w, r, http.StatusOK, j)
	return nil
}

// handleJobDelete deletes a job with its triggers; its queued executions
// become canceled (the store does both).
func (s *Server) handleJobDelete(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	j, err := s.in.JobGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if j.FromConfig {
		return errFromConfig(j)
	}
	if err := s.in.JobDelete(r.Context(), key.WorkspaceID, j.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleJobRun queues an execution with the body's input ({} by default)
// and wakes the engine. With ?wait=N (0–300) it waits up to N seconds for
// the outcome, on a context detached from the request: a client hanging up
// never cancels the run. Answers as a sync trigger does: 200 succeeded with
// result, 500 failed or canceled with reason, 202 queued or still running.
func (s *Server) handleJobRun(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	wait := 0
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxWaitSeconds {
			return hookd.FieldErrorf("wait", "must be an integer from 0 to %d", maxWaitSeconds)
		}
		wait = n
	}
	var req jobRunRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	if len(req.Input) == 0 || isNull(req.Input) {
		req.Input = json.RawMessage("{}")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, req.Input); err != nil {
		return hookd.FieldErrorf("input", "must be JSON")
	}
	j, err := s.in.JobGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	x := &hookd.Execution{
		ID:          hookd.NewIDAt(hookd.PrefixExecution, now),
		WorkspaceID: key.WorkspaceID,
		JobID:       j.ID,
		Source:      hookd.SourceAPI,
		Status:      hookd.ExecQueued,
		Input:       compact.Bytes(),
		CreatedAt:   now,
		RunAt:       now,
	}
	if err := s.in.ExecutionCreate(r.Context(), x); err != nil {
		return err
	}
	if s.jobs == nil {
		s.writeJSON(w, r, http.StatusAccepted, runAnswer{Success: true, ExecutionID: x.ID, Status: x.Status})
		return nil
	}
	s.jobs.Wake()
	if wait > 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(wait)*time.Second)
		got, err := s.jobs.Wait(ctx, key.WorkspaceID, x.ID)
		cancel()
		switch {
		case err != nil:
			// Queued and committed: answer that rather than an error the
			// caller would retry into a second run.
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "job run wait failed",
				slog.String("execution_id", x.ID), slog.String("error", err.Error()))
		case got != nil:
			x = got
		}
	}
	switch x.Status {
	case hookd.ExecSucceeded:
		s.writeJSON(w, r, http.StatusOK, runAnswer{Success: true, ExecutionID: x.ID, Status: x.Status, Result: jsonResult(x.Result)})
	case hookd.ExecFailed, hookd.ExecCanceled:
		s.writeJSON(w, r, http.StatusInternalServerError, runAnswer{ExecutionID: x.ID, Status: x.Status, Reason: x.Reason})
	default:
		s.writeJSON(w, r, http.StatusAccepted, runAnswer{Success: true, ExecutionID: x.ID, Status: x.Status})
	}
	return nil
}

var (
	execStatuses = []string{hookd.ExecQueued, hookd.ExecRunning, hookd.ExecSucceeded, hookd.ExecFailed, hookd.ExecCanceled}
	execSources  = []string{hookd.SourceWebhook, hookd.SourceSchedule, hookd.SourceAPI, hookd.SourceRetry}
)

func (s *Server) handleExecutionList(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := hookd.ExecutionFilter{WorkspaceID: key.WorkspaceID, JobID: q.Get("job_id"), TriggerID: q.Get("trigger_id"),
		Status: q.Get("status"), Source: q.Get("source"), Page: p}
	var fe fieldErrors
	if f.Status != "" && !slices.Contains(execStatuses, f.Status) {
		fe.add("status", "must be one of "+strings.Join(execStatuses, ", "))
	}
	if f.Source != "" && !slices.Contains(execSources, f.Source) {
		fe.add("source", "must be one of "+strings.Join(execSources, ", "))
	}
	if err := fe.err(); err != nil {
		return err
	}
	xs, total, err := s.in.ExecutionList(r.Context(), f)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, newList(xs, total, p))
	return nil
}

func (s *Server) handleExecutionGet(w http.ResponseWriter, r *http.Request, key *hookd.APIKey) error {
	x, err := s.in.ExecutionGet(r.Context(), key.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, x)
	return nil
}
