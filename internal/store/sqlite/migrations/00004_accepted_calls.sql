-- An accepted trigger call is kept on its execution instead of in a calls
-- row of its own: every accepted call makes exactly one new execution, so
-- the call log's accepted entries are those executions (CallList reads both
-- tables). This spares the one writer a row and three b-tree entries (the
-- table, its id index, calls_list) per accepted call. calls keeps the other
-- dispositions, and the accepted calls recorded before this migration.
--   call_method: the call's HTTP method; NULL for runs no call accepted
--                (schedules, manual runs, trailing runs of a cooldown)
--   call_ip:     the client's IP as the call log shows it
-- CallList reads a trigger's accepted calls through executions_trigger, in
-- its order (newest first, then by rowid), looking at call_method in each
-- row. The call's id is the execution's with the call prefix (call_ and the
-- same KSUID).

-- +goose Up
ALTER TABLE executions ADD COLUMN call_method TEXT;
ALTER TABLE executions ADD COLUMN call_ip TEXT;

-- +goose Down
INSERT INTO calls (id, workspace_id, trigger_id, disposition, execution_id, ip, method, status_code, detail, created)
    SELECT 'call_' || substr(id, 5), workspace_id, trigger_id, 'accepted', id, COALESCE(call_ip, ''), call_method, 202, '', created
    FROM executions WHERE call_method IS NOT NULL;
ALTER TABLE executions DROP COLUMN call_ip;
ALTER TABLE executions DROP COLUMN call_method;
