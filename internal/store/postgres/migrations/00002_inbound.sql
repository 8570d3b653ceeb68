-- Inbound side: jobs, triggers, the call log, dedup keys, cooldown windows
-- and executions. PostgreSQL dialect; the conventions of 00001_init.sql hold.
--
-- Exceptions to "every index leads with workspace_id", each because the
-- lookup happens before the workspace is known or spans every workspace by
-- nature:
--   - triggers.token_hash and triggers_previous_token: a call to a trigger
--     URL finds the trigger (and with it the workspace) by its token's hash;
--   - executions_queue: the job engines claim the oldest runnable executions
--     of ALL workspaces in one ordered scan (like deliveries_due), and
--     ExecutionsNextRunAt reads its first entry.
-- Foreign keys only on the cold tables (jobs, triggers); calls, dedup rows,
-- cooldown windows and executions are kept consistent by the store
-- (executions outlive their job on purpose: they stay readable by id).
--
-- seq columns (identity) break ties between rows stamped the same instant:
-- lists newest first and the claim queue in the order rows were inserted
-- (KSUIDs order only to the second).
--
-- Concurrency across nodes (READ COMMITTED everywhere):
--   - CallAccept locks the trigger row (its UPDATE of last_used_at) first,
--     so calls to one trigger are serialised whichever node they land on,
--     and each later statement sees the previous call's commit (dedup key,
--     cooldown window, trailing run);
--   - ExecutionsClaim locks the rows of the jobs it starts runs of
--     (FOR NO KEY UPDATE SKIP LOCKED) before counting their running
--     executions, so no job exceeds its concurrency across nodes;
--   - executions_period (unique) makes a schedule period run once
--     cluster-wide.

-- +goose Up
CREATE TABLE jobs (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL REFERENCES workspaces (id),
    name            text NOT NULL,
    kind            text NOT NULL,
    config          json NOT NULL DEFAULT 'null', -- the bytes given
    concurrency     integer NOT NULL DEFAULT 1,
    timeout_seconds integer NOT NULL DEFAULT 600,
    schedule        jsonb,                        -- {"every"|"cron"}; NULL = none
    owner_id        text NOT NULL DEFAULT '',
    from_config     boolean NOT NULL DEFAULT false,
    last_run_at     timestamptz,                  -- last claim of any source
    created         timestamptz NOT NULL,
    updated         timestamptz NOT NULL,
    seq             bigint GENERATED ALWAYS AS IDENTITY
);
CREATE UNIQUE INDEX jobs_name ON jobs (workspace_id, name);
CREATE INDEX jobs_list ON jobs (workspace_id, owner_id, created);
CREATE INDEX jobs_scheduled ON jobs (workspace_id, id) WHERE schedule IS NOT NULL;

CREATE TABLE triggers (
    id                         text PRIMARY KEY,
    workspace_id               text NOT NULL REFERENCES workspaces (id),
    job_id                     text NOT NULL REFERENCES jobs (id),
    owner_id                   text NOT NULL DEFAULT '',
    name                       text NOT NULL DEFAULT '',
    token_prefix               text NOT NULL DEFAULT '',
    is_active                  boolean NOT NULL DEFAULT true,
    signature                  text NOT NULL DEFAULT '',
    methods                    jsonb NOT NULL DEFAULT 'null', -- array
    mode                       text NOT NULL DEFAULT '',
    wait_seconds               integer NOT NULL DEFAULT 0,
    rate_limit_per_minute      integer NOT NULL DEFAULT 0,
    cooldown_seconds           integer NOT NULL DEFAULT 0,
    cooldown_mode              text NOT NULL DEFAULT '',
    dedup_header               text NOT NULL DEFAULT '',
    input_mapping              jsonb NOT NULL DEFAULT 'null', -- object
    last_used_at               timestamptz,
    created_by_id              text NOT NULL DEFAULT '',
    token_hash                 bytea NOT NULL UNIQUE,         -- SHA-256 of the token
    previous_token_hash        bytea,
    previous_token_expires_at  timestamptz,
    secret                     bytea,                         -- sealed; NULL = no secret
    previous_secret            bytea,                         -- sealed
    previous_secret_expires_at timestamptz,
    created                    timestamptz NOT NULL,
    updated                    timestamptz NOT NULL,
    seq                        bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX triggers_previous_token ON triggers (previous_token_hash)
    WHERE previous_token_hash IS NOT NULL;
CREATE INDEX triggers_list ON triggers (workspace_id, created);
CREATE INDEX triggers_job ON triggers (workspace_id, job_id);

-- One cooldown window per trigger: at most one run starts per window; the
-- trailing run (coalesce mode) starts at window_end and opens the next one.
CREATE TABLE trigger_cooldowns (
    trigger_id            text PRIMARY KEY,
    workspace_id          text NOT NULL,
    window_end            timestamptz NOT NULL,
    leading_execution_id  text,
    trailing_execution_id text
);

-- Dedup keys seen in the last 24 h, per trigger. Older rows are purged per
-- trigger by CallAccept (and with the trigger).
CREATE TABLE trigger_dedup (
    workspace_id text NOT NULL,
    trigger_id   text NOT NULL,
    key          text NOT NULL,
    execution_id text NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, trigger_id, key)
);
CREATE INDEX trigger_dedup_age ON trigger_dedup (workspace_id, trigger_id, created_at);

