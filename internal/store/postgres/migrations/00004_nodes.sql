-- Cluster membership (hookd.Membership, members.go): one row per node,
-- renewed every second. Nodes count the fresh rows to take their share of
-- each webhook's concurrency cap. Cluster bookkeeping, not workspace data:
-- like rate_buckets it has no workspace_id to lead with.

-- +goose Up
CREATE TABLE nodes (
    id      text PRIMARY KEY,
    seen_at timestamptz NOT NULL, -- last renewal (the database's clock)
    nodes   integer NOT NULL,     -- live nodes this node counted at its last renewal
    fits    boolean NOT NULL      -- its deliveries in flight fit in its share of that many
);

-- +goose Down
DROP TABLE nodes;
