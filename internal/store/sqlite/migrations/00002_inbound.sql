-- Inbound side: jobs, triggers, the call log, dedup keys, cooldown windows
-- and executions. SQLite dialect; the conventions of 00001_init.sql hold.
--
-- Exceptions to "every index leads with workspace_id", each because the
-- lookup happens before the workspace is known or spans every workspace by
-- nature:
--   - triggers.token_hash and triggers_previous_token: a call to a trigger
--     URL finds the trigger (and with it the workspace) by its token's hash;
--   - executions_queue: the job engine claims the oldest runnable executions
--     of ALL workspaces in one ordered scan (like deliveries_due), and
--     ExecutionsNextRunAt reads its first entry.
-- Foreign keys only on the cold tables (jobs, triggers); calls, dedup rows,
-- cooldown windows and executions are kept consistent by the store
-- (executions outlive their job on purpose: they stay readable by id).

-- +goose Up
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    config          TEXT NOT NULL DEFAULT 'null', -- JSON
    concurrency     INTEGER NOT NULL DEFAULT 1,
    timeout_seconds INTEGER NOT NULL DEFAULT 600,
    schedule        TEXT,                         -- JSON {"every"|"cron"}; NULL = none
    owner_id        TEXT NOT NULL DEFAULT '',
    from_config     INTEGER NOT NULL DEFAULT 0,
    last_run_at     INTEGER,                      -- last claim of any source
    created         INTEGER NOT NULL,
    updated         INTEGER NOT NULL
);
CREATE UNIQUE INDEX jobs_name ON jobs (workspace_id, name);
CREATE INDEX jobs_list ON jobs (workspace_id, owner_id, created);
-- Only scheduled jobs: JobsScheduled reads this whole (small) index.
CREATE INDEX jobs_scheduled ON jobs (workspace_id, id) WHERE schedule IS NOT NULL;

CREATE TABLE triggers (
    id                         TEXT PRIMARY KEY,
    workspace_id               TEXT NOT NULL REFERENCES workspaces (id),
    job_id                     TEXT NOT NULL REFERENCES jobs (id),
    owner_id                   TEXT NOT NULL DEFAULT '',
    name                       TEXT NOT NULL DEFAULT '',
    token_prefix               TEXT NOT NULL DEFAULT '',
    is_active                  INTEGER NOT NULL DEFAULT 1,
    signature                  TEXT NOT NULL DEFAULT '',
    methods                    TEXT NOT NULL DEFAULT 'null', -- JSON array
    mode                       TEXT NOT NULL DEFAULT '',
    wait_seconds               INTEGER NOT NULL DEFAULT 0,
    rate_limit_per_minute      INTEGER NOT NULL DEFAULT 0,
    cooldown_seconds           INTEGER NOT NULL DEFAULT 0,
    cooldown_mode              TEXT NOT NULL DEFAULT '',
    dedup_header               TEXT NOT NULL DEFAULT '',
    input_mapping              TEXT NOT NULL DEFAULT 'null', -- JSON object
    last_used_at               INTEGER,
    created_by_id              TEXT NOT NULL DEFAULT '',
    token_hash                 BLOB NOT NULL UNIQUE,         -- SHA-256 of the token
    previous_token_hash        BLOB,
    previous_token_expires_at  INTEGER,
    secret                     BLOB,                         -- sealed; NULL = no secret
    previous_secret            BLOB,                         -- sealed
    previous_secret_expires_at INTEGER,
    created                    INTEGER NOT NULL,
    updated                    INTEGER NOT NULL
);
CREATE INDEX triggers_previous_token ON triggers (previous_token_hash)
    WHERE previous_token_hash IS NOT NULL;
CREATE INDEX triggers_list ON triggers (workspace_id, created);
CREATE INDEX triggers_job ON triggers (workspace_id, job_id);

-- One cooldown window per trigger: at most one run starts per window; the
-- trailing run (coalesce mode) starts at window_end and opens the next one.
CREATE TABLE trigger_cooldowns (
    trigger_id            TEXT PRIMARY KEY,
    workspace_id          TEXT NOT NULL,
    window_end            INTEGER NOT NULL,
    leading_execution_id  TEXT,
    trailing_execution_id TEXT
);

-- Dedup keys seen in the last 24 h, per trigger. Rows older than that are
-- purged per trigger by CallAccept (and with the trigger).
CREATE TABLE trigger_dedup (
    workspace_id TEXT NOT NULL,
    trigger_id   TEXT NOT NULL,
    key          TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, trigger_id, key)
) WITHOUT ROWID;
CREATE INDEX trigger_dedup_age ON trigger_dedup (workspace_id, trigger_id, created_at);

CREATE TABLE calls (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL DEFAULT '', -- '' for calls with an unknown token
    trigger_id   TEXT NOT NULL DEFAULT '',
    disposition  TEXT NOT NULL,
    execution_id TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    method       TEXT NOT NULL DEFAULT '',
    status_code  INTEGER NOT NULL DEFAULT 0,
    detail       TEXT NOT NULL DEFAULT '',
    created      INTEGER NOT NULL
);
CREATE INDEX calls_list ON calls (workspace_id, trigger_id, created);
CREATE INDEX calls_disposition ON calls (workspace_id, trigger_id, disposition, created);

CREATE TABLE executions (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    trigger_id   TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL,
    status       TEXT NOT NULL, -- queued|running|succeeded|failed|canceled
    input        TEXT NOT NULL DEFAULT 'null', -- JSON
    result       TEXT,                         -- JSON
    reason       TEXT NOT NULL DEFAULT '',
    created      INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    period       INTEGER,       -- schedule period of a scheduled run
    started_at   INTEGER,
    finished_at  INTEGER,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER,       -- while running
    lease_owner  TEXT
);
-- The claim queue (global on purpose, see above): queued rows only, in run
-- order and then insertion order (the implicit rowid: KSUIDs order only to
-- the second, and runs of a job must start in the order they were queued).
CREATE INDEX executions_queue ON executions (run_at) WHERE status = 'queued';
-- One job's queued runs in run order: the claim's per-job fallback behind a
-- backlog of jobs at their concurrency.
CREATE INDEX executions_job_queue ON executions (workspace_id, job_id, run_at)
    WHERE status = 'queued';
-- Running rows only (bounded by the engines' workers): per-job running
-- counts for the claim, expired leases for ExecutionsInterrupt.
CREATE INDEX executions_running ON executions (workspace_id, job_id, lease_until)
    WHERE status = 'running';
-- One run per job and schedule period.
CREATE UNIQUE INDEX executions_period ON executions (workspace_id, job_id, period)
    WHERE period IS NOT NULL;
-- Newest-first lists, by job, trigger or status.
CREATE INDEX executions_list ON executions (workspace_id, created);
CREATE INDEX executions_job ON executions (workspace_id, job_id, created);
CREATE INDEX executions_trigger ON executions (workspace_id, trigger_id, created);
CREATE INDEX executions_status ON executions (workspace_id, status, created);

-- +goose Down
DROP TABLE executions;
DROP TABLE calls;
DROP TABLE trigger_dedup;
DROP TABLE trigger_cooldowns;
DROP TABLE triggers;
DROP TABLE jobs;