CREATE TABLE calls (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL DEFAULT '', -- '' for calls with an unknown token
    trigger_id   text NOT NULL DEFAULT '',
    disposition  text NOT NULL,
    execution_id text NOT NULL DEFAULT '',
    ip           text NOT NULL DEFAULT '',
    method       text NOT NULL DEFAULT '',
    status_code  integer NOT NULL DEFAULT 0,
    detail       text NOT NULL DEFAULT '',
    created      timestamptz NOT NULL,
    seq          bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX calls_list ON calls (workspace_id, trigger_id, created, seq);
CREATE INDEX calls_disposition ON calls (workspace_id, trigger_id, disposition, created, seq);

CREATE TABLE executions (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL,
    job_id       text NOT NULL,
    trigger_id   text NOT NULL DEFAULT '',
    source       text NOT NULL,
    status       text NOT NULL, -- queued|running|succeeded|failed|canceled
    input        json NOT NULL DEFAULT 'null', -- the bytes given
    result       json,
    reason       text NOT NULL DEFAULT '',
    created      timestamptz NOT NULL,
    run_at       timestamptz NOT NULL,
    period       timestamptz,   -- schedule period of a scheduled run
    started_at   timestamptz,
    finished_at  timestamptz,
    duration_ms  bigint NOT NULL DEFAULT 0,
    lease_until  timestamptz,   -- while running
    lease_owner  text,
    seq          bigint GENERATED ALWAYS AS IDENTITY
);
-- The claim queue (global on purpose, see above): queued rows only, in run
-- order and then insertion order.
CREATE INDEX executions_queue ON executions (run_at, seq) WHERE status = 'queued';
-- One job's queued runs in run order (the claim's per-job fetch).
CREATE INDEX executions_job_queue ON executions (workspace_id, job_id, run_at, seq)
    WHERE status = 'queued';
-- Running rows only (bounded by the engines' workers): per-job running
-- counts for the claim.
CREATE INDEX executions_running ON executions (workspace_id, job_id)
    WHERE status = 'running';
-- Expired leases for ExecutionsInterrupt (every workspace).
CREATE INDEX executions_lease ON executions (workspace_id, lease_until)
    WHERE status = 'running';
-- One run per job and schedule period, cluster-wide.
CREATE UNIQUE INDEX executions_period ON executions (workspace_id, job_id, period)
    WHERE period IS NOT NULL;
-- Newest-first lists, by job, trigger or status.
CREATE INDEX executions_list ON executions (workspace_id, created, seq);
CREATE INDEX executions_job ON executions (workspace_id, job_id, created, seq);
CREATE INDEX executions_trigger ON executions (workspace_id, trigger_id, created, seq);
CREATE INDEX executions_status ON executions (workspace_id, status, created, seq);

-- +goose Down
DROP TABLE executions;
DROP TABLE calls;
DROP TABLE trigger_dedup;
DROP TABLE trigger_cooldowns;
DROP TABLE triggers;
DROP TABLE jobs;
