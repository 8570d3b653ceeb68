-- hookd schema, SQLite dialect (PostgreSQL has its own folder).
--
-- Conventions:
--   * Every table carries workspace_id and every secondary index leads with it,
--     so that the schema can later be distributed by workspace without a
--     redesign (DESIGN §6). Exceptions, each because the lookup happens before
--     the workspace is known or spans every workspace by nature:
--       - primary keys on id (ids are globally unique KSUIDs; the delivery
--         engine reads webhooks and deliveries by id alone);
--       - workspaces.name (the workspace directory itself) and api_keys.hash
--         (authentication finds the key, and with it the workspace);
--       - deliveries_due, the queue's due-time index: the delivery engine
--         claims the oldest due work of ALL workspaces in one ordered scan;
--         leading with workspace_id would turn every claim into one probe per
--         workspace and break global oldest-first fairness.
--   * Times are INTEGER unix microseconds, UTC.
--   * Secrets are AES-GCM sealed BLOBs, never plaintext.
--   * Foreign keys are declared only on the cold tables (api_keys, webhooks);
--     the hot tables (events, deliveries, attempts) skip them because each
--     check is an extra b-tree probe per inserted row; the store keeps those
--     references consistent itself (deliveries outlive their webhook on
--     purpose: they stay readable by id after the webhook is deleted).

-- +goose Up
CREATE TABLE workspaces (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL DEFAULT '',
    scopes       TEXT NOT NULL DEFAULT '[]', -- JSON array
    operator     INTEGER NOT NULL DEFAULT 0,
    hash         BLOB NOT NULL UNIQUE,       -- SHA-256 of the secret
    created      INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, created);

CREATE TABLE webhooks (
    id                         TEXT PRIMARY KEY,
    workspace_id               TEXT NOT NULL REFERENCES workspaces (id),
    url                        TEXT NOT NULL,
    events                     TEXT NOT NULL DEFAULT 'null', -- JSON array of patterns
    filters                    TEXT NOT NULL DEFAULT 'null', -- JSON object
    owner_id                   TEXT NOT NULL DEFAULT '',
    description                TEXT NOT NULL DEFAULT '',
    max_attempts               INTEGER NOT NULL,
    rate_limit_per_second      INTEGER NOT NULL DEFAULT 0,
    headers                    TEXT NOT NULL DEFAULT 'null', -- JSON object
    active                     INTEGER NOT NULL DEFAULT 1,
    secret                     BLOB NOT NULL,                -- sealed
    previous_secret            BLOB,                         -- sealed
    previous_secret_expires_at INTEGER,
    created                    INTEGER NOT NULL,
    updated                    INTEGER NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, active, owner_id);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    type            TEXT NOT NULL,
    data            TEXT NOT NULL, -- JSON object
    owner_id        TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT '',
    created         INTEGER NOT NULL,
    -- JSON array of the deliveries made at publish (fixed from then on):
    -- reading them here spares every delivery row an (event_id) index entry.
    delivery_ids    TEXT NOT NULL DEFAULT '[]'
);
CREATE UNIQUE INDEX events_idempotency ON events (workspace_id, idempotency_key)
    WHERE idempotency_key <> '';

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    webhook_id       TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,  -- copied from the event, for filtering
    status           TEXT NOT NULL,  -- pending|processing|delivered|failed|dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    auto_attempts    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,        -- due time while pending
    lease_until      INTEGER,        -- while processing
    lease_owner      TEXT,
    manual           INTEGER NOT NULL DEFAULT 0, -- the next attempt was asked for through the API
    paused           INTEGER NOT NULL DEFAULT 0, -- the webhook is inactive: hold while pending
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created          INTEGER NOT NULL,
    updated          INTEGER NOT NULL,
    delivered_at     INTEGER
);
-- Each delivery row is written three times on its way (published pending,
-- claimed processing, completed), so its indexes are partial where they can
-- be: a row enters and leaves each one at most once per attempt, and a
-- delivered row sits only in deliveries_list (and the id key).
--
-- The claim queue (global on purpose, see above): only claimable rows, in due
-- order, covering webhook_id so that skipping excluded or saturated webhooks
-- never touches the table.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, webhook_id)
    WHERE status = 'pending' AND paused = 0;
-- In-flight rows only (bounded by the workers' concurrency), so reaping scans
-- this whole small index whatever it leads with; a webhook's in-flight count.
CREATE INDEX deliveries_lease ON deliveries (workspace_id, webhook_id, lease_until)
    WHERE status = 'processing';
-- A webhook's pending rows, held or not, in due order: the claim's fallback
-- (a webhook's oldest due rows, index-only), holding, releasing and killing a
-- webhook's pending rows, pending counts.
CREATE INDEX deliveries_pending ON deliveries (workspace_id, webhook_id, paused, next_attempt_at)
    WHERE status = 'pending';
-- Rows that ended without success (written once, unless retried by hand):
-- failed and dead counts.
CREATE INDEX deliveries_ended ON deliveries (workspace_id, webhook_id, status)
    WHERE status IN ('failed', 'dead');
-- Newest-first lists of a webhook's deliveries; total counts (delivered ones
-- are counted as the total less the other states).
CREATE INDEX deliveries_list ON deliveries (workspace_id, webhook_id, created);

CREATE TABLE attempts (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    delivery_id   TEXT NOT NULL,
    number        INTEGER NOT NULL,
    manual        INTEGER NOT NULL DEFAULT 0,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    status_code   INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    response_body TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attempts_delivery ON attempts (workspace_id, delivery_id, number);

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE webhooks;
DROP TABLE api_keys;
DROP TABLE workspaces;
