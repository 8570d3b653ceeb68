-- Leaner indexes on the two tables every accepted trigger call writes a row
-- to. The status and disposition filters exist to find the few interesting
-- rows (failed or running runs, refused calls) among many: those rows stay
-- indexed, the common ones (succeeded runs, accepted calls) no longer cost
-- an index entry each. Filtering on the common value reads the list index
-- instead, where those rows are most of what it holds. The list queries add
-- the partial predicate so the planner can use these indexes.

-- +goose Up
DROP INDEX executions_status;
CREATE INDEX executions_status ON executions (workspace_id, status, created) WHERE status <> 'succeeded';
DROP INDEX calls_disposition;
CREATE INDEX calls_disposition ON calls (workspace_id, trigger_id, disposition, created) WHERE disposition <> 'accepted';

-- +goose Down
DROP INDEX calls_disposition;
CREATE INDEX calls_disposition ON calls (workspace_id, trigger_id, disposition, created);
DROP INDEX executions_status;
CREATE INDEX executions_status ON executions (workspace_id, status, created);
