package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/job"
	"github.com/hookd/hookd/internal/trigger"
)

// fullStore is what `hookd serve` needs of a database.
type fullStore interface {
	hookd.Store
	hookd.InboundStore
}

// applyConfigFile creates or updates the jobs and triggers the config file
// declares, so operators can keep their hooks in git. Jobs are matched by
// name, triggers by their token (taken from the environment variable the file
// names); both are marked as coming from the file. Any invalid entry stops the
// start with an error naming it.
func applyConfigFile(ctx context.Context, st fullStore, f *config.File, getenv func(string) string, log *slog.Logger) error {
	if f == nil {
		return nil
	}
	now := time.Now().UTC()
	wsIDs := map[string]string{}
	workspace := func(name string) (string, error) {
		if name == "" {
			name = "default"
		}
		if id, ok := wsIDs[name]; ok {
			return id, nil
		}
		ws, err := st.WorkspaceGetByName(ctx, name)
		if err != nil {
			return "", fmt.Errorf("workspace %q: %w", name, err)
		}
		wsIDs[name] = ws.ID
		return ws.ID, nil
	}
	jobIDs := map[string]string{} // workspace/name → id
	for i, fj := range f.Jobs {
		where := fmt.Sprintf("config file: jobs[%d] (%s)", i, fj.Name)
		wsID, err := workspace(fj.Workspace)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		cfg, err := json.Marshal(fj.Config)
		if err != nil {
			return fmt.Errorf("%s: config: %w", where, err)
		}
		j := &hookd.Job{
			WorkspaceID: wsID, Name: fj.Name, Kind: fj.Kind, Config: cfg, Concurrency: fj.Concurrency,
			TimeoutSeconds: fj.TimeoutSeconds, OwnerID: fj.OwnerID, FromConfig: true,
		}
		if fj.Schedule != nil {
			j.Schedule = &hookd.Schedule{}
			if v, ok := fj.Schedule["every"]; ok {
				j.Schedule.Every = fmt.Sprint(v)
			}
			if v, ok := fj.Schedule["cron"]; ok {
				j.Schedule.Cron = fmt.Sprint(v)
			}
		}
		if err := job.ValidateJob(j); err != nil {
			return fmt.Errorf("%s: %s", where, hookd.ErrorMessage(err))
		}
		old, err := st.JobGetByName(ctx, wsID, fj.Name)
		switch {
		case err == nil:
			j.ID, j.CreatedAt, j.LastRunAt, j.UpdatedAt = old.ID, old.CreatedAt, old.LastRunAt, now
			if err := st.JobUpdate(ctx, j); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		case hookd.IsNotFound(err):
			j.ID, j.CreatedAt, j.UpdatedAt = hookd.NewID(hookd.PrefixJob), now, now
			if err := st.JobCreate(ctx, j); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		default:
			return fmt.Errorf("%s: %w", where, err)
		}
		jobIDs[wsID+"/"+fj.Name] = j.ID
		log.Info("config file job applied", "job_id", j.ID, "name", j.Name, "kind", j.Kind)
	}
	for i, ft := range f.Triggers {
		where := fmt.Sprintf("config file: triggers[%d] (%s)", i, ft.Name)
		wsID, err := workspace(ft.Workspace)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		jobID, ok := jobIDs[wsID+"/"+ft.Job]
		if !ok {
			j, err := st.JobGetByName(ctx, wsID, ft.Job)
			if err != nil {
				return fmt.Errorf("%s: job %q: %s", where, ft.Job, hookd.ErrorMessage(err))
			}
			jobID = j.ID
		}
		if ft.TokenEnv == "" {
			return fmt.Errorf("%s: token_env is required (the token stays out of the file)", where)
		}
		token := getenv(ft.TokenEnv)
		if !trigger.ValidToken(token) {
			return fmt.Errorf("%s: environment variable %s must hold a trigger token (wht_ and 43 base64url characters: make one with `hookd token`)", where, ft.TokenEnv)
		}
		t := &hookd.Trigger{
			WorkspaceID: wsID, JobID: jobID, OwnerID: ft.OwnerID, Name: ft.Name, TokenPrefix: token[:8], IsActive: true,
			Signature: ft.Signature, Methods: ft.Methods, Mode: ft.Mode, WaitSeconds: ft.WaitSeconds,
			RateLimitPerMinute: ft.RateLimitPerMinute, CooldownSeconds: ft.CooldownSeconds, CooldownMode: ft.CooldownMode,
			DedupHeader: ft.DedupHeader, InputMapping: ft.InputMapping, TokenHash: hookd.HashToken(token), CreatedByID: "config",
		}
		if ft.SecretEnv != "" {
			t.Secret = getenv(ft.SecretEnv)
			if t.Secret == "" {
				return fmt.Errorf("%s: environment variable %s is empty", where, ft.SecretEnv)
			}
			t.HasSecret = true
		}
		if err := api.PrepareTrigger(t); err != nil {
			return fmt.Errorf("%s: %s", where, hookd.ErrorMessage(err))
		}
		old, err := st.TriggerGetByTokenHash(ctx, t.TokenHash, now)
		switch {
		case err == nil:
			t.ID, t.CreatedAt, t.LastUsedAt, t.UpdatedAt = old.ID, old.CreatedAt, old.LastUsedAt, now
			if err := st.TriggerUpdate(ctx, t); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		case hookd.IsNotFound(err):
			t.ID, t.CreatedAt, t.UpdatedAt = hookd.NewID(hookd.PrefixTrigger), now, now
			if err := st.TriggerCreate(ctx, t); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		default:
			return fmt.Errorf("%s: %w", where, err)
		}
		log.Info("config file trigger applied", "trigger_id", t.ID, "name", t.Name, "token_prefix", t.TokenPrefix)
	}
	return nil
}
