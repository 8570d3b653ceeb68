-- hookd schema, PostgreSQL dialect (SQLite has its own folder; both stores
-- pass the same suite, internal/store/storetest).
--
-- Conventions:
--   * Every table carries workspace_id and every secondary index leads with it,
--     so that the schema can later be distributed by workspace (Citus, or one
--     database per group of workspaces) without a redesign (DESIGN §6).
--     Exceptions, each because the lookup happens before the workspace is
--     known or spans every workspace by nature:
--       - primary keys on id (ids are globally unique KSUIDs; the delivery
--         engine reads webhooks and deliveries by id alone);
--       - workspaces.name (the workspace directory itself) and api_keys.hash
--         (authentication finds the key, and with it the workspace);
--       - deliveries_due, the queue's due-time index: the delivery engine
--         claims the oldest due work of ALL workspaces in one ordered scan;
--         leading with workspace_id would turn every claim into one probe per
--         workspace and break global oldest-first fairness.
--   * Times are timestamptz (microseconds, UTC in and out).
--   * Secrets are AES-GCM sealed bytea, never plaintext.
--   * events.data is json, not jsonb: the bytes a publisher sent are the bytes
--     delivered (jsonb would reorder keys and respace). The webhooks' JSON
--     columns are only decoded by the store, so they are jsonb.
--   * Foreign keys are declared only on the cold tables (api_keys, webhooks);
--     the hot tables (events, deliveries, attempts) skip them because each
--     check is an extra index probe and a row lock per inserted row; the store
--     keeps those references consistent itself (deliveries outlive their
--     webhook on purpose: they stay readable by id after it is deleted).
--   * Ties in creation order are broken by id: delivery ids of one event are
--     generated sorted, so ORDER BY id is their insertion order.

-- +goose Up
CREATE TABLE workspaces (
    id      text PRIMARY KEY,
    name    text NOT NULL UNIQUE,
    created timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id),
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL DEFAULT '',
    scopes       jsonb NOT NULL DEFAULT '[]',
    operator     boolean NOT NULL DEFAULT false,
    hash         bytea NOT NULL UNIQUE, -- SHA-256 of the secret
    created      timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, created);

CREATE TABLE webhooks (
    id                         text PRIMARY KEY,
    workspace_id               text NOT NULL REFERENCES workspaces (id),
    url                        text NOT NULL,
    events                     jsonb NOT NULL DEFAULT 'null', -- array of patterns
    filters                    jsonb NOT NULL DEFAULT 'null', -- object
    owner_id                   text NOT NULL DEFAULT '',
    description                text NOT NULL DEFAULT '',
    max_attempts               integer NOT NULL,
    rate_limit_per_second      integer NOT NULL DEFAULT 0,
    headers                    jsonb NOT NULL DEFAULT 'null', -- object
    active                     boolean NOT NULL DEFAULT true,
    secret                     bytea NOT NULL,                -- sealed
    previous_secret            bytea,                         -- sealed
    previous_secret_expires_at timestamptz,
    created                    timestamptz NOT NULL,
    updated                    timestamptz NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, active, owner_id);

CREATE TABLE events (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL,
    type            text NOT NULL,
    data            json NOT NULL,
    owner_id        text NOT NULL DEFAULT '',
    idempotency_key text NOT NULL DEFAULT '',
    created         timestamptz NOT NULL
);
-- Publishing with a used key inserts nothing (ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX events_idempotency ON events (workspace_id, idempotency_key)
    WHERE idempotency_key <> '';

CREATE TABLE deliveries (
    id               text PRIMARY KEY,
    workspace_id     text NOT NULL,
    webhook_id       text NOT NULL,
    event_id         text NOT NULL,
    event_type       text NOT NULL,  -- copied from the event, for filtering
    status           text NOT NULL,  -- pending|processing|delivered|failed|dead
    attempts         integer NOT NULL DEFAULT 0,
    auto_attempts    integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,    -- due time while pending
    lease_until      timestamptz,    -- while processing
    lease_owner      text,
    manual           boolean NOT NULL DEFAULT false, -- the next attempt was asked for through the API
    paused           boolean NOT NULL DEFAULT false, -- the webhook is inactive: hold while pending
    last_status_code integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    created          timestamptz NOT NULL,
    updated          timestamptz NOT NULL,
    delivered_at     timestamptz
);
-- The claim queue (global on purpose, see above): only claimable rows, in the
-- claim's order.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) INCLUDE (webhook_id)
    WHERE status = 'pending' AND NOT paused;
-- In-flight rows only (bounded by the workers' concurrency), so reaping scans
-- this whole small index whatever it leads with.
CREATE INDEX deliveries_lease ON deliveries (workspace_id, lease_until)
    WHERE status = 'processing';
-- Summary counts, status-filtered lists, per-webhook due work (the claim's
-- fallback), holding/releasing/killing a webhook's pending rows.
CREATE INDEX deliveries_state ON deliveries (workspace_id, webhook_id, status, paused, next_attempt_at, id);
-- Newest-first lists of a webhook's deliveries.
CREATE INDEX deliveries_list ON deliveries (workspace_id, webhook_id, created);
-- An event's deliveries.
CREATE INDEX deliveries_event ON deliveries (workspace_id, event_id);

CREATE TABLE attempts (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    delivery_id   text NOT NULL,
    number        integer NOT NULL,
    manual        boolean NOT NULL DEFAULT false,
    started_at    timestamptz NOT NULL,
    duration_ms   bigint NOT NULL DEFAULT 0,
    status_code   integer NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    response_body text NOT NULL DEFAULT ''
);
CREATE INDEX attempts_delivery ON attempts (workspace_id, delivery_id, number);

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE webhooks;
DROP TABLE api_keys;
DROP TABLE workspaces;
