-- What several nodes share beyond the queues: token buckets of the inbound
-- per-trigger, per-IP rate limits, and a count of each webhook's deliveries
-- in flight (ClaimParams.MaxPerWebhook).

-- +goose Up
-- One token bucket per key (trigger and client IP). UNLOGGED: no WAL, lost
-- (emptied) on a crash, which only refills every bucket. Rows idle for ten
-- minutes are full again and deleted by RateLimitAllow now and then; the key
-- names its trigger, so there is no workspace_id to lead with.
CREATE UNLOGGED TABLE rate_buckets (
    key        text PRIMARY KEY,
    tokens     float8 NOT NULL,      -- left after the last take
    taken      boolean NOT NULL,     -- whether the last take got a token
    updated_at timestamptz NOT NULL
);

-- A webhook's deliveries in flight, counted by claims with MaxPerWebhook.
CREATE INDEX deliveries_processing ON deliveries (workspace_id, webhook_id)
    WHERE status = 'processing';

-- +goose Down
DROP INDEX deliveries_processing;
DROP TABLE rate_buckets;
